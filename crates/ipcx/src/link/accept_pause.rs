//! A listener that cannot accept (out of file descriptors or kernel
//! memory) is left alone for a while instead of being retried in a loop:
//! level-triggered, it would wake its waiter at once, forever. The pause
//! grows from 10 ms to 1 s while the failure repeats; the connections wait
//! in the backlog (their senders were told "connected", and nothing they
//! send is lost) and are taken when the pause ends and fds are free.

use std::time::{Duration, Instant};

use rustix::io::Errno;

#[derive(Debug, Default)]
pub(crate) struct AcceptPause {
    until: Option<Instant>,
    next: Duration,
    /// The failure was reported (once per episode).
    reported: bool,
}

impl AcceptPause {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    /// Whether `e` is a shortage that passes (not a fault of the listener).
    pub(crate) fn is_shortage(e: Errno) -> bool {
        matches!(
            e,
            Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM
        )
    }

    /// Starts or lengthens the pause; `true` the first time in an episode
    /// (the caller reports it, once).
    pub(crate) fn begin(&mut self) -> bool {
        self.next = (self.next * 2).clamp(Self::FIRST, Self::MOST);
        self.until = Some(Instant::now() + self.next);
        !std::mem::replace(&mut self.reported, true)
    }

    /// An accept worked: the episode is over.
    pub(crate) fn end(&mut self) {
        *self = AcceptPause::default();
    }

    /// Whether a pause has just run out (the listener can be watched again).
    pub(crate) fn take_expired(&mut self) -> bool {
        match self.until {
            Some(t) if Instant::now() >= t => {
                self.until = None;
                true
            }
            _ => false,
        }
    }

    /// When the pause ends, if one is running.
    pub(crate) fn until(&self) -> Option<Instant> {
        self.until
    }
}
