//! [`Waiter`]: sleeps, inside a tokio task, on what an end's readiness
//! ([`Armed`]) names — its fd through `AsyncFd`, a ring's doorbell the
//! same way, a System V queue by growing pauses — and on its stop.
//!
//! tokio's reactor is edge-triggered; an end's readiness is a level (the
//! blocking `Select` polls it). So after tokio reports an fd ready, the
//! readiness is cleared and the level is looked at with one `poll`
//! without a timeout: ready means try again, not ready means wait for the
//! next edge. A wake is never lost, and a spurious one costs one syscall.

use std::future::Future;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustix::event::PollFlags;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::time::{Instant, Sleep};

use crate::link::ready::Armed;
use crate::Stop;

/// The first pause on an end without an fd (System V queues), doubled
/// after each empty look up to [`LONGEST_PAUSE`], as `Select` does.
const FIRST_PAUSE: Duration = Duration::from_micros(50);
const LONGEST_PAUSE: Duration = Duration::from_millis(5);

/// How long an end with nothing to do tries again before it sleeps: the
/// async reading of `wait=`. Trying again means yielding to the other
/// tasks and being polled once they had their turn, never spinning on
/// the thread: `wait=adaptive` (the default) keeps trying for 20 µs, so
/// a busy stream never arms the doorbell or the reactor (no system call
/// per message on `shm:`); `wait=block` sleeps at once, as tokio's own
/// sockets do; `wait=spin` never sleeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Patience {
    Sleep,
    For(Duration),
    Forever,
}

impl Patience {
    pub(super) fn of(mode: crate::endpoint::WaitMode) -> Patience {
        match mode {
            crate::endpoint::WaitMode::Block => Patience::Sleep,
            crate::endpoint::WaitMode::Adaptive => Patience::For(Duration::from_micros(20)),
            crate::endpoint::WaitMode::Spin => Patience::Forever,
        }
    }
}

/// One end's sleeping place in a tokio runtime. Registered lazily, at the
/// first wait (so an end can be made outside a runtime), over duplicates
/// of the fds: the same socket may be watched by several ends (clones)
/// and tokio refuses one fd registered twice.
#[derive(Debug, Default)]
pub(super) struct Waiter {
    watched: Option<Watched>,
    stop: Option<AsyncFd<OwnedFd>>,
    stop_checked: bool,
    timer: Option<Pin<Box<Sleep>>>,
    pause: Option<Duration>,
    /// When the end first found nothing to do, since it last did something.
    idle_since: Option<std::time::Instant>,
    /// Quick looks again, in place, since it last did something.
    spun: u32,
}

/// What to do after a try found nothing (see [`Waiter::next_try`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Again {
    /// Look again at once (a ring: a few hundred spins, in place).
    Now,
    /// Look again after the other tasks had their turn (already woken).
    Soon,
    /// Sleep on what the end is ready on.
    Sleep,
}

/// Looks in place before yielding, on a ring (a memory load each, so
/// the whole spin costs a few microseconds at most); kernel transports
/// would pay a system call per look.
const RING_SPINS: u32 = 32;
const PAUSES_PER_SPIN: u32 = 16;

/// An fd under tokio's watch, and the end's fd it duplicates.
#[derive(Debug)]
struct Watched {
    of: RawFd,
    fd: AsyncFd<OwnedFd>,
}

impl Waiter {
    /// `Ready` when the operation is worth trying again: the end's fd (or
    /// doorbell) became ready, the stop came, a recheck or pause is over.
    /// `Pending` with the task's waker registered for all of them.
    pub(super) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        armed: Armed,
        stop: Option<&Stop>,
    ) -> Poll<io::Result<()>> {
        if self.poll_stop(cx, stop)?.is_ready() {
            return Poll::Ready(Ok(()));
        }
        match armed {
            Armed::Now => {
                self.rest();
                Poll::Ready(Ok(()))
            }
            Armed::Fd {
                fd,
                events,
                recheck,
            } => {
                self.pause = None;
                if self.poll_fd(cx, &fd, events)?.is_ready() {
                    self.rest();
                    return Poll::Ready(Ok(()));
                }
                match recheck {
                    Some(after) => self.poll_timer(cx, after),
                    None => {
                        self.timer = None;
                        Poll::Pending
                    }
                }
            }
            Armed::NoFd => {
                let pause = self.pause.unwrap_or(FIRST_PAUSE);
                let woke = self.poll_timer(cx, pause);
                if woke.is_ready() {
                    self.pause = Some((pause * 2).min(LONGEST_PAUSE));
                }
                woke
            }
        }
    }

    /// After an operation went through: the next wait starts afresh.
    pub(super) fn rest(&mut self) {
        self.timer = None;
        self.pause = None;
        self.idle_since = None;
        self.spun = 0;
    }

    /// After a try found nothing: look again in place (`ring`: a
    /// shared-memory end), after the other tasks had their turn, or sleep
    /// (see [`Patience`]).
    pub(super) fn next_try(
        &mut self,
        cx: &mut Context<'_>,
        patience: Patience,
        ring: bool,
    ) -> Again {
        let again = match patience {
            Patience::Sleep => return Again::Sleep,
            Patience::Forever => true,
            Patience::For(limit) => {
                if ring && self.spun < RING_SPINS {
                    self.spun += 1;
                    for _ in 0..PAUSES_PER_SPIN {
                        std::hint::spin_loop();
                    }
                    return Again::Now;
                }
                let now = std::time::Instant::now();
                now.duration_since(*self.idle_since.get_or_insert(now)) < limit
            }
        };
        if again {
            cx.waker().wake_by_ref();
            Again::Soon
        } else {
            Again::Sleep
        }
    }

    fn poll_fd(
        &mut self,
        cx: &mut Context<'_>,
        fd: &Arc<OwnedFd>,
        events: PollFlags,
    ) -> io::Result<Poll<()>> {
        let raw = fd.as_raw_fd();
        if self.watched.as_ref().is_none_or(|w| w.of != raw) {
            self.watched = None; // deregistered before the new one
            self.watched = Some(Watched {
                of: raw,
                fd: watch(fd.as_fd(), interest(events))?,
            });
        }
        let Some(watched) = &self.watched else {
            return Ok(Poll::Pending);
        };
        // At most twice: a readiness whose level is gone is cleared, and
        // the second poll registers the waker for the next edge.
        for _ in 0..2 {
            let ready = if events.contains(PollFlags::IN) {
                watched.fd.poll_read_ready(cx)
            } else {
                watched.fd.poll_write_ready(cx)
            };
            match ready {
                Poll::Ready(Ok(mut guard)) => {
                    guard.clear_ready();
                    if crate::sys::wait::ready_now(watched.fd.get_ref().as_fd(), events) {
                        return Ok(Poll::Ready(()));
                    }
                }
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(Poll::Pending),
            }
        }
        Ok(Poll::Pending)
    }

    /// Ready once the stop came; registers for it otherwise.
    fn poll_stop(&mut self, cx: &mut Context<'_>, stop: Option<&Stop>) -> io::Result<Poll<()>> {
        let Some(stop) = stop else {
            return Ok(Poll::Pending);
        };
        if stop.is_stopped() {
            return Ok(Poll::Ready(()));
        }
        if !self.stop_checked {
            self.stop_checked = true;
            self.stop = Some(watch(stop.as_fd(), Interest::READABLE)?);
        }
        if let Some(fd) = &self.stop {
            if let Poll::Ready(Ok(mut guard)) = fd.poll_read_ready(cx) {
                guard.clear_ready();
                if stop.is_stopped() {
                    return Ok(Poll::Ready(()));
                }
                // Registers the waker again for the next edge.
                let _ = fd.poll_read_ready(cx);
            }
        }
        Ok(Poll::Pending)
    }

    /// A timer of `after` from the first time it is asked for, kept over
    /// spurious polls until it fires.
    fn poll_timer(&mut self, cx: &mut Context<'_>, after: Duration) -> Poll<io::Result<()>> {
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(Instant::now() + after)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.timer = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

fn interest(events: PollFlags) -> Interest {
    if events.contains(PollFlags::IN) {
        Interest::READABLE
    } else {
        Interest::WRITABLE
    }
}

/// A duplicate of `fd` under tokio's watch.
#[allow(unsafe_code)]
pub(super) fn watch(
    fd: std::os::fd::BorrowedFd<'_>,
    interest: Interest,
) -> io::Result<AsyncFd<OwnedFd>> {
    let dup = rustix::io::fcntl_dupfd_cloexec(fd, 0)?;
    // SAFETY: the `OwnedFd` is moved into the `AsyncFd`: it stays open and
    // names the same file description for as long as the `AsyncFd` lives.
    Ok(unsafe { AsyncFd::register_with_interest(dup, interest) }?)
}
