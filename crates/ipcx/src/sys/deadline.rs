//! [`Deadline`]: when a wait gives up, and which [`Stop`](crate::Stop)
//! ends it early. Every wait in ipcx takes one.

use std::time::{Duration, Instant};

use crate::stop::Core as StopCore;

/// When a blocking operation gives up (`at: None` waits forever) and the
/// stop that may end it sooner. Cheap to copy: an instant and a reference.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Deadline<'a> {
    at: Option<Instant>,
    stop: Option<&'a StopCore>,
}

impl<'a> Deadline<'a> {
    /// Waits as long as it takes, with no stop.
    pub(crate) const NEVER: Deadline<'static> = Deadline {
        at: None,
        stop: None,
    };

    /// Gives up at `at`.
    pub(crate) fn at(at: Instant) -> Deadline<'static> {
        Deadline {
            at: Some(at),
            stop: None,
        }
    }

    /// A try: gives up at once.
    pub(crate) fn now() -> Deadline<'static> {
        Deadline::at(Instant::now())
    }

    /// `timeout` from now (`None`: never).
    pub(crate) fn after(timeout: Option<Duration>) -> Deadline<'static> {
        Deadline {
            at: timeout.and_then(deadline_in),
            stop: None,
        }
    }

    /// The same time limit, ended early by `stop` too.
    pub(crate) fn with_stop<'b>(self, stop: Option<&'b StopCore>) -> Deadline<'b> {
        Deadline { at: self.at, stop }
    }

    /// The same, but giving up by `at` at the latest (the stop kept).
    pub(crate) fn cut_to(self, at: Instant) -> Deadline<'a> {
        Deadline {
            at: Some(self.at.map_or(at, |d| d.min(at))),
            stop: self.stop,
        }
    }

    /// The time limit, if any.
    #[inline]
    pub(crate) fn instant(self) -> Option<Instant> {
        self.at
    }

    /// The stop to watch while waiting, if any.
    #[inline]
    pub(crate) fn stop(self) -> Option<&'a StopCore> {
        self.stop
    }

    /// Whether a wait must go through `poll` (or another wait that can be
    /// ended) rather than block in the I/O call itself: there is a time
    /// limit or a stop to watch.
    #[inline]
    pub(crate) fn is_bounded(self) -> bool {
        self.at.is_some() || self.stop.is_some()
    }

    /// Whether there is no time limit.
    #[inline]
    pub(crate) fn is_unlimited(self) -> bool {
        self.at.is_none()
    }

    /// Whether the time limit has passed by `now`.
    #[inline]
    pub(crate) fn passed_at(self, now: Instant) -> bool {
        self.at.is_some_and(|d| now >= d)
    }

    /// Whether the time limit has passed.
    pub(crate) fn has_passed(self) -> bool {
        self.at.is_some_and(|d| Instant::now() >= d)
    }

    /// Whether the stop was triggered.
    #[inline]
    pub(crate) fn is_stopped(self) -> bool {
        self.stop.is_some_and(|s| s.is_stopped())
    }

    /// What is left, from now (`None`: no limit).
    pub(crate) fn left(self) -> Option<Duration> {
        self.at.map(|d| d.saturating_duration_since(Instant::now()))
    }
}

impl From<Option<Instant>> for Deadline<'static> {
    fn from(at: Option<Instant>) -> Self {
        Deadline { at, stop: None }
    }
}

/// An instant `timeout` from now (saturating for huge timeouts).
pub(crate) fn deadline_in(timeout: Duration) -> Option<Instant> {
    Some(
        Instant::now()
            .checked_add(timeout)
            .unwrap_or_else(far_future),
    )
}

pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(100 * 365 * 24 * 3600)
}
