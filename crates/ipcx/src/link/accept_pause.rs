//! A listener that cannot accept (out of file descriptors or kernel
//! memory) is left alone for a while instead of being retried in a loop:
//! level-triggered, it would wake its waiter at once, forever. The pause
//! grows from 10 ms to 1 s while the failure repeats; the connections wait
//! in the backlog (their senders were told "connected", and nothing they
//! send is lost) and are taken when the pause ends and fds are free.

use std::time::{Duration, Instant};

use rustix::io::Errno;

/// How long to leave a listener alone that could not accept, and whether
/// to say so now. [`crate::raw::RawListener`] users out of fds keep one.
#[derive(Debug, Default)]
pub struct AcceptPause {
    until: Option<Instant>,
    next: Duration,
    /// When the shortage was last reported. Kept across episodes: fds
    /// that free up one at a time make many short episodes, and one line
    /// per [`AcceptPause::REPORT_EVERY`] says all there is to say.
    reported_at: Option<Instant>,
}

impl AcceptPause {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);
    const REPORT_EVERY: Duration = Duration::from_secs(30);

    /// Whether `e` is a shortage that passes (not a fault of the listener).
    pub(crate) fn is_shortage(e: Errno) -> bool {
        matches!(
            e,
            Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM
        )
    }

    /// Starts or lengthens the pause; `true` when the caller should report
    /// it: the first time, then at most once per 30 s while it goes on.
    pub fn begin(&mut self) -> bool {
        let now = Instant::now();
        self.next = (self.next * 2).clamp(Self::FIRST, Self::MOST);
        self.until = Some(now + self.next);
        let due = self
            .reported_at
            .is_none_or(|at| now.duration_since(at) >= Self::REPORT_EVERY);
        if due {
            self.reported_at = Some(now);
        }
        due
    }

    /// An accept worked: the episode is over and the next pause is short.
    pub fn end(&mut self) {
        self.until = None;
        self.next = Duration::ZERO;
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
    pub fn until(&self) -> Option<Instant> {
        self.until
    }

    /// Whether the listener should be left alone now.
    pub fn active(&self) -> bool {
        self.until.is_some_and(|t| Instant::now() < t)
    }

    /// How long the pause still runs, if it does (a poll timeout).
    pub fn left(&self) -> Option<Duration> {
        self.until
            .map(|t| t.saturating_duration_since(Instant::now()))
            .filter(|d| !d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shortage_is_reported_once_however_often_fds_come_and_go() {
        let mut pause = AcceptPause::default();
        assert!(pause.begin(), "the first shortage is said");
        assert!(pause.active());
        for _ in 0..10 {
            pause.end();
            assert!(!pause.active());
            assert!(!pause.begin(), "not again within 30 s");
        }
    }

    #[test]
    fn the_pause_doubles_up_to_a_second_and_an_accept_makes_it_short_again() {
        let mut pause = AcceptPause::default();
        let mut last = Duration::ZERO;
        for _ in 0..12 {
            pause.begin();
            last = pause.left().unwrap_or_default();
        }
        assert!(last > Duration::from_millis(900) && last <= Duration::from_secs(1));
        pause.end();
        pause.begin();
        assert!(pause.left().unwrap() <= Duration::from_millis(10));
    }
}
