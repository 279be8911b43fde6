//! The hello: the first record on every connection.
//!
//! ```text
//! offset size field
//!  0     4    magic "IPCX"
//!  4     1    version (1)
//!  5     1    role: bit 0 = this end sends, bit 1 = this end receives
//!  6     2    reserved, 0
//!  8     4    max_msg this end accepts (u32 LE; 0 when it does not receive)
//! 12     8    fingerprint of the type it sends   (u64 LE; 0 when it does not send)
//! 20     8    fingerprint of the type it accepts (u64 LE; 0 when it does not receive)
//! 28     1    length a of the sent type's name (≤ 255)
//! 29     1    length b of the accepted type's name (≤ 255)
//! 30     a    sent type name, UTF-8
//! 30+a   b    accepted type name, UTF-8
//! ```
//! Always at most 540 bytes: below `PIPE_BUF`, so a FIFO writer's hello is
//! never interleaved with another writer's bytes.

use crate::codec::Identity;

pub(crate) const MAGIC: [u8; 4] = *b"IPCX";
pub(crate) const VERSION: u8 = 1;
const FIXED: usize = 30;
/// Largest encoded hello.
pub(crate) const MAX_LEN: usize = FIXED + 255 + 255;

const SENDS: u8 = 1;
const RECEIVES: u8 = 2;

/// What one end of a connection declares about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hello {
    pub(crate) sends: Option<Identity>,
    pub(crate) receives: Option<Identity>,
    pub(crate) max_msg: u32,
}

/// Why bytes are not a hello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HelloError {
    /// More bytes are needed; at least this many in total.
    Incomplete(usize),
    /// The bytes can never be a valid hello.
    Invalid(String),
}

impl Hello {
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        fn name(t: &Option<Identity>) -> &[u8] {
            let n = t.as_ref().map_or("", |t| t.name.as_str());
            &n.as_bytes()[..floor_char_boundary(n, 255)]
        }
        let fp = |t: &Option<Identity>| t.as_ref().map_or(0, |t| t.fingerprint);
        let (sname, rname) = (name(&self.sends), name(&self.receives));
        let role = if self.sends.is_some() { SENDS } else { 0 }
            | if self.receives.is_some() { RECEIVES } else { 0 };
        out.extend_from_slice(&MAGIC);
        out.push(VERSION);
        out.push(role);
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.max_msg.to_le_bytes());
        out.extend_from_slice(&fp(&self.sends).to_le_bytes());
        out.extend_from_slice(&fp(&self.receives).to_le_bytes());
        out.push(sname.len() as u8);
        out.push(rname.len() as u8);
        out.extend_from_slice(sname);
        out.extend_from_slice(rname);
    }

    /// Decodes a hello at the start of `bytes`; returns it and its length.
    pub(crate) fn decode(bytes: &[u8]) -> Result<(Hello, usize), HelloError> {
        let check_prefix = bytes.len().min(4);
        if bytes[..check_prefix] != MAGIC[..check_prefix] {
            return Err(HelloError::Invalid(format!(
                "expected the ipcx hello (magic \"IPCX\"), got bytes {:02x?}",
                &bytes[..check_prefix]
            )));
        }
        if bytes.len() < FIXED {
            return Err(HelloError::Incomplete(FIXED));
        }
        if bytes[4] != VERSION {
            return Err(HelloError::Invalid(format!(
                "peer speaks ipcx wire version {}, this end speaks {VERSION}",
                bytes[4]
            )));
        }
        let role = bytes[5];
        if role & !(SENDS | RECEIVES) != 0 || bytes[6..8] != [0, 0] {
            return Err(HelloError::Invalid(format!(
                "hello has unknown role bits {role:#04x}"
            )));
        }
        let (a, b) = (usize::from(bytes[28]), usize::from(bytes[29]));
        let total = FIXED + a + b;
        if bytes.len() < total {
            return Err(HelloError::Incomplete(total));
        }
        let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or_default());
        let text = |range: std::ops::Range<usize>| {
            std::str::from_utf8(&bytes[range])
                .map(str::to_owned)
                .map_err(|_| HelloError::Invalid("hello type name is not UTF-8".into()))
        };
        let tag = |flag: u8, fp: u64, name: String| {
            (role & flag != 0).then_some(Identity::declared(name, fp))
        };
        let hello = Hello {
            max_msg: u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            sends: tag(SENDS, u64_at(12), text(FIXED..FIXED + a)?),
            receives: tag(RECEIVES, u64_at(20), text(FIXED + a..total)?),
        };
        Ok((hello, total))
    }

    /// Checks that `self` (this end) and `peer` can talk; the error says why not.
    pub(crate) fn check_peer(&self, peer: &Hello) -> Result<(), String> {
        if let Some(mine) = &self.receives {
            match &peer.sends {
                Some(theirs) if mine.accepts(theirs) => {}
                Some(theirs) => {
                    return Err(format!(
                        "type mismatch: this end receives `{}` but the peer sends `{}`{}",
                        mine.name,
                        theirs.name,
                        Identity::why_refused(mine, theirs)
                    ))
                }
                None if self.sends.is_none() => {
                    return Err("both ends only receive; one of them must send".into())
                }
                None => {}
            }
        }
        if let Some(mine) = &self.sends {
            match &peer.receives {
                Some(theirs) if theirs.accepts(mine) => {}
                Some(theirs) => {
                    return Err(format!(
                        "type mismatch: this end sends `{}` but the peer receives `{}`{}",
                        mine.name,
                        theirs.name,
                        Identity::why_refused(theirs, mine)
                    ))
                }
                None if self.receives.is_none() => {
                    return Err("both ends only send; one of them must receive".into())
                }
                None => {}
            }
        }
        Ok(())
    }
}

fn floor_char_boundary(s: &str, max: usize) -> usize {
    let mut i = s.len().min(max);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender_of(name: &str) -> Hello {
        Hello {
            sends: Some(Identity::named(name)),
            receives: None,
            max_msg: 0,
        }
    }
    fn receiver_of(name: &str) -> Hello {
        Hello {
            sends: None,
            receives: Some(Identity::named(name)),
            max_msg: 1024,
        }
    }

    #[test]
    fn round_trip_and_prefixes_are_incomplete() {
        let h = Hello {
            sends: Some(Identity::named("a::B")),
            receives: Some(Identity::bytes()),
            max_msg: 77,
        };
        let mut buf = Vec::new();
        h.encode(&mut buf);
        assert_eq!(Hello::decode(&buf).unwrap(), (h, buf.len()));
        for cut in 0..buf.len() {
            assert!(matches!(
                Hello::decode(&buf[..cut]),
                Err(HelloError::Incomplete(_))
            ));
        }
    }

    #[test]
    fn wrong_magic_and_version_are_invalid() {
        assert!(matches!(
            Hello::decode(b"GET / HTTP/1.1"),
            Err(HelloError::Invalid(_))
        ));
        let mut buf = Vec::new();
        sender_of("x").encode(&mut buf);
        buf[4] = 9;
        let Err(HelloError::Invalid(msg)) = Hello::decode(&buf) else {
            panic!()
        };
        assert!(msg.contains("version 9"));
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary() {
        let long = "é".repeat(200);
        let mut buf = Vec::new();
        sender_of(&long).encode(&mut buf);
        assert!(buf.len() <= MAX_LEN);
        let (h, _) = Hello::decode(&buf).unwrap();
        assert_eq!(h.sends.unwrap().name.len(), 254);
    }

    #[test]
    fn compatibility_rules() {
        assert!(receiver_of("T").check_peer(&sender_of("T")).is_ok());
        assert!(sender_of("T").check_peer(&receiver_of("T")).is_ok());
        assert!(receiver_of("bytes").check_peer(&sender_of("T")).is_ok());
        let e = receiver_of("A").check_peer(&sender_of("B")).unwrap_err();
        assert!(e.contains("receives `A`") && e.contains("sends `B`"), "{e}");
        assert!(sender_of("A").check_peer(&receiver_of("B")).is_err());
        assert!(receiver_of("A").check_peer(&receiver_of("A")).is_err());
        assert!(sender_of("A").check_peer(&sender_of("A")).is_err());
    }
}
