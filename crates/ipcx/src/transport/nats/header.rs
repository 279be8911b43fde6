//! The ipcx header of a NATS message: the datagram header (see
//! [`crate::wire::datagram`]) as one NATS header, so a plain NATS
//! subscriber sees the payload as it was sent, and a per-sender sequence
//! number, so a receiver can count what it lost.
//!
//! ```text
//! Ipcx: 1 data 0a1b2c3d 9f86d081884c7d65 42
//!       | |    |        |                sequence number (from 1, bye included)
//!       | |    |        type fingerprint (hex)
//!       | |    sender id (hex)
//!       | data or bye
//!       wire version
//! ```

use crate::wire::datagram::{Header, Kind, HEADER};

/// The NATS header's name.
pub(super) const NAME: &str = "Ipcx";

/// The header's value for datagram header `bytes` and sequence `seq`;
/// `None` if `bytes` is not a datagram header.
pub(super) fn encode(bytes: &[u8], seq: u64) -> Option<String> {
    let h = Header::decode(bytes).ok()?;
    let kind = match h.kind {
        Kind::Data => "data",
        Kind::Bye => "bye",
    };
    Some(format!(
        "{} {kind} {:08x} {:016x} {seq}",
        crate::wire::hello::VERSION,
        h.sender,
        h.fingerprint
    ))
}

/// The datagram header and sequence number a header value stands for.
/// Anything else (another version, garbage) gives `None`: the message is
/// then handed on without a header, and the receiver reports it.
pub(super) fn decode(value: &str) -> Option<([u8; HEADER], u32, u64)> {
    let mut fields = value.split(' ');
    let version: u8 = fields.next()?.parse().ok()?;
    if version != crate::wire::hello::VERSION {
        return None;
    }
    let kind = match fields.next()? {
        "data" => Kind::Data,
        "bye" => Kind::Bye,
        _ => return None,
    };
    let sender = u32::from_str_radix(fields.next()?, 16).ok()?;
    let fingerprint = u64::from_str_radix(fields.next()?, 16).ok()?;
    let seq = fields.next()?.parse().ok()?;
    if fields.next().is_some() {
        return None;
    }
    let header = Header {
        kind,
        sender,
        fingerprint,
    };
    Some((header.encode(), sender, seq))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_reads_back_and_garbage_does_not() {
        let h = Header {
            kind: Kind::Bye,
            sender: 0x0a1b_2c3d,
            fingerprint: 0x9f86_d081_884c_7d65,
        }
        .encode();
        let text = encode(&h, 42).unwrap();
        assert_eq!(text, "1 bye 0a1b2c3d 9f86d081884c7d65 42");
        assert_eq!(decode(&text), Some((h, 0x0a1b_2c3d, 42)));
        for bad in [
            "",
            "2 data 1 2 3",
            "1 what 1 2 3",
            "1 data zz 2 3",
            "1 data 1 2",
            "1 data 1 2 3 4",
        ] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}
