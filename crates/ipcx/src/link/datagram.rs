//! Messages as datagrams (Unix dgram, UDP): a 16-byte header then the payload.
//!
//! There is no connection, so each datagram carries the type fingerprint and
//! a sender id. A sender says bye when dropped; the receiver reports
//! Disconnected once every sender it has heard from has said bye. A sender
//! that dies without a bye cannot be noticed: use a timeout.

use std::collections::HashSet;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rustix::event::PollFlags;

use super::packet::{send_whole, size_send_buffer};
use super::stream::{io_fail, too_large};
use crate::codec::TypeTag;
use crate::error::{Error, ErrorKind, Fail};
use crate::sys::{self, Deadline};
use crate::wire::datagram::{Header, Kind, HEADER};

/// How long a dropped sender waits to deliver its bye.
const BYE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct DatagramWriter {
    fd: OwnedFd,
    id: u32,
    fingerprint: u64,
    /// Largest payload: max_msg, or less where the transport carries less.
    limit: u32,
    label: Arc<str>,
}

impl DatagramWriter {
    /// `transport_max` is the largest datagram (header included) the
    /// mechanism can carry.
    pub(crate) fn new(
        fd: OwnedFd,
        sends: &TypeTag,
        max_msg: u32,
        transport_max: usize,
        label: Arc<str>,
    ) -> Self {
        let limit = max_msg.min(transport_max.saturating_sub(HEADER) as u32);
        size_send_buffer(&fd, limit, HEADER);
        DatagramWriter {
            fd,
            id: sys::random_u32(),
            fingerprint: sends.fingerprint,
            limit,
            label,
        }
    }

    pub(crate) fn label(&self) -> &Arc<str> {
        &self.label
    }

    pub(crate) fn send(&mut self, payload: &[u8], deadline: Deadline) -> Result<(), Fail> {
        if payload.len() > self.limit as usize {
            return Err(too_large(payload.len(), self.limit, &self.label));
        }
        let header = Header {
            kind: Kind::Data,
            sender: self.id,
            fingerprint: self.fingerprint,
        }
        .encode();
        send_whole(&self.fd, &[&header, payload], deadline, &self.label)
    }
}

impl Drop for DatagramWriter {
    fn drop(&mut self) {
        let bye = Header {
            kind: Kind::Bye,
            sender: self.id,
            fingerprint: self.fingerprint,
        }
        .encode();
        // Wait a little for room in a busy receiver's queue, but never long:
        // a receiver that is gone or stuck simply does not hear the bye.
        let _ = send_whole(
            &self.fd,
            &[&bye],
            sys::deadline_in(BYE_PATIENCE),
            &self.label,
        );
    }
}

#[derive(Debug)]
pub(crate) struct DatagramReader {
    fd: OwnedFd,
    buf: Vec<u8>,
    receives: TypeTag,
    max_msg: u32,
    senders: HashSet<u32>,
    heard_from_any: bool,
    label: Arc<str>,
}

impl DatagramReader {
    pub(crate) fn new(
        fd: OwnedFd,
        receives: TypeTag,
        max_msg: u32,
        transport_max: usize,
        label: Arc<str>,
    ) -> Self {
        let size = (max_msg as usize + HEADER).min(transport_max).max(HEADER);
        DatagramReader {
            fd,
            buf: vec![0; size],
            receives,
            max_msg,
            senders: HashSet::new(),
            heard_from_any: false,
            label,
        }
    }

    pub(crate) fn recv(&mut self, deadline: Deadline) -> Result<&[u8], Fail> {
        loop {
            if self.heard_from_any && self.senders.is_empty() {
                return Err(Fail::Disconnected);
            }
            let n = match sys::recv_packet(self.fd.as_fd(), &mut self.buf, deadline.is_some()) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if !sys::wait(self.fd.as_fd(), PollFlags::IN, deadline)
                        .map_err(|e| io_fail("poll", e, &self.label))?
                    {
                        return Err(Fail::NotReady);
                    }
                    continue;
                }
                Err(e) => return Err(io_fail("receive failed", e, &self.label)),
            };
            if n > self.buf.len() {
                return Err(self.dropped(
                    ErrorKind::TooLarge,
                    format!(
                        "dropped a {}-byte datagram: max_msg is {}",
                        n.saturating_sub(HEADER),
                        self.max_msg
                    ),
                ));
            }
            let header = Header::decode(&self.buf[..n])
                .map_err(|why| self.dropped(ErrorKind::Protocol, why))?;
            match header.kind {
                Kind::Bye => {
                    self.senders.remove(&header.sender);
                }
                Kind::Data
                    if self.receives.is_bytes()
                        || header.fingerprint == self.receives.fingerprint =>
                {
                    self.heard_from_any = true;
                    self.senders.insert(header.sender);
                    return Ok(&self.buf[HEADER..n]);
                }
                Kind::Data => {
                    return Err(self.dropped(
                        ErrorKind::TypeMismatch,
                        format!(
                            "type mismatch: this end receives `{}` (fingerprint {:016x}) but a \
                             datagram carries fingerprint {:016x}",
                            self.receives.name, self.receives.fingerprint, header.fingerprint
                        ),
                    ))
                }
            }
        }
    }

    /// One bad datagram is dropped and reported; the receiver goes on.
    fn dropped(&self, kind: ErrorKind, why: String) -> Fail {
        Error::new(kind, why).at(&self.label).into()
    }
}
