//! One call frame: each ipcx message on a call connection is one of these
//! (docs/wire.md, "Calls").
//!
//! ```text
//! offset size field
//!  0     1    kind: 1 request, 2 reply, 3 error, 4 cancel, 5 attach (shm:)
//!  1     3    zero
//!  4     8    call id (u64 LE): the client's, unique among its calls in flight
//! 12     …    request, reply: the message; error: UTF-8 text; cancel: nothing;
//!             attach: the ring names (see `rpc::shm`)
//! ```

use crate::error::{Error, ErrorKind};

pub(crate) const HEADER: usize = 12;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Request = 1,
    Reply = 2,
    Error = 3,
    Cancel = 4,
    /// Setting up a client's rings on `shm:` (control connection only).
    Attach = 5,
}

/// A frame as read: its kind, call id and body.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub(crate) kind: Kind,
    pub(crate) id: u64,
    pub(crate) body: &'a [u8],
}

/// Starts a frame of `kind` for call `id` in `out` (cleared); the body is
/// appended after.
pub(crate) fn begin(out: &mut Vec<u8>, kind: Kind, id: u64) {
    out.clear();
    out.push(kind as u8);
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&id.to_le_bytes());
}

/// A whole frame of `kind` for call `id` with `body`.
pub(crate) fn encode(kind: Kind, id: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    begin(&mut out, kind, id);
    out.extend_from_slice(body);
    out
}

/// Reads a frame; an error says what is wrong with it.
pub(crate) fn decode(bytes: &[u8]) -> Result<Frame<'_>, Error> {
    let bad = |why: String| Error::new(ErrorKind::Protocol, why);
    if bytes.len() < HEADER {
        return Err(bad(format!(
            "a {}-byte call frame is shorter than its {HEADER}-byte header (not an ipcx call peer?)",
            bytes.len()
        )));
    }
    let kind = match bytes[0] {
        1 => Kind::Request,
        2 => Kind::Reply,
        3 => Kind::Error,
        4 => Kind::Cancel,
        5 => Kind::Attach,
        other => return Err(bad(format!("unknown call frame kind {other}"))),
    };
    if bytes[1..4] != [0, 0, 0] {
        return Err(bad(format!(
            "call frame reserved bytes {:02x?} are not zero",
            &bytes[1..4]
        )));
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[4..HEADER]);
    Ok(Frame {
        kind,
        id: u64::from_le_bytes(id),
        body: &bytes[HEADER..],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_bad_ones_are_errors() {
        let f = encode(Kind::Reply, 0x0102_0304_0506_0708, b"hi");
        assert_eq!(f[..4], [2, 0, 0, 0]);
        assert_eq!(
            decode(&f).unwrap(),
            Frame {
                kind: Kind::Reply,
                id: 0x0102_0304_0506_0708,
                body: b"hi"
            }
        );
        for bad in [
            &b"short"[..],
            &[9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            &[1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ] {
            assert_eq!(decode(bad).unwrap_err().kind(), ErrorKind::Protocol);
        }
    }
}
