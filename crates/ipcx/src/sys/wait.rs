//! Waiting: polling before sleeping (`wait=`), sleeping on an fd with a
//! deadline and a stop, and the time spent waiting (for `ipcx::stats`).

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use super::deadline::far_future;
use super::Deadline;

thread_local! {
    /// Nanoseconds this thread spent waiting in ipcx's waits (poll, futex)
    /// since the channel layer last took them (see `stats`).
    static BLOCKED_NS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Adds the time until it is dropped to this thread's waiting time.
pub(crate) struct BlockedTimer(Instant);

impl BlockedTimer {
    pub(crate) fn start() -> BlockedTimer {
        BlockedTimer(Instant::now())
    }
}

impl Drop for BlockedTimer {
    fn drop(&mut self) {
        let ns = self.0.elapsed().as_nanos() as u64;
        BLOCKED_NS.with(|b| b.set(b.get().saturating_add(ns)));
    }
}

/// The waiting time noted since the last call (and resets it).
#[inline]
pub(crate) fn take_blocked() -> u64 {
    BLOCKED_NS.with(|b| b.replace(0))
}

/// How a wait ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Woke {
    /// What was waited for is ready (or in error: the next call says).
    Ready,
    /// The deadline passed.
    TimedOut,
    /// The deadline's stop was triggered.
    Stopped,
}

/// How long an end polls (without sleeping) before it blocks in the
/// kernel: the endpoint's `wait=`. A receiver that sleeps makes every send
/// pay for waking it (an inter-processor interrupt and a context switch,
/// several µs); one still polling when the message comes costs the sender
/// nothing extra. The same idea as the kernel's `SO_BUSY_POLL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Spin(Duration);

impl Spin {
    /// `wait=adaptive`, the default: poll for 20 µs, then sleep.
    pub(crate) const ADAPTIVE: Spin = Spin(Duration::from_micros(20));

    pub(crate) fn of(mode: crate::endpoint::WaitMode) -> Spin {
        match mode {
            crate::endpoint::WaitMode::Adaptive => Spin::ADAPTIVE,
            crate::endpoint::WaitMode::Block => Spin(Duration::ZERO),
            // Polls until the deadline, or practically forever.
            crate::endpoint::WaitMode::Spin => Spin(Duration::from_secs(100 * 365 * 24 * 3600)),
        }
    }

    /// An endpoint's spin. `wait=adaptive` does not poll on the remote
    /// schemes: a message there takes hundreds of µs, a 20 µs poll hardly
    /// ever catches one, and it takes a core from the client's own thread.
    pub(crate) fn of_endpoint(ep: &crate::endpoint::Endpoint) -> Spin {
        use crate::endpoint::{Scheme, WaitMode};
        let remote = matches!(ep.scheme(), Scheme::Nats | Scheme::Ws | Scheme::Wss);
        match ep.options().wait {
            WaitMode::Adaptive if remote => Spin(Duration::ZERO),
            mode => Spin::of(mode),
        }
    }

    /// When polling that starts `now` stops (never after the deadline).
    pub(crate) fn until(self, now: Instant, deadline: Deadline<'_>) -> Instant {
        let spin = now.checked_add(self.0).unwrap_or_else(far_future);
        deadline.instant().map_or(spin, |d| d.min(spin))
    }

    pub(crate) fn is_off(self) -> bool {
        self.0.is_zero()
    }
}

/// A short pause between two polls of the same queue: each poll takes the
/// queue's lock, which the sender needs too.
#[inline]
pub(crate) fn pause_between_polls() {
    for _ in 0..32 {
        std::hint::spin_loop();
    }
}

/// Tries `attempt` until it gives something or `spin` runs out, cut to
/// the deadline. The clock is read only after a first empty try, so a
/// channel that has data pays nothing for the spin. `Ok(None)`: nothing.
pub(crate) fn spin_for<T>(
    spin: Spin,
    deadline: Deadline<'_>,
    mut attempt: impl FnMut() -> io::Result<Option<T>>,
) -> io::Result<Option<T>> {
    if spin.is_off() {
        return Ok(None);
    }
    let mut until = None;
    loop {
        if let Some(got) = attempt()? {
            return Ok(Some(got));
        }
        let now = Instant::now();
        if now >= *until.get_or_insert_with(|| spin.until(now, deadline)) || deadline.is_stopped() {
            return Ok(None);
        }
        pause_between_polls();
    }
}

/// Polls `fd` without sleeping until it is readable, for as long as
/// `spin` says (cut to the deadline). `Ok(true)`: readable now.
pub(crate) fn spin_readable(
    fd: BorrowedFd<'_>,
    spin: Spin,
    deadline: Deadline<'_>,
) -> io::Result<bool> {
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let ready = spin_for(spin, deadline, || {
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        match poll(&mut fds, Some(&zero)) {
            Ok(0) | Err(Errno::INTR) => Ok(None),
            Ok(_) => Ok(Some(())),
            Err(e) => Err(e.into()),
        }
    })?;
    Ok(ready.is_some())
}

/// Waits until `fd` is ready for `events`, the deadline passes or its stop
/// is triggered. Error and hang-up conditions count as ready: the next I/O
/// call reports them. Retries on `EINTR` with the time that is left.
pub(crate) fn wait(
    fd: BorrowedFd<'_>,
    events: PollFlags,
    deadline: Deadline<'_>,
) -> io::Result<Woke> {
    let _timer = BlockedTimer::start();
    loop {
        if deadline.is_stopped() {
            return Ok(Woke::Stopped);
        }
        let timeout = timespec_until(deadline);
        let result = match deadline.stop() {
            None => poll(
                &mut [PollFd::from_borrowed_fd(fd, events)],
                timeout.as_ref(),
            ),
            Some(stop) => poll(
                &mut [
                    PollFd::from_borrowed_fd(fd, events),
                    PollFd::from_borrowed_fd(stop.fd(), PollFlags::IN),
                ],
                timeout.as_ref(),
            ),
        };
        match result {
            Ok(0) => {
                if deadline.has_passed() {
                    return Ok(Woke::TimedOut);
                }
            }
            // Either the fd or the stop: the stop is looked at first above,
            // so a stop with the fd also ready wins on the next turn only if
            // the fd was not ready; re-poll the fd alone to tell them apart.
            Ok(_) => {
                if deadline.is_stopped() && !ready_now(fd, events) {
                    return Ok(Woke::Stopped);
                }
                return Ok(Woke::Ready);
            }
            Err(Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether `fd` is ready for `events` right now (one `poll` with no wait).
pub(crate) fn ready_now(fd: BorrowedFd<'_>, events: PollFlags) -> bool {
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut [PollFd::from_borrowed_fd(fd, events)], Some(&zero)), Ok(n) if n > 0)
}

/// Sleeps for `pause` (cut to the deadline), waking at once on a stop.
pub(crate) fn pause(pause: Duration, deadline: Deadline<'_>) -> Woke {
    let until = Instant::now() + pause;
    let until = deadline.instant().map_or(until, |d| d.min(until));
    match deadline.stop() {
        Some(stop) => {
            let bounded = Deadline::at(until).with_stop(Some(stop));
            let _ = wait(stop.fd(), PollFlags::IN, bounded);
        }
        None => std::thread::sleep(until.saturating_duration_since(Instant::now())),
    }
    if deadline.is_stopped() {
        Woke::Stopped
    } else if deadline.has_passed() {
        Woke::TimedOut
    } else {
        Woke::Ready
    }
}

/// What is left of `deadline`, as a timeout for poll-like calls (`None`: forever).
pub(crate) fn timespec_until(deadline: Deadline<'_>) -> Option<Timespec> {
    deadline.left().map(|left| Timespec {
        tv_sec: left.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: left.subsec_nanos().into(),
    })
}
