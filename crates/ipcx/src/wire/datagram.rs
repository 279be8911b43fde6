//! The 16-byte header in front of every datagram.
//!
//! ```text
//! offset size field
//!  0     2    magic "IX"
//!  2     1    version (1)
//!  3     1    kind: 0 = data, 1 = bye (the sender is closing; no payload)
//!  4     4    sender id (u32 LE, random per sender)
//!  8     8    fingerprint of the payload type (u64 LE)
//! ```
//! Datagrams have no connection to carry a hello, so each one carries the
//! type fingerprint; the sender id lets a receiver tell when every sender
//! has said bye.

use super::hello::VERSION;

pub(crate) const HEADER: usize = 16;
const MAGIC: [u8; 2] = *b"IX";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Data,
    Bye,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) sender: u32,
    pub(crate) fingerprint: u64,
}

impl Header {
    pub(crate) fn encode(&self) -> [u8; HEADER] {
        let mut out = [0u8; HEADER];
        out[..2].copy_from_slice(&MAGIC);
        out[2] = VERSION;
        out[3] = match self.kind {
            Kind::Data => 0,
            Kind::Bye => 1,
        };
        out[4..8].copy_from_slice(&self.sender.to_le_bytes());
        out[8..].copy_from_slice(&self.fingerprint.to_le_bytes());
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Header, String> {
        let Some(h) = bytes.get(..HEADER) else {
            return Err(format!(
                "a {}-byte datagram is shorter than the {HEADER}-byte ipcx header",
                bytes.len()
            ));
        };
        if h[..2] != MAGIC {
            return Err(format!(
                "datagram does not start with the ipcx magic \"IX\": {:02x?}",
                &h[..4]
            ));
        }
        if h[2] != VERSION {
            return Err(format!(
                "datagram of ipcx wire version {}, expected {VERSION}",
                h[2]
            ));
        }
        let kind = match h[3] {
            0 => Kind::Data,
            1 => Kind::Bye,
            k => return Err(format!("datagram of unknown kind {k}")),
        };
        let sender = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        let fingerprint =
            u64::from_le_bytes([h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]]);
        Ok(Header {
            kind,
            sender,
            fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let h = Header {
            kind: Kind::Bye,
            sender: 0xdead_beef,
            fingerprint: 42,
        };
        assert_eq!(Header::decode(&h.encode()).unwrap(), h);
        assert!(Header::decode(b"IX").unwrap_err().contains("shorter"));
        let mut bad = h.encode();
        bad[3] = 7;
        assert!(Header::decode(&bad).unwrap_err().contains("kind 7"));
        bad[0] = b'Z';
        assert!(Header::decode(&bad).unwrap_err().contains("magic"));
    }
}
