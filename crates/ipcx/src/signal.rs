//! Signals as notifications that carry a value.
//!
//! [`send`] queues a signal with an integer payload to a process
//! (`sigqueue`); a [`SignalReceiver`] takes such signals synchronously,
//! one at a time, with the sender's pid and uid (`signalfd`). Real-time
//! signals (`SIGRTMIN+n`) queue up and arrive in order; a standard signal
//! sent twice before it is read arrives once.
//!
//! # Which signals can be caught
//! Every signal except **SIGKILL** and **SIGSTOP**: those two can be
//! neither caught, blocked nor ignored, so a receiver cannot take them,
//! and a process can always be killed or stopped. Signals raised by a
//! fault in the process itself (SIGSEGV, SIGBUS, SIGFPE, SIGILL) are
//! delivered to the faulting thread and are not for messaging.
//!
//! [`Stop::on_signals`](crate::Stop::on_signals) turns SIGTERM, SIGINT and
//! SIGHUP into an orderly stop: the first one wakes every end opened with
//! the stop; a second one gets the signal's default action at once (so a
//! second Ctrl-C always kills).
//!
//! A receiver blocks its signals in the thread that creates it: create it
//! before starting other threads (they inherit the mask), or a signal may
//! be handled by another thread with its default action (for real-time
//! signals: termination).
//!
//! ```
//! use ipcx::signal::{self, SignalReceiver};
//! let sig = signal::rt(1)?;
//! let rx = SignalReceiver::new(&[sig])?;
//! signal::send(std::process::id() as i32, sig, 42)?;
//! let got = rx.recv_timeout(std::time::Duration::from_secs(5))?.expect("queued");
//! assert_eq!((got.signal, got.value, got.pid), (sig, 42, std::process::id()));
//! # Ok::<(), ipcx::Error>(())
//! ```

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::PollFlags;

use crate::error::{Error, ErrorKind};
use crate::sys::{self, signal as raw, Deadline};

/// A signal taken by a [`SignalReceiver`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// The signal number.
    pub signal: i32,
    /// The payload (`sival_int`); 0 for a signal sent without one (`kill`).
    pub value: i32,
    /// The sender's process id.
    pub pid: u32,
    /// The sender's real user id.
    pub uid: u32,
    /// True when it was sent with `sigqueue` (and so carries a value).
    pub queued: bool,
}

/// `SIGRTMIN + n`, checked to be a real-time signal.
pub fn rt(n: i32) -> Result<i32, Error> {
    let s = raw::rtmin() + n;
    if n < 0 || s > raw::rtmax() {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            format!(
                "SIGRTMIN+{n} is not a real-time signal (0 ≤ n ≤ {})",
                raw::rtmax() - raw::rtmin()
            ),
        ));
    }
    Ok(s)
}

/// The standard signals known by name (without the `SIG` prefix).
const NAMED: [(&str, i32); 13] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("WINCH", libc::SIGWINCH),
];

/// Parses a signal name: `TERM`, `SIGUSR1`, `RTMIN+2`, or a number.
pub fn parse(name: &str) -> Result<i32, Error> {
    let n = name.trim_start_matches("SIG");
    if let Some((_, s)) = NAMED.iter().find(|(k, _)| *k == n) {
        return Ok(*s);
    }
    if n == "RTMIN" {
        return rt(0);
    }
    if let Some(k) = n.strip_prefix("RTMIN+").and_then(|k| k.parse().ok()) {
        return rt(k);
    }
    n.parse::<i32>()
        .ok()
        .filter(|s| (1..=raw::rtmax()).contains(s))
        .ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidEndpoint,
                format!("unknown signal `{name}` (e.g. TERM, USR1, RTMIN+2, 34)"),
            )
        })
}

/// The usual name of signal `s` (`SIGRTMIN+2` for real-time ones).
pub fn name(s: i32) -> String {
    let base = raw::rtmin();
    if s >= base && s <= raw::rtmax() {
        return if s == base {
            "SIGRTMIN".into()
        } else {
            format!("SIGRTMIN+{}", s - base)
        };
    }
    NAMED
        .iter()
        .find(|(_, n)| *n == s)
        .map_or_else(|| format!("signal {s}"), |(k, _)| format!("SIG{k}"))
}

/// Queues `signal` with `value` to process `pid` (`sigqueue`).
pub fn send(pid: i32, signal: i32, value: i32) -> Result<(), Error> {
    raw::queue(pid, signal, value).map_err(|e| {
        let what = format!("cannot send {} to pid {pid}", name(signal));
        match e.raw_os_error() {
            Some(libc::ESRCH) => Error::new(ErrorKind::NoPeer, format!("{what}: no such process")),
            Some(libc::EAGAIN) => Error::io(
                format!("{what}: the receiver's queue of signals is full (RLIMIT_SIGPENDING)"),
                e,
            ),
            _ => Error::io(what, e),
        }
    })
}

/// Takes chosen signals synchronously, with their payload and sender.
pub struct SignalReceiver {
    fd: OwnedFd,
    signals: Vec<i32>,
}

impl SignalReceiver {
    /// Blocks `signals` in this thread and starts taking them. SIGKILL and
    /// SIGSTOP are refused (they cannot be caught).
    pub fn new(signals: &[i32]) -> Result<SignalReceiver, Error> {
        if let Some(s) = signals
            .iter()
            .find(|s| [libc::SIGKILL, libc::SIGSTOP].contains(s))
        {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!("{} cannot be caught, blocked or ignored", name(*s)),
            ));
        }
        let fd = raw::signalfd(signals).map_err(|e| Error::io("cannot set up a signalfd", e))?;
        Ok(SignalReceiver {
            fd,
            signals: signals.to_vec(),
        })
    }

    /// Waits for the next signal.
    pub fn recv(&self) -> Result<Received, Error> {
        self.recv_until(Deadline::NEVER)
            .map(|r| r.expect("no deadline"))
    }

    /// Waits at most `timeout`; `Ok(None)` if nothing came.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Option<Received>, Error> {
        self.recv_until(sys::Deadline::after(Some(timeout)))
    }

    fn recv_until(&self, deadline: Deadline<'_>) -> Result<Option<Received>, Error> {
        // Like every ipcx receiver, poll (non-blocking reads) for up to
        // 20 µs before sleeping: a signal that comes meanwhile costs its
        // sender no wake-up (docs/performance.md).
        let take = || match raw::read(self.fd.as_fd()) {
            Ok(s) => Ok(Some(s)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        };
        let polled = sys::spin_for(sys::Spin::ADAPTIVE, deadline, take)
            .map_err(|e| Error::io("cannot read the signalfd", e))?;
        if let Some(s) = polled {
            return Ok(Some(received(s)));
        }
        loop {
            match take() {
                Ok(Some(s)) => return Ok(Some(received(s))),
                Ok(None) => {
                    let woke = sys::wait(self.fd.as_fd(), PollFlags::IN, deadline)
                        .map_err(|e| Error::io("poll", e))?;
                    if woke != sys::Woke::Ready {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(Error::io("cannot read the signalfd", e)),
            }
        }
    }
}

fn received(s: raw::RawSignal) -> Received {
    Received {
        signal: s.signo as i32,
        value: s.value,
        pid: s.pid,
        uid: s.uid,
        queued: s.code == libc::SI_QUEUE,
    }
}

impl fmt::Debug for SignalReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<String> = self.signals.iter().map(|s| name(*s)).collect();
        f.debug_struct("SignalReceiver")
            .field("signals", &names)
            .finish_non_exhaustive()
    }
}

/// The signals that ask a program to stop (see [`Stop::on_signals`](crate::Stop::on_signals)).
pub use crate::stop::STOP_SIGNALS;
