//! User and group names from the local account files (`/etc/passwd`,
//! `/etc/group`), for `owner=` options and for showing who owns what.
//! Accounts only in a directory service (LDAP via NSS) show as numbers.

use std::collections::HashMap;
use std::sync::OnceLock;

use anyhow::{bail, Context};

/// One account file: name → id and id → name.
#[derive(Debug, Default)]
struct Names {
    by_name: HashMap<String, u32>,
    by_id: HashMap<u32, String>,
}

impl Names {
    fn load(path: &str) -> Names {
        let mut names = Names::default();
        let text = std::fs::read_to_string(path).unwrap_or_default();
        for line in text.lines() {
            let mut fields = line.split(':');
            let (Some(name), Some(_), Some(id)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if let Ok(id) = id.parse::<u32>() {
                names.by_name.insert(name.to_owned(), id);
                names.by_id.entry(id).or_insert_with(|| name.to_owned());
            }
        }
        names
    }
}

fn users() -> &'static Names {
    static USERS: OnceLock<Names> = OnceLock::new();
    USERS.get_or_init(|| Names::load("/etc/passwd"))
}

fn groups() -> &'static Names {
    static GROUPS: OnceLock<Names> = OnceLock::new();
    GROUPS.get_or_init(|| Names::load("/etc/group"))
}

/// The user's name, or the number when it has none.
pub(crate) fn user_name(uid: u32) -> String {
    users()
        .by_id
        .get(&uid)
        .cloned()
        .unwrap_or_else(|| uid.to_string())
}

/// A user given by name or number.
pub(crate) fn uid_of(text: &str) -> anyhow::Result<u32> {
    id_of(users(), text, "user", "/etc/passwd")
}

/// A group given by name or number.
pub(crate) fn gid_of(text: &str) -> anyhow::Result<u32> {
    id_of(groups(), text, "group", "/etc/group")
}

fn id_of(names: &Names, text: &str, what: &str, file: &str) -> anyhow::Result<u32> {
    if let Ok(id) = text.parse() {
        return Ok(id);
    }
    names
        .by_name
        .get(text)
        .copied()
        .with_context(|| format!("no {what} `{text}` in {file}"))
}

/// `USER[:GROUP]` (names or numbers) as `(uid, gid)`; `None` keeps a part.
pub(crate) fn parse_owner(text: &str) -> anyhow::Result<(Option<u32>, Option<u32>)> {
    let (user, group) = match text.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (text, None),
    };
    if user.is_empty() && group.is_none_or(str::is_empty) {
        bail!("owner= needs USER, USER:GROUP or :GROUP");
    }
    let uid = (!user.is_empty()).then(|| uid_of(user)).transpose()?;
    let gid = group.filter(|g| !g.is_empty()).map(gid_of).transpose()?;
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_known_and_numbers_pass_through() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(4_000_000), "4000000");
        assert_eq!(parse_owner("root:root").unwrap(), (Some(0), Some(0)));
        assert_eq!(parse_owner("1234").unwrap(), (Some(1234), None));
        assert_eq!(parse_owner(":0").unwrap(), (None, Some(0)));
        assert!(parse_owner("no-such-user-here").is_err());
        assert!(parse_owner(":").is_err());
    }
}
