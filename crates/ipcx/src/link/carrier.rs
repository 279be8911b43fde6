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
    },
    /// A System V queue; messages go out as type `mtype`, and are taken by
    /// the `msgrcv` rule for `mtype` on receive. `max` is `kernel.msgmax`.
    SysvMq {
        queue: SysvQueue,
        mtype: i64,
        max: usize,
        scratch: Vec<u8>,
    },
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
        }
    }

    /// Readiness: the socket's or POSIX queue's fd for `events`; a System V
    /// queue has none (`len`: the message a send waits to fit).
    pub(crate) fn arm(&self, events: PollFlags, len: usize) -> Armed {
        match self {
            Carrier::Socket(fd) => Armed::fd(fd, events),
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

    /// The fd readiness is waited on, if the carrier has one.
    pub(crate) fn poll_fd(&self) -> Option<Arc<OwnedFd>> {
        match self {
            Carrier::Socket(fd) => Some(fd.clone()),
            Carrier::PosixMq { mq, .. } => Some(mq.shared_fd().clone()),
            Carrier::SysvMq { .. } => None,
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
            Carrier::PosixMq {
                mq,
                priority,
                scratch,
            } => {
                scratch.clear();
                parts.iter().for_each(|p| scratch.extend_from_slice(p));
                loop {
                    match mq.send(scratch, *priority, deadline) {
                        Ok(()) => return Ok(()),
                        // The deadline passed (by the wall clock the call
                        // uses): poll says whether it did by ours too.
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            wait(mq.as_fd(), PollFlags::OUT, deadline, label)?
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                            return Err(Fail::too_big_for(
                                scratch.len(),
                                mq.msgsize,
                                "the queue's msgsize",
                                label,
                            ))
                        }
                        Err(e) => return Err(Fail::io("mq_send failed", e, label)),
                    }
                }
            }
            Carrier::SysvMq {
                queue,
                mtype,
                scratch,
                ..
            } => {
                let mut pause = Duration::from_micros(50);
                loop {
                    match queue.send(*mtype, parts, scratch, deadline.is_bounded()) {
                        Ok(()) => return Ok(()),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            pause_until(deadline, &mut pause)?
                        }
                        Err(e) if matches!(e.raw_os_error(), Some(libc::EIDRM | libc::EINVAL)) => {
                            // The queue was removed (its creator is done).
                            return Err(Fail::Disconnected);
                        }
                        Err(e) => return Err(Fail::io("msgsnd failed", e, label)),
                    }
                }
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
                            pause_until(deadline, &mut pause)?
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
/// 2 ms with a time limit and to 5 ms when only a stop bounds the wait
/// (an idle receiver then looks at its queue 200 times a second; the stop
/// itself wakes the pause at once).
fn pause_until(deadline: Deadline<'_>, pause: &mut Duration) -> Result<(), Fail> {
    if !deadline.is_bounded() {
        return Ok(());
    }
    let woke = sys::pause(*pause, deadline);
    let most = if deadline.is_unlimited() { 5 } else { 2 };
    *pause = (*pause * 2).min(Duration::from_millis(most));
    match woke {
        Woke::Ready => Ok(()),
        other => other.into(),
    }
}
