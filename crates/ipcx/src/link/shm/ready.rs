//! Readiness on a ring, for a `Select` or a program's poll loop: a side
//! with nothing to do announces itself as a sleeper with a doorbell (an
//! fd, `sys::bell`) instead of sleeping on the futex; the other side rings
//! it when it sees the announcement. The hot path is unchanged.

use std::time::Duration;

use rustix::event::PollFlags;

use super::{ShmReader, ShmWriter, CHECK_EVERY};
use crate::error::Fail;
use crate::link::ready::Armed;
use crate::sys::bell::{self, Bell, Door};
use crate::sys::membarrier;

/// What a receive found ahead of time, while arming: lent or reported by
/// the next `recv`.
#[derive(Debug, Default)]
pub(super) enum Ahead {
    #[default]
    Nothing,
    /// A message is held (taken by `try_next`).
    Message,
    /// An error or the end, to report.
    Failed(Fail),
}

/// A doorbell, bound on first use; `None` if its name could not be bound
/// (the end then has no fd to offer and is looked at with pauses).
#[derive(Debug, Default)]
pub(super) struct Doorbell {
    bell: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    tried: bool,
    /// Announced as a sleeper (begin_wait + the bell bit): undone by withdraw.
    armed: bool,
}

impl Doorbell {
    fn get(&mut self, segment: &str, door: Door) -> Option<std::sync::Arc<std::os::fd::OwnedFd>> {
        if !self.tried {
            self.tried = true;
            self.bell = bell::address(segment, door)
                .and_then(|addr| Bell::bind(&addr))
                .ok()
                .map(|b| std::sync::Arc::new(b.into_fd()));
        }
        self.bell.clone()
    }

    fn drain(&self) {
        if let Some(fd) = &self.bell {
            bell::drain(fd);
        }
    }
}

/// A ring side that can sleep on a doorbell: its ring's sleeper count
/// and bell bit.
trait Sleeper {
    fn announce(&mut self);
    fn withdraw(&mut self);
}

impl Sleeper for ipcx_ring::Consumer {
    fn announce(&mut self) {
        self.arm_bell();
        let _ = self.begin_wait();
    }

    fn withdraw(&mut self) {
        self.end_wait();
        self.disarm_bell();
    }
}

impl Sleeper for ipcx_ring::Producer {
    fn announce(&mut self) {
        self.arm_bell();
        let _ = self.begin_wait();
    }

    fn withdraw(&mut self) {
        self.end_wait();
        self.disarm_bell();
    }
}

impl Doorbell {
    /// Announces `side` as a sleeper on this doorbell (bell bit, then the
    /// sleeper count, then the barrier that makes the other side's look
    /// reliable); the caller looks at the ring once more before sleeping.
    /// Returns how long the sleep may last.
    fn announce(&mut self, side: &mut impl Sleeper) -> Option<Duration> {
        side.announce();
        self.armed = true;
        recheck(membarrier::heavy())
    }

    /// Undoes [`Doorbell::announce`] and takes the rings that came.
    fn withdraw(&mut self, side: &mut impl Sleeper) {
        if std::mem::take(&mut self.armed) {
            side.withdraw();
            self.drain();
        }
    }
}

/// How long a doorbell sleep may last: the peer's liveness is looked at
/// between two (and more often when the barrier that makes the other
/// side's look for sleepers reliable could not be run).
fn recheck(barrier: bool) -> Option<Duration> {
    Some(if barrier {
        CHECK_EVERY
    } else {
        Duration::from_millis(1)
    })
}

impl ShmReader {
    /// Readiness for a receive (see [`Armed`]).
    pub(crate) fn arm(&mut self) -> Armed {
        if !matches!(self.ahead, Ahead::Nothing) || self.corrupt || self.stopped {
            return Armed::Now;
        }
        if self.look_ahead() {
            return Armed::Now;
        }
        if self.producer_gone() {
            // As a blocking receive does: what it committed (by the commit
            // markers: a killed producer may not have published its last
            // tail), then the end. A try that only found the ring empty
            // would otherwise be armed "now" again, forever.
            self.consumer.read_by_commit_markers();
            if !self.look_ahead() {
                self.ahead = Ahead::Failed(Fail::Disconnected);
            }
            return Armed::Now;
        }
        let Some(fd) = self
            .doorbell
            .get(&self.segment.name, Door::Reader(self.consumer.slot()))
        else {
            return Armed::NoFd;
        };
        let recheck = self.doorbell.announce(&mut self.consumer);
        if self.look_ahead() {
            self.disarm();
            return Armed::Now;
        }
        Armed::Fd {
            fd,
            events: PollFlags::IN,
            recheck,
        }
    }

    /// After the sleep (or a decision not to).
    pub(crate) fn disarm(&mut self) {
        self.doorbell.withdraw(&mut self.consumer);
    }

    /// Takes the next message (or its failure) ahead, for the next recv.
    fn look_ahead(&mut self) -> bool {
        match self.take_one() {
            Ok(false) => false,
            Ok(true) => {
                self.ahead = Ahead::Message;
                true
            }
            Err(fail) => {
                self.ahead = Ahead::Failed(fail);
                true
            }
        }
    }

    /// The producer closed the ring or died: a receive answers at once.
    fn producer_gone(&self) -> bool {
        self.segment.ring.producer_state() == ipcx_ring::ProducerState::Closed
            || self.producer_died()
    }
}

impl ShmWriter {
    /// Readiness for a send of `len` bytes: room for it (with a padding
    /// record's worth to spare, so that a "ready" is not a "full" again).
    pub(crate) fn arm(&mut self, len: usize) -> Armed {
        if self.has_room(len) || self.producer.check_readers().is_err() {
            return Armed::Now;
        }
        let Some(fd) = self.doorbell.get(&self.segment.name, Door::Producer) else {
            return Armed::NoFd;
        };
        let recheck = self.doorbell.announce(&mut self.producer);
        if self.has_room(len) {
            self.disarm();
            return Armed::Now;
        }
        Armed::Fd {
            fd,
            events: PollFlags::IN,
            recheck,
        }
    }

    pub(crate) fn disarm(&mut self) {
        self.doorbell.withdraw(&mut self.producer);
    }

    fn has_room(&self, len: usize) -> bool {
        let capacity = self.segment.ring.geometry().capacity;
        let need = (2 * (len + 16)).min(capacity);
        self.producer.free_bytes() >= need
    }
}
