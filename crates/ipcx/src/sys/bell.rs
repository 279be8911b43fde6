//! Doorbells: an fd a shared-memory end can sleep on in `poll` next to
//! other fds (a `Select`, a program's own poll loop, an async runtime),
//! rung by the other side only when it finds a sleeper (the ring's
//! `bells` bits), never on the hot path.
//!
//! A doorbell is a Unix datagram socket bound in the abstract namespace
//! under a name derived from the segment and the slot: nothing is left in
//! any filesystem when a process dies, and the ringer needs no fd passed to
//! it. A ring is one empty datagram, sent without blocking (a full queue
//! already means "rung"). Anyone on the machine could ring it; a ring is
//! only a hint to look at the ring again, so the worst a stranger can do is
//! wake the sleeper for nothing.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use rustix::net::{
    bind, recv, sendto, socket_with, AddressFamily, RecvFlags, SendFlags, SocketAddrUnix,
    SocketFlags, SocketType,
};

/// Which doorbell of a segment: a reader slot's, or the producer's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Door {
    Reader(usize),
    Producer,
}

/// The abstract socket name of `door` on the segment named `segment`.
pub(crate) fn address(segment: &str, door: Door) -> io::Result<SocketAddrUnix> {
    let hash = super::presence::name_hash(segment);
    let name = match door {
        Door::Reader(slot) => format!("ipcx-bell.{hash:016x}.r{slot}"),
        Door::Producer => format!("ipcx-bell.{hash:016x}.p"),
    };
    Ok(SocketAddrUnix::new_abstract_name(name.as_bytes())?)
}

/// The sleeping side's end: readable once rung.
#[derive(Debug)]
pub(crate) struct Bell {
    fd: OwnedFd,
}

impl Bell {
    /// Binds the doorbell. Fails if the name is taken (another process of
    /// the same segment and slot, or a squatter): the end then has no
    /// doorbell and says so.
    pub(crate) fn bind(addr: &SocketAddrUnix) -> io::Result<Bell> {
        let fd = socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        bind(&fd, addr)?;
        Ok(Bell { fd })
    }

    /// The socket, to keep and poll.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

/// Takes every ring queued on a doorbell so far (after waking, before
/// looking again).
pub(crate) fn drain(bell: &OwnedFd) {
    let mut byte = [0u8; 1];
    while recv(bell, &mut byte[..], RecvFlags::DONTWAIT).is_ok() {}
}

/// Rings doorbells: one unbound socket per process, made on first use.
pub(crate) fn ring(addr: &SocketAddrUnix) {
    static RINGER: OnceLock<Option<OwnedFd>> = OnceLock::new();
    let ringer = RINGER.get_or_init(|| {
        socket_with(
            AddressFamily::UNIX,
            SocketType::DGRAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .ok()
    });
    if let Some(fd) = ringer {
        // Nobody bound (the sleeper left) or its queue is full (rung
        // already): either way there is nothing more to do.
        let _ = sendto(fd, &[], SendFlags::DONTWAIT | SendFlags::NOSIGNAL, addr);
    }
}
