//! Links: the I/O engines that move one message over an open fd.
//!
//! # The contract every transport keeps
//! A transport (see [`crate::transport`]) opens kernel objects and hands
//! back an [`Outbound`] and/or an [`Inbound`]. Whatever the mechanism:
//!
//! 1. **Boundaries.** One `send` is one `recv`, byte for byte, in order per sender.
//! 2. **Bounded and blocking.** `send(.., None)` blocks while the channel is
//!    full; with a deadline it returns [`Fail::NotReady`] once it passes (the
//!    deadline bounds the wait for the *first* byte: a frame once begun is
//!    finished). `recv` likewise while empty.
//! 3. **Disconnect.** When the peer is gone `send` returns
//!    [`Fail::Disconnected`]; `recv` returns it after the last message.
//! 4. **Typed.** Each end declares its types in a hello (or, for datagrams,
//!    in every header); a mismatch is a [`ErrorKind::TypeMismatch`]
//!    error at open (connections) or per message (datagrams).
//! 5. **Bad input is an error, never a crash.** Lengths above `max_msg`,
//!    truncation, garbage: a typed error naming the endpoint; the link is
//!    closed if it cannot stay in step (streams), else only the message is
//!    dropped (packets, datagrams).
//! 6. **Hot path.** One syscall per message when the peer keeps up, no
//!    allocation once warm. Fds are blocking; deadlines use `MSG_DONTWAIT`
//!    (sockets) or a `poll` first (pipes), so an async front end can drive
//!    the same fds in non-blocking mode.
//!
//! [`ErrorKind::TypeMismatch`]: crate::ErrorKind::TypeMismatch

pub(crate) mod accept_pause;
#[cfg(feature = "remote")]
pub(crate) mod bridge;
pub(crate) mod carrier;
pub(crate) mod datagram;
pub(crate) mod fanin;
pub(crate) mod packet;
mod peer;
pub(crate) mod queue_peers;
pub(crate) mod ready;
pub(crate) mod shm;
pub(crate) mod stream;
mod tcp_regime;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use crate::error::Fail;
use crate::sys::Deadline;
use crate::wire::hello::Hello;
use crate::wire::{HELLO_MARKER, PACKET_HELLO};

/// The sending side of any transport.
#[derive(Debug)]
pub(crate) enum Outbound {
    Stream(stream::StreamWriter),
    Packet(packet::PacketWriter),
    Datagram(datagram::DatagramWriter),
    Shm(shm::ShmWriter),
}

impl Outbound {
    pub(crate) fn send(&mut self, payload: &[u8], deadline: Deadline<'_>) -> Result<(), Fail> {
        match self {
            Outbound::Stream(w) => w.send(payload, deadline),
            Outbound::Packet(w) => w.send(payload, deadline),
            Outbound::Datagram(w) => w.send(payload, deadline),
            Outbound::Shm(w) => w.send(payload, deadline),
        }
    }

    /// Lends `len` bytes for `fill` and sends what it wrote: in place on
    /// a ring, through `scratch` elsewhere.
    pub(crate) fn send_with(
        &mut self,
        len: usize,
        deadline: Deadline<'_>,
        scratch: &mut Vec<u8>,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, Fail> {
        if let Outbound::Shm(w) = self {
            return w.send_with(len, deadline, fill);
        }
        scratch.clear();
        scratch.resize(len, 0);
        let n = fill(scratch).min(len);
        self.send(&scratch[..n], deadline)?;
        Ok(n)
    }

    /// Readiness for a send of `len` bytes (see [`ready::Armed`]); undo
    /// with [`Outbound::disarm`] after sleeping.
    pub(crate) fn arm(&mut self, len: usize) -> ready::Armed {
        match self {
            Outbound::Stream(w) => w.arm(),
            Outbound::Packet(w) => w.arm(),
            Outbound::Datagram(w) => w.arm(len),
            Outbound::Shm(w) => w.arm(len),
        }
    }

    pub(crate) fn disarm(&mut self) {
        if let Outbound::Shm(w) = self {
            w.disarm();
        }
    }

    /// Writes what a send left part-way (a byte stream whose send met a
    /// full buffer with a deadline), until done or the deadline passes.
    pub(crate) fn flush(&mut self, deadline: Deadline<'_>) -> Result<(), Fail> {
        match self {
            Outbound::Stream(w) => w.flush(deadline),
            _ => Ok(()),
        }
    }

    /// The fd that becomes writable when a send may go on, where there is
    /// one for good (not rings, not System V queues).
    pub(crate) fn poll_fd(&self) -> Option<Arc<std::os::fd::OwnedFd>> {
        let fd = match self {
            Outbound::Stream(w) => w.arm(),
            Outbound::Packet(w) => w.arm(),
            Outbound::Datagram(w) => w.arm(0),
            Outbound::Shm(_) => return None,
        };
        match fd {
            ready::Armed::Fd { fd, .. } => Some(fd),
            _ => None,
        }
    }

    /// How long a full channel is retried before waiting (`wait=`; the
    /// ring has its own waiter, byte streams block in the kernel).
    pub(crate) fn set_spin(&mut self, spin: crate::sys::Spin) {
        match self {
            Outbound::Packet(w) => w.spin = spin,
            Outbound::Datagram(w) => w.spin = spin,
            Outbound::Stream(_) | Outbound::Shm(_) => {}
        }
    }

    pub(crate) fn label(&self) -> &Arc<str> {
        match self {
            Outbound::Stream(w) => w.label(),
            Outbound::Packet(w) => w.label(),
            Outbound::Datagram(w) => w.label(),
            Outbound::Shm(w) => w.label(),
        }
    }

    /// The largest payload a send takes now (see `Sender::max_message_len`).
    pub(crate) fn max_len(&self) -> usize {
        match self {
            Outbound::Stream(w) => w.max_len(),
            Outbound::Packet(w) => w.max_len(),
            Outbound::Datagram(w) => w.max_len(),
            Outbound::Shm(w) => w.max_len(),
        }
    }
}

/// The receiving side of any transport.
#[derive(Debug)]
pub(crate) enum Inbound {
    Stream(stream::StreamReader),
    Packet(packet::PacketReader),
    Datagram(datagram::DatagramReader),
    FanIn(fanin::FanIn),
    Shm(shm::ShmReader),
}

impl Inbound {
    /// Readiness for a receive (see [`ready::Armed`]); undo with
    /// [`Inbound::disarm`] after sleeping.
    pub(crate) fn arm(&mut self) -> Result<ready::Armed, Fail> {
        Ok(match self {
            Inbound::Stream(r) => r.arm(),
            Inbound::Packet(r) => r.arm(),
            Inbound::Datagram(r) => r.arm(),
            Inbound::FanIn(r) => r.arm()?,
            Inbound::Shm(r) => r.arm(),
        })
    }

    pub(crate) fn disarm(&mut self) {
        if let Inbound::Shm(r) = self {
            r.disarm();
        }
    }

    /// The fd that becomes readable when a message may be there, where
    /// there is one for good (not rings, not System V queues).
    pub(crate) fn poll_fd(&self) -> Option<Arc<std::os::fd::OwnedFd>> {
        match self {
            Inbound::Stream(r) => Some(r.fd().clone()),
            Inbound::Packet(r) => Some(r.fd().clone()),
            Inbound::Datagram(r) => r.poll_fd(),
            Inbound::FanIn(r) => Some(r.epoll_fd().clone()),
            Inbound::Shm(_) => None,
        }
    }

    /// The ring segment the last message lies in, where it stays put until
    /// the next receive (a ring that does not copy its records); `None`
    /// elsewhere (the bytes are in a buffer the next receive reuses).
    pub(crate) fn pinned_segment(&self) -> Option<Arc<shm::segment::Segment>> {
        match self {
            Inbound::Shm(r) => r.pinned_segment(),
            _ => None,
        }
    }

    /// Gives the last message's room back now, before the next receive
    /// (a ring; nothing to give back elsewhere).
    pub(crate) fn release_held(&mut self) {
        if let Inbound::Shm(r) = self {
            r.release_held();
        }
    }

    /// Stops taking new messages (see `Receiver::shutdown`).
    pub(crate) fn stop(&mut self) {
        match self {
            Inbound::Stream(r) => r.stop(),
            Inbound::Packet(r) => r.stop(),
            Inbound::Datagram(r) => r.stop(),
            Inbound::FanIn(r) => r.stop(),
            Inbound::Shm(r) => r.stop(),
        }
    }

    /// How long to poll before sleeping (`wait=`; the ring has its own
    /// waiter).
    pub(crate) fn set_spin(&mut self, spin: crate::sys::Spin) {
        match self {
            Inbound::Stream(r) => r.spin = spin,
            Inbound::Datagram(r) => r.spin = spin,
            Inbound::FanIn(r) => r.spin = spin,
            Inbound::Packet(r) => r.spin = spin,
            Inbound::Shm(_) => {}
        }
    }

    /// Keeps taking new senders after every sender so far is gone
    /// (`serve=true`): a listener keeps accepting, a FIFO keeps its own
    /// write end (no end of file), a datagram reader ignores byes. Rings
    /// and pipes take it as `false`.
    pub(crate) fn set_serve(&mut self, serve: bool) {
        match self {
            Inbound::Stream(r) => r.serve = serve,
            Inbound::Datagram(r) => r.serve(serve),
            Inbound::FanIn(r) => r.serve = serve,
            Inbound::Packet(_) | Inbound::Shm(_) => {}
        }
    }

    /// Bad datagrams dropped without a report (a flood is reported once a
    /// second; 0 on links with connections, which report every one).
    pub(crate) fn unreported_errors(&self) -> u64 {
        match self {
            Inbound::Datagram(r) => r.unreported_total(),
            _ => 0,
        }
    }

    /// Messages lost to an `overflow=drop-oldest` ring, or by a remote
    /// receiver that fell behind (0 elsewhere).
    pub(crate) fn missed(&self) -> u64 {
        match self {
            Inbound::Shm(r) => r.missed(),
            Inbound::Datagram(r) => r.missed(),
            _ => 0,
        }
    }

    /// The next message if one is there now and lending it is all there
    /// is to do; `None` sends the caller to [`Inbound::recv`]. Only a ring
    /// has such a busy path (`ShmReader::recv_ready`: a committed record
    /// lent with no syscall); the kernel transports' receive is a syscall
    /// either way.
    #[inline]
    pub(crate) fn recv_ready(&mut self) -> Option<&[u8]> {
        match self {
            Inbound::Shm(r) => r.recv_ready(),
            _ => None,
        }
    }

    pub(crate) fn recv(&mut self, deadline: Deadline<'_>) -> Result<&[u8], Fail> {
        match self {
            Inbound::Stream(r) => r.recv(deadline),
            Inbound::Packet(r) => r.recv(deadline),
            Inbound::Datagram(r) => r.recv(deadline),
            Inbound::FanIn(r) => r.recv(deadline),
            Inbound::Shm(r) => r.recv(deadline),
        }
    }
}

/// A connecting sender's view of the peer's hello, which arrives only when
/// the peer gets round to accepting. Until then each send looks for it
/// without blocking (one `MSG_DONTWAIT` read); once it is there, its type
/// is checked and its `max_msg` applies.
#[derive(Debug)]
pub(crate) enum PeerHello {
    Stream(stream::StreamReader),
    Packet(packet::PacketReader),
}

impl PeerHello {
    /// `Ok(Some(hello))` once the peer's hello has arrived and fits this end.
    pub(crate) fn poll(&mut self) -> Result<Option<Hello>, Fail> {
        match self {
            PeerHello::Stream(r) => r.try_hello(),
            PeerHello::Packet(r) => match r.read_packet(true)? {
                Some(_) => Ok(r.peer().cloned()),
                None => Ok(None),
            },
        }
    }
}

/// Applies the peer's hello to a writer once it arrives; see [`PeerHello`].
#[derive(Debug, Default)]
pub(crate) struct AwaitPeer(Option<PeerHello>);

impl AwaitPeer {
    pub(crate) fn new(pending: PeerHello) -> Self {
        AwaitPeer(Some(pending))
    }

    /// Before a send: the peer's `max_msg` once known, or the error its
    /// hello revealed (type mismatch, not ipcx).
    pub(crate) fn check(&mut self) -> Result<Option<u32>, Fail> {
        let Some(pending) = &mut self.0 else {
            return Ok(None);
        };
        match pending.poll() {
            Ok(Some(hello)) => {
                self.0 = None;
                Ok(Some(hello.max_msg))
            }
            Ok(None) => Ok(None),
            Err(Fail::Disconnected) => {
                self.0 = None;
                Err(Fail::Disconnected)
            }
            Err(e) => {
                self.0 = None;
                Err(e)
            }
        }
    }

    /// After a send found the peer gone: its hello may say why.
    pub(crate) fn explain(&mut self, fail: Fail) -> Fail {
        match (&fail, self.check()) {
            (Fail::Disconnected, Err(Fail::Error(e))) => Fail::Error(e),
            _ => fail,
        }
    }
}

/// The hello as it goes on the wire: after the stream marker, or as a packet.
pub(crate) fn encode_hello(hello: &Hello, packets: bool) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4 + crate::wire::hello::MAX_LEN);
    if packets {
        buf.push(PACKET_HELLO);
    } else {
        buf.extend_from_slice(&HELLO_MARKER.to_le_bytes());
    }
    hello.encode(&mut buf);
    buf
}
