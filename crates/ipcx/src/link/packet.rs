//! Messages as `SOCK_SEQPACKET` packets: one kind byte then the hello or the
//! payload. The kernel keeps the boundaries; ipcx adds no length.

use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rustix::event::PollFlags;

use super::peer::{dropped_oversized, not_a_hello, ReaderPeer, WriterPeer};
use super::ready::Armed;
use super::stream::Item;
use super::PeerHello;
use crate::error::{Error, ErrorKind, Fail};
use crate::sys::bigbuf::BigBuf;
use crate::sys::{self, Deadline, FdKind};
use crate::wire::hello::{Hello, HelloError};
use crate::wire::{PACKET_DATA, PACKET_HELLO};

/// The largest payload one packet can carry here: the socket send buffer
/// limit (`net.core.wmem_max`) less the kind byte and some kernel slack.
pub(crate) fn packet_limit() -> usize {
    sys::wmem_max().saturating_sub(1024)
}

/// Raises the send buffer so that packets up to `max_msg` fit.
pub(crate) fn size_send_buffer(fd: &OwnedFd, max_msg: u32, header: usize) {
    let want = (max_msg as usize + header + 1024).min(sys::wmem_max());
    if rustix::net::sockopt::socket_send_buffer_size(fd).is_ok_and(|have| have < want) {
        // Best effort: a smaller buffer only lowers the size limit, which
        // send reports as TooLarge.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(fd, want);
    }
}

#[derive(Debug)]
pub(crate) struct PacketWriter {
    fd: Arc<OwnedFd>,
    peer: WriterPeer,
    /// How long a full socket is retried before waiting (`wait=`).
    pub(crate) spin: sys::Spin,
}

impl PacketWriter {
    /// Readiness for a send: the socket becoming writable.
    pub(crate) fn arm(&self) -> Armed {
        Armed::fd(&self.fd, PollFlags::OUT)
    }

    pub(crate) fn new(fd: Arc<OwnedFd>, max_msg: u32, label: Arc<str>) -> Self {
        size_send_buffer(&fd, max_msg, 1);
        PacketWriter {
            fd,
            peer: WriterPeer::new(max_msg, label),
            spin: sys::Spin::ADAPTIVE,
        }
    }

    /// Checks the peer's hello when it arrives (see [`AwaitPeer`]).
    pub(crate) fn await_peer(&mut self, pending: PeerHello) {
        self.peer.await_hello(pending);
    }

    pub(crate) fn limit_to(&mut self, peer_max: u32) {
        self.peer.limit_to(peer_max);
    }

    pub(crate) fn label(&self) -> &Arc<str> {
        self.peer.label()
    }

    pub(crate) fn max_len(&self) -> usize {
        self.peer.max_msg() as usize
    }

    pub(crate) fn send(&mut self, payload: &[u8], deadline: Deadline<'_>) -> Result<(), Fail> {
        self.peer.admit(payload.len())?;
        let sent = send_whole(
            &self.fd,
            &[&[PACKET_DATA], payload],
            deadline,
            self.spin,
            self.peer.label(),
        );
        sent.map_err(|f| self.peer.explain(f))
    }

    pub(crate) fn send_hello(&mut self, hello: &Hello, deadline: Deadline<'_>) -> Result<(), Fail> {
        send_whole(
            &self.fd,
            &[&super::encode_hello(hello, true)],
            deadline,
            self.spin,
            self.peer.label(),
        )
    }
}

/// Sends one packet or datagram whole (they are atomic), waiting while the
/// socket is full.
pub(crate) fn send_whole(
    fd: &OwnedFd,
    parts: &[&[u8]],
    deadline: Deadline<'_>,
    spin: sys::Spin,
    label: &Arc<str>,
) -> Result<(), Fail> {
    // Never blocks inside send: a full queue is retried for a while (the
    // receiver is likely taking a message right now: waking up after a
    // sleep costs more), then waited for with poll, which is timed as the
    // sender's blocked time (`ipcx::stats`).
    let mut spin_until = None;
    loop {
        match sys::write_parts(fd.as_fd(), FdKind::Socket, parts, 0, usize::MAX, true) {
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                let now = std::time::Instant::now();
                let until = *spin_until.get_or_insert_with(|| spin.until(now, deadline));
                if now < until {
                    sys::pause_between_polls();
                    continue;
                }
                Result::from(
                    sys::wait(fd.as_fd(), PollFlags::OUT, deadline)
                        .map_err(|e| Fail::io("poll", e, label))?,
                )?;
            }
            Err(e) if sys::is_disconnect(&e) => return Err(Fail::Disconnected),
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::MSGSIZE.raw_os_error()) => {
                let len: usize = parts.iter().map(|p| p.len()).sum();
                return Err(Error::new(
                    ErrorKind::TooLarge,
                    format!(
                        "a {len}-byte packet is more than the socket can carry in one piece \
                         (limit set by net.core.wmem_max = {})",
                        sys::wmem_max()
                    ),
                )
                .at(label)
                .into());
            }
            Err(e) => return Err(Fail::io("send failed", e, label)),
        }
    }
}

#[derive(Debug)]
pub(crate) struct PacketReader {
    fd: Arc<OwnedFd>,
    buf: BigBuf,
    label: Arc<str>,
    hello: ReaderPeer,
    closed: bool,
    /// How long an empty socket is polled before sleeping (`wait=`).
    pub(crate) spin: sys::Spin,
}

impl PacketReader {
    /// Fails only when the process has no address space left for the
    /// receive buffer (a mapping with no memory behind it until used).
    pub(crate) fn new(fd: Arc<OwnedFd>, local: Hello, label: Arc<str>) -> Result<Self, Error> {
        let size = 1
            + (local.max_msg as usize)
                .min(packet_limit())
                .max(crate::wire::hello::MAX_LEN);
        let buf = BigBuf::new(size)
            .map_err(|e| Error::io("cannot map a receive buffer", e).at(&label))?;
        Ok(PacketReader {
            fd,
            buf,
            label,
            hello: ReaderPeer::new(local),
            closed: false,
            spin: sys::Spin::ADAPTIVE,
        })
    }

    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    pub(crate) fn peer(&self) -> Option<&Hello> {
        self.hello.peer.as_ref()
    }

    /// The peer's hello once it arrived, accepted or not.
    pub(crate) fn seen_hello(&self) -> Option<&Hello> {
        self.hello.seen.as_ref()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Readiness for a receive: the socket's fd (each packet is read whole).
    pub(crate) fn arm(&self) -> Armed {
        if self.closed {
            Armed::Now
        } else {
            Armed::fd(&self.fd, PollFlags::IN)
        }
    }

    /// Stops taking messages: shut for reading; queued packets stay readable.
    pub(crate) fn stop(&mut self) {
        let _ = rustix::net::shutdown(&*self.fd, rustix::net::Shutdown::Read);
    }

    pub(crate) fn recv(&mut self, deadline: Deadline<'_>) -> Result<&[u8], Fail> {
        let range = self.recv_range(deadline)?;
        Ok(&self.buf[range])
    }

    pub(crate) fn recv_hello(&mut self, deadline: Deadline<'_>) -> Result<Hello, Fail> {
        loop {
            if let Some(peer) = &self.hello.peer {
                return Ok(peer.clone());
            }
            // Before the hello, read_packet yields a hello or an error, never data.
            if self.read_packet(deadline.is_bounded())?.is_none() {
                self.wait_readable(deadline)?;
            }
        }
    }

    /// The next message. An empty socket is polled for a while first
    /// (`wait=adaptive`): a message that comes meanwhile costs its sender
    /// no wake-up of this end.
    pub(crate) fn recv_range(&mut self, deadline: Deadline<'_>) -> Result<Range<usize>, Fail> {
        let mut polled = self.spin.is_off();
        loop {
            let try_first = !polled;
            match self.read_packet(deadline.is_bounded() || try_first)? {
                Some(Item::Frame(range)) => return Ok(range),
                Some(Item::Hello) => {}
                None if try_first => {
                    polled = true;
                    // Readable or not, round again: a read that may wait next.
                    sys::spin_readable(self.fd.as_fd(), self.spin, deadline)
                        .map_err(|e| Fail::io("poll", e, &self.label))?;
                }
                None => self.wait_readable(deadline)?,
            }
        }
    }

    fn wait_readable(&self, deadline: Deadline<'_>) -> Result<(), Fail> {
        match sys::wait(self.fd.as_fd(), PollFlags::IN, deadline) {
            Ok(woke) => woke.into(),
            Err(e) => Err(Fail::io("poll", e, &self.label)),
        }
    }

    pub(crate) fn slice(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    /// Reads one packet: a message, or a hello (checked and recorded).
    /// `Ok(None)`: nothing there yet (only with `dont_wait`).
    pub(crate) fn read_packet(&mut self, dont_wait: bool) -> Result<Option<Item>, Fail> {
        if self.closed {
            return Err(Fail::Disconnected);
        }
        // The message lent by the last call is done with: give back the
        // pages a large one took.
        self.buf.shrink();
        let n = match sys::recv_packet(self.fd.as_fd(), &mut self.buf, dont_wait) {
            Ok(0) => {
                // Every ipcx packet has a kind byte, so 0 is end of stream.
                self.closed = true;
                return Err(Fail::Disconnected);
            }
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
            Err(e) if sys::is_disconnect(&e) => {
                self.closed = true;
                return Err(Fail::Disconnected);
            }
            Err(e) => return Err(Fail::io("receive failed", e, &self.label)),
        };
        self.buf.wrote(n);
        if n > self.buf.len() {
            // The packet is gone, but packets keep their boundaries: the
            // connection itself is still in step and stays open.
            let why = dropped_oversized(n - 1, self.hello.local.max_msg);
            return Err(Error::new(ErrorKind::TooLarge, why).at(&self.label).into());
        }
        match self.buf[0] {
            PACKET_HELLO => {
                let hello = match Hello::decode(&self.buf[1..n]) {
                    Ok((hello, _)) => hello,
                    Err(HelloError::Incomplete(_)) => {
                        return Err(
                            self.broken(ErrorKind::Protocol, "truncated hello packet".into())
                        )
                    }
                    Err(HelloError::Invalid(why)) => {
                        return Err(self.broken(ErrorKind::Protocol, why))
                    }
                };
                if let Err(why) = self.hello.accept(hello) {
                    return Err(self.broken(ErrorKind::TypeMismatch, why));
                }
                Ok(Some(Item::Hello))
            }
            PACKET_DATA if self.hello.peer.is_some() => {
                if n - 1 > self.hello.local.max_msg as usize {
                    let why = dropped_oversized(n - 1, self.hello.local.max_msg);
                    return Err(Error::new(ErrorKind::TooLarge, why).at(&self.label).into());
                }
                Ok(Some(Item::Frame(1..n)))
            }
            PACKET_DATA => {
                let why = not_a_hello("the peer", &self.buf[..n]);
                Err(self.broken(ErrorKind::Protocol, why))
            }
            kind => Err(self.broken(
                ErrorKind::Protocol,
                format!("packet of unknown kind {kind}"),
            )),
        }
    }

    fn broken(&mut self, kind: ErrorKind, why: String) -> Fail {
        self.closed = true;
        Error::new(kind, why).at(&self.label).into()
    }
}
