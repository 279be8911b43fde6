//! [`Stop`]: one cancellation handle that wakes every blocked send,
//! receive, accept and open it is given to, on every transport.
//!
//! A stop is a flag with two ways to wake sleepers: an `eventfd` that
//! becomes readable (every wait on an fd — sockets, pipes, FIFOs, POSIX
//! queues, the fan-in's epoll set — also waits on it) and a private futex
//! word that a shared-memory wait watches next to the ring's own futex
//! (`futex_waitv`). System V queues have no fd: a wait with a stop looks at
//! the queue with a growing pause (50 µs to 5 ms) and sleeps on the stop's
//! fd in between, so the stop itself is seen at once.
//!
//! Nothing on the hot path changes: a stop is looked at (one load of a line
//! nobody writes) before an operation, and waited on only where the end was
//! about to sleep anyway.
//!
//! ```
//! use std::time::Duration;
//! let stop = ipcx::Stop::new()?;
//! # let dir = std::env::temp_dir().join(format!("ipcx-doc-stop-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let ep = format!("unix:{}/jobs.sock", dir.display());
//! let jobs = ipcx::Receiver::<u32>::open_with(&ep, ipcx::OpenOptions::new().stop(&stop))?;
//! let stopper = stop.clone();
//! std::thread::spawn(move || {
//!     std::thread::sleep(Duration::from_millis(50));
//!     stopper.stop(); // wakes the idle receive below
//! });
//! assert!(jobs.recv().is_err()); // Disconnected: nothing was queued
//! assert!(stop.is_stopped());
//! # drop(jobs); std::fs::remove_dir(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What a stopped end does: a receiver stops taking new messages (see
//! [`Receiver::shutdown`](crate::Receiver::shutdown)), delivers what was
//! already queued when the stop came, then reports `Disconnected`, so
//! `for msg in &rx` simply ends; a sender's `send` gives the message back
//! with [`ErrorKind::Stopped`](crate::ErrorKind::Stopped); a waiting open
//! or accept fails with that kind.

#![allow(unsafe_code)] // signal-hook's register: the action is async-signal-safe (see trigger).

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFlags};
use rustix::thread::futex;

use crate::error::{Error, ErrorKind};

/// The signals [`Stop::on_signals`] turns into a stop: SIGTERM, SIGINT, SIGHUP.
pub const STOP_SIGNALS: [i32; 3] = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP];

/// A cancellation handle: [`stop`](Stop::stop) wakes every end opened
/// with it (see [`OpenOptions::stop`](crate::OpenOptions::stop)) and every
/// [`Select`](crate::Select) waiting on it. Clones share one stop.
///
/// It is also an fd (readable once stopped) for a program's own poll loop.
#[derive(Clone)]
pub struct Stop {
    core: Arc<Core>,
    /// Unregisters the signal handlers when the last handle goes.
    _signals: Option<Arc<Registration>>,
}

pub(crate) struct Core {
    /// Shared with signal-hook's conditional default: once set, the next
    /// stop signal gets its default action.
    stopped: Arc<AtomicBool>,
    /// Bumped by a stop; shared-memory waits sleep on it (private futex).
    word: AtomicU32,
    /// The stop signal that came, or 0.
    which: AtomicI32,
    /// Readable once stopped (never drained).
    bell: OwnedFd,
}

impl Core {
    /// Stops: flag, futex word, eventfd. Only atomics and two syscalls, so
    /// it is async-signal-safe and runs in the signal handler itself.
    fn trigger(&self, signal: i32) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        self.which.store(signal, Ordering::SeqCst);
        self.word.fetch_add(1, Ordering::SeqCst);
        let _ = futex::wake(&self.word, futex::Flags::PRIVATE, i32::MAX as u32);
        let _ = rustix::io::write(&self.bell, &1u64.to_ne_bytes());
    }

    #[inline]
    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The futex word shared-memory waits watch (bumped by the stop).
    pub(crate) fn word(&self) -> &AtomicU32 {
        &self.word
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.bell.as_fd()
    }
}

struct Registration(Vec<signal_hook::SigId>);

impl Drop for Registration {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

impl Stop {
    /// A stop that nothing has triggered yet.
    pub fn new() -> Result<Stop, Error> {
        let bell = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| Error::io("cannot create the stop's eventfd", e.into()))?;
        Ok(Stop {
            core: Arc::new(Core {
                stopped: Arc::new(AtomicBool::new(false)),
                word: AtomicU32::new(0),
                which: AtomicI32::new(0),
                bell,
            }),
            _signals: None,
        })
    }

    /// A stop triggered by the first SIGTERM, SIGINT or SIGHUP; a second
    /// one gets the signal's default action at once (a second Ctrl-C always
    /// kills). The handlers go when the last clone is dropped.
    pub fn on_signals() -> Result<Stop, Error> {
        Stop::on(&STOP_SIGNALS)
    }

    /// Like [`Stop::on_signals`] for the given signals.
    pub fn on(signals: &[i32]) -> Result<Stop, Error> {
        let mut stop = Stop::new()?;
        let mut ids = Vec::new();
        let fail = |e: std::io::Error| Error::io("cannot install the stop signal handlers", e);
        for &sig in signals {
            // Order matters: signal-hook runs actions in the order they were
            // registered, and the default action is armed by the flag the
            // stop sets, so only a second signal gets it.
            ids.push(
                signal_hook::flag::register_conditional_default(
                    sig,
                    Arc::clone(&stop.core.stopped),
                )
                .map_err(fail)?,
            );
            let core = Arc::clone(&stop.core);
            // SAFETY: the action only does atomic operations, a futex wake
            // and a write to an eventfd (Core::trigger): all async-signal-safe,
            // no allocation, no locks.
            let id = unsafe { signal_hook::low_level::register(sig, move || core.trigger(sig)) }
                .map_err(fail)?;
            ids.push(id);
        }
        stop._signals = Some(Arc::new(Registration(ids)));
        Ok(stop)
    }

    /// Triggers the stop (idempotent).
    pub fn stop(&self) {
        self.core.trigger(0);
    }

    /// Whether the stop was triggered.
    pub fn is_stopped(&self) -> bool {
        self.core.is_stopped()
    }

    /// The signal that triggered it, if one did.
    pub fn signal(&self) -> Option<i32> {
        match self.core.which.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }

    /// Blocks until the stop is triggered, at most `timeout` (`None`:
    /// forever). True when stopped.
    pub fn wait(&self, timeout: Option<Duration>) -> bool {
        let deadline = timeout.and_then(crate::sys::deadline_in);
        let _ = crate::sys::wait(self.core.fd(), PollFlags::IN, deadline.into());
        self.is_stopped()
    }

    pub(crate) fn core(&self) -> &Core {
        &self.core
    }

    /// An error for an operation the stop ended.
    pub(crate) fn error(what: &str) -> Error {
        Error::new(
            ErrorKind::Stopped,
            format!("{what}: stopped (a Stop was triggered)"),
        )
    }
}

impl AsFd for Stop {
    /// Readable once the stop is triggered (it is never drained).
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.core.fd()
    }
}

impl fmt::Debug for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stop")
            .field("stopped", &self.is_stopped())
            .field("signal", &self.signal())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Core {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Core")
            .field("stopped", &self.is_stopped())
            .finish_non_exhaustive()
    }
}
