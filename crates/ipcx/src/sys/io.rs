//! Reads and writes: one-syscall vectored writes and reads that work on
//! pipes and sockets alike, packets with their full length, peer
//! credentials, and what an error means.

use std::io::{self, IoSlice};
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::OnceLock;

use rustix::io::Errno;
use rustix::net::{RecvFlags, SendFlags};

/// What kind of file an fd is: decides how it is read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A pipe or FIFO: `readv`/`writev`; blocking fd, polled first when a
    /// deadline is set.
    Pipe,
    /// A socket: `recv`/`sendmsg` with `MSG_DONTWAIT` when a deadline is set
    /// and `MSG_NOSIGNAL` always.
    Socket,
}

/// Writes as much of `parts[..]` (skipping the first `skip` bytes, and at
/// most `max` bytes) as one syscall takes. With `dont_wait` a socket
/// returns `WouldBlock` instead of blocking; a pipe write of at most
/// `PIPE_BUF` bytes does not block once `poll` said it is writable.
pub(crate) fn write_parts(
    fd: BorrowedFd<'_>,
    kind: FdKind,
    parts: &[&[u8]],
    mut skip: usize,
    mut max: usize,
    dont_wait: bool,
) -> io::Result<usize> {
    let mut slices: [IoSlice<'_>; 3] = [IoSlice::new(&[]), IoSlice::new(&[]), IoSlice::new(&[])];
    let mut n = 0;
    for part in parts.iter().take(slices.len()) {
        if skip >= part.len() {
            skip -= part.len();
            continue;
        }
        let take = (part.len() - skip).min(max);
        if take == 0 {
            break;
        }
        slices[n] = IoSlice::new(&part[skip..skip + take]);
        max -= take;
        skip = 0;
        n += 1;
    }
    let slices = &slices[..n];
    // Small pieces are copied into one buffer and written with `write` or
    // `send`: the kernel's `writev`/`sendmsg` path (copying the iovec array
    // in, building an iterator over it) costs more than the copy, up to
    // about 2 KiB (docs/performance.md).
    let total: usize = slices.iter().map(|s| s.len()).sum();
    if let ([_, _, ..], true) = (slices, total <= GATHER_MAX) {
        return GATHERED.with_borrow_mut(|buf| {
            let mut at = 0;
            for s in slices {
                buf[at..at + s.len()].copy_from_slice(s);
                at += s.len();
            }
            write_one(fd, kind, &buf[..total], dont_wait)
        });
    }
    if let [one] = slices {
        return write_one(fd, kind, one, dont_wait);
    }
    loop {
        let result = match kind {
            FdKind::Pipe => rustix::io::writev(fd, slices),
            FdKind::Socket => {
                rustix::net::sendmsg(fd, slices, &mut Default::default(), send_flags(dont_wait))
            }
        };
        match result {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// One `write` or `send` of `buf`, retried on EINTR.
fn write_one(fd: BorrowedFd<'_>, kind: FdKind, buf: &[u8], dont_wait: bool) -> io::Result<usize> {
    loop {
        let result = match kind {
            FdKind::Pipe => rustix::io::write(fd, buf),
            FdKind::Socket => rustix::net::send(fd, buf, send_flags(dont_wait)),
        };
        match result {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

fn send_flags(dont_wait: bool) -> SendFlags {
    if dont_wait {
        SendFlags::NOSIGNAL | SendFlags::DONTWAIT
    } else {
        SendFlags::NOSIGNAL
    }
}

thread_local! {
    /// Where [`write_parts`] gathers small pieces (allocated once per thread,
    /// not zeroed per call as a stack array would be).
    static GATHERED: std::cell::RefCell<Box<[u8; GATHER_MAX]>> =
        std::cell::RefCell::new(Box::new([0; GATHER_MAX]));
}

/// Up to this many bytes in several pieces are written as one copied
/// buffer (see [`write_parts`]).
const GATHER_MAX: usize = 2048;

/// Reads what is there into `buf` with one syscall (blocking unless
/// `dont_wait` on a socket). `Ok(0)` is end of stream.
pub(crate) fn read_some(
    fd: BorrowedFd<'_>,
    kind: FdKind,
    buf: &mut [u8],
    dont_wait: bool,
) -> io::Result<usize> {
    after_reset(|| read_once(fd, kind, buf, dont_wait))
}

/// A Unix socket whose peer closed with unread input reports `ECONNRESET`
/// once, *before* the data the peer sent is read; that data is still queued
/// and must not be lost. So after a reset, read once more: it returns the
/// queued bytes, or end of stream.
fn after_reset(mut read: impl FnMut() -> io::Result<usize>) -> io::Result<usize> {
    match read() {
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => read().or(Ok(0)),
        other => other,
    }
}

fn read_once(
    fd: BorrowedFd<'_>,
    kind: FdKind,
    buf: &mut [u8],
    dont_wait: bool,
) -> io::Result<usize> {
    loop {
        let result = match kind {
            FdKind::Pipe => rustix::io::read(fd, &mut *buf),
            FdKind::Socket => {
                let flags = if dont_wait {
                    RecvFlags::DONTWAIT
                } else {
                    RecvFlags::empty()
                };
                rustix::net::recv(fd, &mut *buf, flags).map(|(n, _)| n)
            }
        };
        match result {
            Err(Errno::INTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// Receives one packet or datagram; returns its full length, which is more
/// than `buf.len()` when it was truncated.
pub(crate) fn recv_packet(
    fd: BorrowedFd<'_>,
    buf: &mut [u8],
    dont_wait: bool,
) -> io::Result<usize> {
    let mut flags = RecvFlags::TRUNC;
    if dont_wait {
        flags |= RecvFlags::DONTWAIT;
    }
    after_reset(|| loop {
        match rustix::net::recv(fd, &mut *buf, flags) {
            Err(Errno::INTR) => continue,
            other => return other.map(|(_, full)| full).map_err(io::Error::from),
        }
    })
}

/// Who is on the other end of a Unix socket, from `SO_PEERCRED`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerCred {
    /// Process id of the peer when it connected.
    pub pid: i32,
    /// Its effective user id.
    pub uid: u32,
    /// Its effective group id.
    pub gid: u32,
}

pub(crate) fn peer_cred(fd: impl AsFd) -> io::Result<PeerCred> {
    let cred = rustix::net::sockopt::socket_peercred(fd)?;
    Ok(PeerCred {
        pid: cred.pid.as_raw_nonzero().get(),
        uid: cred.uid.as_raw(),
        gid: cred.gid.as_raw(),
    })
}

/// `net.core.wmem_max`: the largest send buffer an unprivileged socket may
/// ask for, and so the largest packet a Unix datagram/seqpacket can carry.
pub(crate) fn wmem_max() -> usize {
    static CACHE: OnceLock<usize> = OnceLock::new();
    *CACHE.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/net/core/wmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(212_992)
    })
}

/// A random u32 without a dependency: std's per-process random hash keys,
/// mixed with the pid and a counter.
pub(crate) fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.finish() as u32
}

/// Whether an I/O error means the peer is gone.
pub(crate) fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::NotConnected
    )
}
