//! User and group names, for `owner=` options and for showing who owns
//! what: looked up through the C library (`getpwuid_r` and friends, via
//! `uzers`), so accounts from any NSS source (LDAP, systemd's dynamic
//! users) show by name, not only those in `/etc/passwd`. Each uid's name
//! is asked once per run (`ipcx ls` may show thousands of objects).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use anyhow::{bail, Context};

/// The user's name, or the number when it has none.
pub(crate) fn user_name(uid: u32) -> String {
    static NAMES: OnceLock<Mutex<HashMap<u32, String>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    names
        .entry(uid)
        .or_insert_with(|| match uzers::get_user_by_uid(uid) {
            Some(u) => u.name().to_string_lossy().into_owned(),
            None => uid.to_string(),
        })
        .clone()
}

/// A user given by name or number.
pub(crate) fn uid_of(text: &str) -> anyhow::Result<u32> {
    if let Ok(id) = text.parse() {
        return Ok(id);
    }
    uzers::get_user_by_name(text)
        .map(|u| u.uid())
        .with_context(|| format!("no user `{text}` (not in the system's accounts)"))
}

/// A group given by name or number.
pub(crate) fn gid_of(text: &str) -> anyhow::Result<u32> {
    if let Ok(id) = text.parse() {
        return Ok(id);
    }
    uzers::get_group_by_name(text)
        .map(|g| g.gid())
        .with_context(|| format!("no group `{text}` (not in the system's accounts)"))
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
        assert_eq!(uid_of("nobody").unwrap(), 65534);
        assert_eq!(user_name(65534), "nobody");
    }
}
