//! Readiness: what an end waits on when it sleeps beside other things (a
//! [`Select`](crate::Select), a program's own poll loop). Each link says
//! either "an operation would not block now" or which fd becomes ready
//! when one might not; readiness is a hint, the next try decides.

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::PollFlags;

/// What [`Inbound::arm`](super::Inbound::arm) or
/// [`Outbound::arm`](super::Outbound::arm) found.
#[derive(Debug)]
pub(crate) enum Armed {
    /// The operation would not block now (a message, room, or an end or
    /// error to report).
    Now,
    /// Sleep until this fd is ready for `events`; look again at least
    /// every `recheck` (a shared-memory peer's liveness is checked then).
    Fd {
        fd: Arc<OwnedFd>,
        events: PollFlags,
        recheck: Option<Duration>,
    },
    /// Nothing to sleep on (System V queues): look again after a pause.
    NoFd,
}

impl Armed {
    pub(crate) fn fd(fd: &Arc<OwnedFd>, events: PollFlags) -> Armed {
        Armed::Fd {
            fd: Arc::clone(fd),
            events,
            recheck: None,
        }
    }
}
