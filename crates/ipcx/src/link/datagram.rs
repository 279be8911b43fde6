//! Messages as datagrams (Unix dgram, UDP): a 16-byte header then the payload.
//!
//! There is no connection, so each datagram carries the type fingerprint and
//! a sender id. A sender says bye when dropped; the receiver reports
//! Disconnected once every sender it has heard from has said bye and
//! nothing more is waiting. A sender that dies without a bye cannot be
//! noticed: use a timeout. The same link runs over message queues.

use std::collections::HashSet;
use std::sync::Arc;

use super::carrier::Carrier;
use super::packet::size_send_buffer;
use super::peer::dropped_oversized;
use super::ready::Armed;
use crate::codec::Identity;
use crate::error::{Error, ErrorKind, Fail};
use crate::sys::{self, Deadline};
use crate::wire::datagram::{Header, Kind, HEADER};

/// How long a dropped sender waits to deliver its bye.
const BYE_PATIENCE: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug)]
pub(crate) struct DatagramWriter {
    carrier: Carrier,
    id: u32,
    fingerprint: u64,
    /// Largest payload: max_msg, or less where the transport carries less.
    limit: u32,
    label: Arc<str>,
    /// How long a full queue is retried before waiting (`wait=`).
    pub(crate) spin: sys::Spin,
}

impl DatagramWriter {
    /// Readiness for a send: room in the socket or queue.
    pub(crate) fn arm(&self, len: usize) -> Armed {
        self.carrier
            .arm(rustix::event::PollFlags::OUT, len + HEADER)
    }

    /// `transport_max` is the largest datagram (header included) the
    /// mechanism can carry.
    pub(crate) fn new(
        carrier: Carrier,
        sends: &Identity,
        max_msg: u32,
        transport_max: usize,
        label: Arc<str>,
    ) -> Self {
        let limit = max_msg.min(transport_max.saturating_sub(HEADER) as u32);
        if let Carrier::Socket(fd) = &carrier {
            size_send_buffer(fd, limit, HEADER);
        }
        DatagramWriter {
            carrier,
            id: sys::random_u32(),
            fingerprint: sends.fingerprint,
            limit,
            label,
            spin: sys::Spin::ADAPTIVE,
        }
    }

    pub(crate) fn label(&self) -> &Arc<str> {
        &self.label
    }

    pub(crate) fn max_len(&self) -> usize {
        self.limit as usize
    }

    pub(crate) fn send(&mut self, payload: &[u8], deadline: Deadline<'_>) -> Result<(), Fail> {
        if payload.len() > self.limit as usize {
            return Err(Fail::too_large(payload.len(), self.limit, "", &self.label));
        }
        let header = Header {
            kind: Kind::Data,
            sender: self.id,
            fingerprint: self.fingerprint,
        }
        .encode();
        self.carrier
            .send(&[&header, payload], deadline, self.spin, &self.label)
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
        let _ = self.carrier.send(
            &[&bye],
            Deadline::after(Some(BYE_PATIENCE)),
            self.spin,
            &self.label,
        );
    }
}

#[derive(Debug)]
pub(crate) struct DatagramReader {
    carrier: Carrier,
    buf: Vec<u8>,
    receives: Identity,
    max_msg: u32,
    senders: HashSet<u32>,
    heard_from_any: bool,
    /// The sender of the last data datagram (already in `senders`).
    last_sender: Option<u32>,
    label: Arc<str>,
    /// How long to poll before a blocking receive (`wait=`).
    pub(crate) spin: sys::Spin,
    /// After a stop: how many more datagrams (data or bye) may be taken.
    drain_left: Option<usize>,
    /// Senders' byes do not end the channel (`serve=true`).
    serve: bool,
    /// Bad datagrams: how many, and when one was last reported.
    bad: BadDatagrams,
    /// Told on drop: how many senders' goodbyes may still wait unread in
    /// the queue (those heard from that have not said bye), for the
    /// transport deciding whether what is left is data.
    unread_byes: Option<Arc<std::sync::atomic::AtomicUsize>>,
}

/// See [`DatagramReader::dropped`].
#[derive(Debug, Default)]
struct BadDatagrams {
    /// Dropped without a report, in all.
    silent: u64,
    /// Dropped without a report since the last report.
    unreported: u64,
    last: Option<(ErrorKind, std::time::Instant)>,
}

/// A flood of bad datagrams is reported at most this often.
const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl DatagramReader {
    pub(crate) fn new(
        carrier: Carrier,
        receives: Identity,
        max_msg: u32,
        transport_max: usize,
        label: Arc<str>,
    ) -> Self {
        let size = (max_msg as usize + HEADER).min(transport_max).max(HEADER);
        DatagramReader {
            buf: vec![0; carrier.buffer_len(size)],
            carrier,
            receives,
            max_msg,
            senders: HashSet::new(),
            heard_from_any: false,
            last_sender: None,
            label,
            spin: sys::Spin::ADAPTIVE,
            drain_left: None,
            serve: false,
            bad: BadDatagrams::default(),
            unread_byes: None,
        }
    }

    /// Readiness for a receive: a datagram in the socket or queue (or the
    /// end, once every sender said bye or the stop's drain is done).
    pub(crate) fn arm(&self) -> Armed {
        let ended = self.heard_from_any && self.senders.is_empty() && !self.serve;
        if ended || self.drain_left.is_some() {
            return Armed::Now;
        }
        self.carrier.arm(rustix::event::PollFlags::IN, 0)
    }

    /// The socket's or POSIX queue's fd (none for System V queues).
    pub(crate) fn poll_fd(&self) -> Option<Arc<std::os::fd::OwnedFd>> {
        self.carrier.poll_fd()
    }

    /// Where to say, on drop, how many goodbyes may be left unread.
    pub(crate) fn report_unread_byes(&mut self, to: Arc<std::sync::atomic::AtomicUsize>) {
        self.unread_byes = Some(to);
    }

    /// Keeps receiving after every sender said bye (`serve=true`).
    pub(crate) fn serve(&mut self, serve: bool) {
        self.serve = serve;
    }

    /// Stops taking messages: only what the carrier still holds now is read.
    pub(crate) fn stop(&mut self) {
        if self.drain_left.is_none() {
            self.drain_left = Some(self.carrier.stop());
        }
    }

    pub(crate) fn recv(&mut self, deadline: Deadline<'_>) -> Result<&[u8], Fail> {
        loop {
            // Every sender heard from has said bye. That ends the channel only
            // once nothing is left: on a queue, other senders' messages of a
            // lower priority (or type) can still be waiting behind a bye.
            let ended = self.heard_from_any && self.senders.is_empty() && !self.serve;
            match &mut self.drain_left {
                Some(0) => return Err(Fail::Disconnected),
                Some(left) => *left -= 1,
                None => {}
            }
            let wait_until = if ended { Deadline::now() } else { deadline };
            let got = match self
                .carrier
                .recv(&mut self.buf, wait_until, self.spin, &self.label)
            {
                Err(Fail::NotReady) if ended => return Err(Fail::Disconnected),
                other => other?,
            };
            if got.full_len > got.range.len() || got.full_len > self.max_msg as usize + HEADER {
                let why = dropped_oversized(got.full_len.saturating_sub(HEADER), self.max_msg);
                match self.dropped(ErrorKind::TooLarge, why) {
                    Some(fail) => return Err(fail),
                    None => continue,
                }
            }
            let message = got.range;
            let header = match Header::decode(&self.buf[message.clone()]) {
                Ok(header) => header,
                Err(why) => {
                    let why = format!(
                        "{why}: not from an ipcx sender? Plain datagrams are read with \
                         `?frame=none` (ipcx recv, ipcx relay)"
                    );
                    match self.dropped(ErrorKind::Protocol, why) {
                        Some(fail) => return Err(fail),
                        None => continue,
                    }
                }
            };
            match header.kind {
                Kind::Bye => {
                    self.senders.remove(&header.sender);
                    if self.last_sender == Some(header.sender) {
                        self.last_sender = None;
                    }
                }
                Kind::Data
                    if self.receives.is_bytes()
                        || header.fingerprint == self.receives.fingerprint =>
                {
                    self.heard_from_any = true;
                    // Most datagrams come from the sender of the one before:
                    // no hashing then.
                    if self.last_sender != Some(header.sender) {
                        self.senders.insert(header.sender);
                        self.last_sender = Some(header.sender);
                    }
                    return Ok(&self.buf[message.start + HEADER..message.end]);
                }
                Kind::Data => {
                    let why = format!(
                        "type mismatch: this end receives `{}` (fingerprint {:016x}) but a \
                         datagram carries fingerprint {:016x}: another type, or a `{}` \
                         defined differently (compare `ipcx::Identity::of::<{}>().text()`)",
                        self.receives.name,
                        self.receives.fingerprint,
                        header.fingerprint,
                        self.receives.name,
                        self.receives.name
                    );
                    if let Some(fail) = self.dropped(ErrorKind::TypeMismatch, why) {
                        return Err(fail);
                    }
                }
            }
        }
    }

    /// A bad datagram is dropped and the receiver goes on. It is reported
    /// unless one of the same kind was within the last second: a flood
    /// gives one error a second (saying how many it stands for), not one
    /// per datagram. `None`: dropped without a report.
    fn dropped(&mut self, kind: ErrorKind, why: String) -> Option<Fail> {
        let now = std::time::Instant::now();
        let bad = &mut self.bad;
        if bad
            .last
            .is_some_and(|(k, at)| k == kind && now.duration_since(at) < REPORT_EVERY)
        {
            bad.unreported += 1;
            bad.silent += 1;
            return None;
        }
        bad.last = Some((kind, now));
        let also = std::mem::take(&mut bad.unreported);
        let why = match also {
            0 => why,
            n => format!("{why} ({n} more like it dropped without a report)"),
        };
        Some(Error::new(kind, why).at(&self.label).into())
    }

    /// Messages the carrier lost before they could be read.
    pub(crate) fn missed(&self) -> u64 {
        self.carrier.missed()
    }

    /// Bad datagrams dropped without a report so far.
    pub(crate) fn unreported_total(&self) -> u64 {
        self.bad.silent
    }
}

impl Drop for DatagramReader {
    fn drop(&mut self) {
        if let Some(to) = &self.unread_byes {
            to.store(self.senders.len(), std::sync::atomic::Ordering::SeqCst);
        }
    }
}
