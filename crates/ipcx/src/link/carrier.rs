//! What carries one whole message for the datagram link: a datagram
//! socket, a POSIX queue or a System V queue. Each keeps the contract's
//! waiting rules: block without a deadline, give up at it with one.

use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::PollFlags;

use super::packet::send_whole;
use super::queue_peers::QueuePeers;
use super::ready::Armed;
use crate::error::Fail;
use crate::sys::mqueue::PosixMq;
use crate::sys::sysv::SysvQueue;
use crate::sys::{self, Deadline, Woke};

#[derive(Debug)]
pub(crate) enum Carrier {
    /// A connected (sending) or bound (receiving) datagram socket.
    Socket(Arc<OwnedFd>),
    /// A POSIX queue; messages go out with `priority`.
    PosixMq {
        mq: PosixMq,
        priority: u32,
        scratch: Vec<u8>,
        peers: QueuePeers,
    },
    /// A System V queue; messages go out as type `mtype`, and are taken by
    /// the `msgrcv` rule for `mtype` on receive. `max` is `kernel.msgmax`.
    SysvMq {
        queue: SysvQueue,
        mtype: i64,
        max: usize,
        scratch: Vec<u8>,
        peers: QueuePeers,
    },
    /// A remote end (`nats://`): queues to and from a task on a runtime.
    #[cfg(feature = "remote")]
    Remote(super::bridge::Bridged),
}

/// One received message: where it is in the buffer, and its full length
/// (more than the range when the buffer was too small and it was cut).
pub(crate) struct Received {
    pub(crate) range: Range<usize>,
    pub(crate) full_len: usize,
}

impl Carrier {
    /// Buffer space a receiver needs. Queues get room for the largest
    /// message they can hold, whatever `max_msg` says: a POSIX receive
    /// refuses a smaller buffer, and a System V one would leave the message
    /// stuck at the head of the queue. The reader checks `max_msg` itself.
    pub(crate) fn buffer_len(&self, wanted: usize) -> usize {
        match self {
            Carrier::Socket(_) => wanted,
            #[cfg(feature = "remote")]
            Carrier::Remote(_) => wanted,
            Carrier::PosixMq { mq, .. } => mq.msgsize,
            Carrier::SysvMq { max, .. } => sys::sysv::buffer_len(*max),
        }
    }

    /// Stops taking messages: how many a draining receiver may still take.
    /// A Unix datagram socket is shut for reading (its senders' later sends
    /// fail, so they know): what is queued, at most a full buffer's worth.
    /// A queue: what it holds now (later messages stay in it for the next
    /// receiver). UDP cannot refuse senders: at most what its receive
    /// buffer could hold at the stop (one datagram per 256 bytes of it).
    pub(crate) fn stop(&mut self) -> usize {
        match self {
            Carrier::Socket(fd) => {
                let _ = rustix::net::shutdown(&*fd, rustix::net::Shutdown::Read);
                let buffer = rustix::net::sockopt::socket_recv_buffer_size(&*fd).unwrap_or(1 << 20);
                buffer / 256 + 1
            }
            Carrier::PosixMq { mq, .. } => mq.queued().unwrap_or(0),
            Carrier::SysvMq { queue, .. } => queue.queued().unwrap_or(0),
            // A remote receiver unsubscribes: what it holds is left.
            #[cfg(feature = "remote")]
            Carrier::Remote(remote) => remote.stop(),
        }
    }

    /// Readiness: the socket's or POSIX queue's fd for `events`; a System V
    /// queue has none (`len`: the message a send waits to fit).
    pub(crate) fn arm(&self, events: PollFlags, len: usize) -> Armed {
        match self {
            Carrier::Socket(fd) => Armed::fd(fd, events),
            #[cfg(feature = "remote")]
            Carrier::Remote(remote) => remote.arm(),
            // A sender sleeping on a full queue looks again every so often
            // whether its receiver is still there (see `wait_for_room`).
            Carrier::PosixMq { mq, .. } if events.contains(PollFlags::OUT) => Armed::Fd {
                fd: mq.shared_fd().clone(),
                events,
                recheck: Some(super::queue_peers::CHECK_EVERY),
            },
            Carrier::PosixMq { mq, .. } => Armed::fd(mq.shared_fd(), events),
            // No fd: whether it is worth a try now, from the queue's count.
            Carrier::SysvMq { queue, .. } => match (events == PollFlags::IN, queue.stat()) {
                (true, Ok(s)) if s.messages > 0 => Armed::Now,
                (false, Ok(s)) if s.bytes + len.max(1) <= s.limit => Armed::Now,
                (_, Err(_)) => Armed::Now,
                _ => Armed::NoFd,
            },
        }
    }

    /// Messages lost before this end could read them (a remote receiver
    /// that fell behind; 0 for the kernel's queues, which make senders wait).
    pub(crate) fn missed(&self) -> u64 {
        match self {
            #[cfg(feature = "remote")]
            Carrier::Remote(remote) => remote.missed(),
            _ => 0,
        }
    }

    /// The fd readiness is waited on, if the carrier has one.
    pub(crate) fn poll_fd(&self) -> Option<Arc<OwnedFd>> {
        match self {
            Carrier::Socket(fd) => Some(fd.clone()),
            Carrier::PosixMq { mq, .. } => Some(mq.shared_fd().clone()),
            Carrier::SysvMq { .. } => None,
            #[cfg(feature = "remote")]
            Carrier::Remote(remote) => Some(remote.fd().clone()),
        }
    }

    pub(crate) fn send(
        &mut self,
        parts: &[&[u8]],
        deadline: Deadline<'_>,
        spin: sys::Spin,
        label: &Arc<str>,
    ) -> Result<(), Fail> {
        match self {
            Carrier::Socket(fd) => send_whole(fd, parts, deadline, spin, label),
            #[cfg(feature = "remote")]
            Carrier::Remote(remote) => remote.send(parts, deadline, label),
            Carrier::PosixMq {
                mq,
                priority,
                scratch,
                peers,
            } => {
                scratch.clear();
                parts.iter().for_each(|p| scratch.extend_from_slice(p));
                let fail = |e: io::Error| match e.raw_os_error() {
                    Some(libc::EMSGSIZE) => {
                        Fail::too_big_for(scratch.len(), mq.msgsize, "the queue's msgsize", label)
                    }
                    _ => Fail::io("mq_send failed", e, label),
                };
                // Room now (the busy path): one call, no clock read.
                match mq.try_send(scratch, *priority) {
                    Ok(()) => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(fail(e)),
                }
                wait_for_room(peers, deadline, |slice| {
                    match mq.send(scratch, *priority, slice) {
                        Ok(()) => Ok(true),
                        // The slice passed (by the wall clock the call
                        // uses): poll says whether it did by ours too.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            wait(mq.as_fd(), PollFlags::OUT, slice, label).map(|()| false)
                        }
                        Err(e) => Err(fail(e)),
                    }
                })
            }
            Carrier::SysvMq {
                queue,
                mtype,
                scratch,
                peers,
                ..
            } => {
                let mut pause = Duration::from_micros(50);
                let unlimited = deadline.is_unlimited();
                let try_send = |scratch: &mut Vec<u8>, nowait: bool| {
                    match queue.send(*mtype, parts, scratch, nowait) {
                        Ok(()) => Ok(true),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
                        // The queue was removed (its creator is done).
                        Err(e) if matches!(e.raw_os_error(), Some(libc::EIDRM | libc::EINVAL)) => {
                            Err(Fail::Disconnected)
                        }
                        Err(e) => Err(Fail::io("msgsnd failed", e, label)),
                    }
                };
                if try_send(scratch, true)? {
                    return Ok(());
                }
                wait_for_room(peers, deadline, |slice| {
                    if try_send(scratch, slice.is_bounded())? {
                        return Ok(true);
                    }
                    pause_until(slice, &mut pause, unlimited).map(|()| false)
                })
            }
        }
    }

    pub(crate) fn recv(
        &mut self,
        buf: &mut [u8],
        deadline: Deadline<'_>,
        spin: sys::Spin,
        label: &Arc<str>,
    ) -> Result<Received, Fail> {
        match self {
            #[cfg(feature = "remote")]
            Carrier::Remote(remote) => remote.recv(buf, deadline, spin, label),
            Carrier::Socket(fd) => loop {
                // Poll for a while with non-blocking receives (`wait=`,
                // sys::Spin; cut to the deadline), then sleep.
                let mut take = || match sys::recv_packet(fd.as_fd(), buf, true) {
                    Ok(n) => Ok(Some(n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
                    Err(e) => Err(e),
                };
                let mut got = sys::spin_for(spin, deadline, &mut take)
                    .map_err(|e| Fail::io("receive failed", e, label))?;
                if got.is_none() && !deadline.is_bounded() {
                    got = Some(
                        sys::recv_packet(fd.as_fd(), buf, false)
                            .map_err(|e| Fail::io("receive failed", e, label))?,
                    );
                } else if got.is_none() && spin.is_off() {
                    got = take().map_err(|e| Fail::io("receive failed", e, label))?;
                }
                match got {
                    Some(n) => {
                        return Ok(Received {
                            range: 0..n.min(buf.len()),
                            full_len: n,
                        })
                    }
                    // A socket shut for reading (a stop) polls readable
                    // with nothing to take: the deadline still ends it.
                    None if deadline.has_passed() => return Err(Fail::NotReady),
                    None => wait(fd.as_fd(), PollFlags::IN, deadline, label)?,
                }
            },
            Carrier::PosixMq { mq, .. } => loop {
                // Poll for a while with receives that return at once
                // (`wait=`, see sys::Spin; cut to the deadline), then sleep.
                let got =
                    sys::spin_for(spin, deadline, || Ok(mq.try_receive(buf).ok())).unwrap_or(None);
                if let Some((n, _)) = got {
                    return Ok(Received {
                        range: 0..n,
                        full_len: n,
                    });
                }
                match mq.receive(buf, deadline) {
                    Ok((n, _priority)) => {
                        return Ok(Received {
                            range: 0..n,
                            full_len: n,
                        })
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        wait(mq.as_fd(), PollFlags::IN, deadline, label)?
                    }
                    Err(e) => return Err(Fail::io("mq_receive failed", e, label)),
                }
            },
            Carrier::SysvMq { queue, mtype, .. } => {
                let mut pause = Duration::from_micros(50);
                loop {
                    match queue.recv(buf, *mtype, deadline.is_bounded()) {
                        Ok((_, range)) => {
                            return Ok(Received {
                                full_len: range.len(),
                                range,
                            })
                        }
                        Err(e) if e.raw_os_error() == Some(libc::ENOMSG) => {
                            pause_until(deadline, &mut pause, deadline.is_unlimited())?
                        }
                        Err(e) if matches!(e.raw_os_error(), Some(libc::EIDRM | libc::EINVAL)) => {
                            return Err(Fail::Disconnected)
                        }
                        Err(e) => return Err(Fail::io("msgrcv failed", e, label)),
                    }
                }
            }
        }
    }
}

/// A queue send that found no room: `attempt(slice)` sends (`true`) or
/// waits for room until `slice` (`false`, or `NotReady` once it passed).
/// A sender waits in slices of [`CHECK_EVERY`](super::queue_peers::CHECK_EVERY)
/// and, after each and when its deadline passes, looks whether its
/// receiver is gone (see [`queue_peers`](super::queue_peers)): a full queue
/// nobody will drain is "disconnected", not "full".
fn wait_for_room(
    peers: &mut QueuePeers,
    deadline: Deadline<'_>,
    mut attempt: impl FnMut(Deadline<'_>) -> Result<bool, Fail>,
) -> Result<(), Fail> {
    let since = std::time::Instant::now();
    loop {
        let slice = peers.watch().map_or(deadline, |w| w.slice(since, deadline));
        match attempt(slice) {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(Fail::NotReady) => {
                if peers.watch().is_some_and(|w| w.receiver_gone()) {
                    return Err(Fail::Disconnected);
                }
                if deadline.has_passed() {
                    return Err(Fail::NotReady);
                }
            }
            Err(f) => return Err(f),
        }
    }
}

fn wait(
    fd: std::os::fd::BorrowedFd<'_>,
    events: PollFlags,
    deadline: Deadline<'_>,
    label: &Arc<str>,
) -> Result<(), Fail> {
    match sys::wait(fd, events, deadline) {
        Ok(woke) => woke.into(),
        Err(e) => Err(Fail::io("poll", e, label)),
    }
}

/// System V queues cannot be polled: pause until the deadline, growing to
/// 2 ms with a time limit and to 5 ms when the caller's wait has none
/// (`unlimited`: only a stop, or a sender's slices, bound it; an idle end
/// then looks at its queue 200 times a second; the stop itself wakes the
/// pause at once).
fn pause_until(deadline: Deadline<'_>, pause: &mut Duration, unlimited: bool) -> Result<(), Fail> {
    if !deadline.is_bounded() {
        return Ok(());
    }
    let woke = sys::pause(*pause, deadline);
    let most = if unlimited { 5 } else { 2 };
    *pause = (*pause * 2).min(Duration::from_millis(most));
    match woke {
        Woke::Ready => Ok(()),
        other => other.into(),
    }
}
