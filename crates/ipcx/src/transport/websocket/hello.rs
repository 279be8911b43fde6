//! The hello on a WebSocket: the connecting end's first message, a text
//! message that says what it sends (or, connecting to a listening sender,
//! what it receives); the listening end answers with a text message, or
//! closes the connection saying why (code 1008).
//!
//! ```text
//! → ipcx 1 sends 9f86d081884c7d65 Job         → ipcx 1 receives 9f86d081884c7d65 Job
//! ← ipcx 1 ok                                 ← ipcx 1 ok
//! ```
//! After that each binary message is one message, its payload as the
//! codec wrote it (docs/wire.md). `ipcx::Identity::of::<T>()` gives the
//! fingerprint and the name; a `Bytes` sender declares the name `Bytes`
//! and its fingerprint (`ipcx::Identity::of::<ipcx::Bytes>()`).

use crate::codec::Identity;

/// The answer that lets a sender go on.
pub(super) const OK: &str = "ipcx 1 ok";

/// What the connecting end does: `sends` to a listening receiver,
/// `receives` from a listening sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verb {
    Sends,
    Receives,
}

impl Verb {
    fn word(self) -> &'static str {
        match self {
            Verb::Sends => "sends",
            Verb::Receives => "receives",
        }
    }
}

pub(super) fn encode(verb: Verb, what: &Identity) -> String {
    format!(
        "ipcx 1 {} {:016x} {}",
        verb.word(),
        what.fingerprint,
        what.name
    )
}

/// What a connecting end's hello declares (it must be `verb`), or what
/// is wrong with it.
pub(super) fn decode(text: &str, verb: Verb) -> Result<Identity, String> {
    let mut fields = text.splitn(5, ' ');
    match (fields.next(), fields.next(), fields.next()) {
        (Some("ipcx"), Some("1"), Some(w)) if w == verb.word() => {}
        (Some("ipcx"), Some("1"), Some(w)) => {
            return Err(format!(
                "this end {} and takes `ipcx 1 {} …` hellos, not `{w}`",
                match verb {
                    Verb::Sends => "receives",
                    Verb::Receives => "sends",
                },
                verb.word()
            ))
        }
        _ => {
            return Err(format!(
                "the first message is not an ipcx hello (`ipcx 1 {} FINGERPRINT NAME`, see \
                 docs/remote.md): {:?}",
                verb.word(),
                text.chars().take(60).collect::<String>()
            ))
        }
    }
    let fingerprint = fields
        .next()
        .and_then(|f| u64::from_str_radix(f, 16).ok())
        .ok_or("the hello's fingerprint is not 16 hex digits")?;
    let name = fields
        .next()
        .filter(|n| !n.is_empty())
        .ok_or("the hello names no type")?;
    Ok(Identity::declared(name.to_owned(), fingerprint))
}

/// Why `receives` refuses what a hello declared, if it does.
pub(super) fn refusal(receives: &Identity, sends: &Identity) -> Option<String> {
    if receives.accepts(sends) {
        return None;
    }
    Some(format!(
        "type mismatch: this end receives `{}` (fingerprint {:016x}), the sender sends `{}` \
         (fingerprint {:016x})",
        receives.name, receives.fingerprint, sends.name, sends.fingerprint
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hello_reads_back_and_others_are_refused_with_reasons() {
        let job = Identity::declared("Job".into(), 0x9f86_d081_884c_7d65);
        let text = encode(Verb::Sends, &job);
        assert_eq!(text, "ipcx 1 sends 9f86d081884c7d65 Job");
        assert_eq!(decode(&text, Verb::Sends).unwrap(), job);
        let text = encode(Verb::Receives, &job);
        assert_eq!(text, "ipcx 1 receives 9f86d081884c7d65 Job");
        assert_eq!(decode(&text, Verb::Receives).unwrap(), job);
        assert!(decode(&text, Verb::Sends)
            .unwrap_err()
            .contains("not `receives`"));
        assert!(decode("GET / HTTP/1.1", Verb::Sends)
            .unwrap_err()
            .contains("not an ipcx hello"));
        assert!(decode("ipcx 1 sends xyz Job", Verb::Sends)
            .unwrap_err()
            .contains("16 hex"));
        assert!(decode("ipcx 1 sends 0000000000000001", Verb::Sends)
            .unwrap_err()
            .contains("no type"));
        let other = Identity::declared("Invoice".into(), 7);
        assert!(refusal(&job, &other).unwrap().contains("`Invoice`"));
        assert!(refusal(&job, &job).is_none());
        assert!(refusal(&Identity::bytes(), &other).is_none());
    }
}
