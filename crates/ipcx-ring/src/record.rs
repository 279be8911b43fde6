//! The 8-byte header in front of every record.
//!
//! ```text
//! bits 63..32  sequence number of the message (low 32 bits)
//! bits 31..2   payload length in bytes
//! bits  1..0   kind: 1 message, 2 padding to the end of the ring
//! ```
//! A header of 0 means "not written yet": the producer zeroes the header
//! after a record before it commits the record, so a reader that has seen a
//! record commit sees either 0 or the next commit at the next position.
//! The header is stored last, with release ordering: it is the commit marker.

/// Header word meaning "nothing here yet".
pub(crate) const EMPTY: u64 = 0;

/// Bytes of the header in front of every payload.
pub(crate) const HEADER_LEN: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Message,
    Padding,
}

/// A decoded header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) kind: Kind,
    pub(crate) len: usize,
    pub(crate) seq: u32,
}

impl Header {
    pub(crate) fn encode(self) -> u64 {
        let kind = match self.kind {
            Kind::Message => 1,
            Kind::Padding => 2,
        };
        (u64::from(self.seq) << 32) | ((self.len as u64) << 2) | kind
    }

    /// `None` for a word no producer writes (kind 0 or 3 with a non-zero word).
    pub(crate) fn decode(word: u64) -> Option<Header> {
        let kind = match word & 3 {
            1 => Kind::Message,
            2 => Kind::Padding,
            _ => return None,
        };
        Some(Header {
            kind,
            len: ((word as u32) >> 2) as usize,
            seq: (word >> 32) as u32,
        })
    }
}

/// A position read from shared memory, made safe to use: records start at
/// multiples of 8, and no real ring gets near 2^62 bytes, so a corrupt
/// value can make neither an unaligned index nor an arithmetic overflow
/// (it is then merely wrong, and the headers there say so). Fuzzing found
/// both.
pub(crate) const fn aligned(pos: u64) -> u64 {
    pos & !7 & ((1 << 62) - 1)
}

/// Bytes a record of `len` payload bytes takes: header + payload, rounded up to 8.
pub(crate) const fn record_len(len: usize) -> usize {
    HEADER_LEN + ((len + 7) & !7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_are_never_empty() {
        for (kind, len, seq) in [
            (Kind::Message, 0, 0),
            (Kind::Message, 64, 7),
            (Kind::Padding, 120, u32::MAX),
            (Kind::Message, crate::MAX_RECORD_LEN, 1),
        ] {
            let h = Header { kind, len, seq };
            assert_ne!(h.encode(), EMPTY);
            assert_eq!(Header::decode(h.encode()), Some(h));
        }
        assert_eq!(Header::decode(0), None);
        assert_eq!(Header::decode(3), None);
    }

    #[test]
    fn records_are_whole_words() {
        assert_eq!(record_len(0), 8);
        assert_eq!(record_len(1), 16);
        assert_eq!(record_len(8), 16);
        assert_eq!(record_len(9), 24);
    }
}
