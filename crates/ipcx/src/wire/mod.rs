//! The ipcx wire format, byte for byte. `docs/wire.md` is the same text for
//! people writing a peer in another language; keep the two in step.
//!
//! * **Stream frame** (pipe, FIFO, Unix stream, TCP): `len: u32 LE` then `len`
//!   payload bytes. The length `0xFFFF_FFFF` never carries a message: it marks
//!   a [hello](hello) record instead. A connection starts with a hello.
//! * **Packet** (Unix seqpacket): one byte of kind (`0` hello, `1` data) then
//!   the hello record or the payload.
//! * **Datagram** (Unix dgram, UDP): a 16-byte [header](datagram) then the payload.

pub(crate) mod datagram;
pub(crate) mod hello;

/// The length value that marks a hello record in a byte stream.
pub(crate) const HELLO_MARKER: u32 = u32::MAX;
/// Size of the stream frame header.
pub(crate) const FRAME_HEADER: usize = 4;
/// Packet kinds on `SOCK_SEQPACKET`.
pub(crate) const PACKET_HELLO: u8 = 0;
pub(crate) const PACKET_DATA: u8 = 1;
