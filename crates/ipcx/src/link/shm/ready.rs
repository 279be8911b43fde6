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
    /// Announced as a sleeper (begin_wait + the bell bit): undone by disarm.
    pub(super) armed: bool,
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
        if self.look_ahead() || self.producer_gone() {
            return Armed::Now;
        }
        let Some(fd) = self
            .doorbell
            .get(&self.segment.name, Door::Reader(self.consumer.slot()))
        else {
            return Armed::NoFd;
        };
        self.consumer.arm_bell();
        let _ = self.consumer.begin_wait();
        self.doorbell.armed = true;
        let barrier = membarrier::heavy();
        if self.look_ahead() {
            self.disarm();
            return Armed::Now;
        }
        Armed::Fd {
            fd,
            events: PollFlags::IN,
            recheck: recheck(barrier),
        }
    }

    /// After the sleep (or a decision not to).
    pub(crate) fn disarm(&mut self) {
        if std::mem::take(&mut self.doorbell.armed) {
            self.consumer.end_wait();
            self.consumer.disarm_bell();
            self.doorbell.drain();
        }
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
        self.producer.arm_bell();
        let _ = self.producer.begin_wait();
        self.doorbell.armed = true;
        let barrier = membarrier::heavy();
        if self.has_room(len) {
            self.disarm();
            return Armed::Now;
        }
        Armed::Fd {
            fd,
            events: PollFlags::IN,
            recheck: recheck(barrier),
        }
    }

    pub(crate) fn disarm(&mut self) {
        if std::mem::take(&mut self.doorbell.armed) {
            self.producer.end_wait();
            self.producer.disarm_bell();
            self.doorbell.drain();
        }
    }

    fn has_room(&self, len: usize) -> bool {
        let capacity = self.segment.ring.geometry().capacity;
        let need = (2 * (len + 16)).min(capacity);
        self.producer.free_bytes() >= need
    }
}
