//! Whether a message queue still has a receiver.
//!
//! A queue has no connection: the kernel keeps it, and what is sent to it,
//! whoever has it open. That is its point (a producer may start before its
//! workers, and messages wait for the next one), so a sender with room in
//! the queue just sends. A sender that waits for room, though, waits for a
//! receiver; if the receiver it was working with has died, it would wait
//! forever. So each ipcx receiver holds a presence mark named after the
//! queue (see [`crate::sys::presence`]), and a sender that has waited for
//! room for [`CHECK_EVERY`] looks for one:
//!
//! - a mark is there: a receiver is alive (slow, or busy); keep waiting;
//! - none, but this sender has seen one before: its receiver is gone;
//!   the send fails with "disconnected" and gives the message back (what
//!   the queue holds stays in it for the next receiver);
//! - none, and none seen yet: the first receiver has not come; keep
//!   waiting, as a producer that starts first should.
//!
//! A receiver that is not ipcx holds no mark; a sender never sees one,
//! so it just waits for room as the kernel would.

use std::time::{Duration, Instant};

use crate::sys::presence::{self, Mark};
use crate::sys::Deadline;

/// How long a sender waits for room before looking for a receiver, and
/// between looks (one read of `/proc/net/unix` each).
pub(crate) const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Looks closer together than this reuse the last answer (a loop of
/// `try_send` on a full queue reads the table ten times a second at most).
const LOOK_AGAIN_AFTER: Duration = Duration::from_millis(100);

/// Which queue: a POSIX queue by its inode (a queue removed and made again
/// is another queue), a System V queue by its id.
#[derive(Debug, Clone, Copy)]
pub(crate) enum QueueId {
    Posix { dev: u64, ino: u64 },
    Sysv(i32),
}

impl QueueId {
    fn prefix(self) -> String {
        match self {
            QueueId::Posix { dev, ino } => format!("ipcx-rx.mq.{dev:x}.{ino:x}."),
            QueueId::Sysv(id) => format!("ipcx-rx.sysv.{id:x}."),
        }
    }
}

/// A queue end's part in knowing who is there.
#[derive(Debug)]
pub(crate) enum QueuePeers {
    /// A receiver: its mark (none if the name could not be bound), held
    /// for as long as the end lives.
    Receiver { _mark: Option<Mark> },
    /// A sender: what it knows of receivers.
    Sender(ReceiverWatch),
}

impl QueuePeers {
    /// A receiver's part: holds a mark for `queue` while it lives.
    pub(crate) fn receiver(queue: QueueId) -> QueuePeers {
        let name = format!(
            "{}{}.{:08x}",
            queue.prefix(),
            std::process::id(),
            crate::sys::random_u32()
        );
        QueuePeers::Receiver {
            _mark: Mark::hold(&name).ok(),
        }
    }

    /// A sender's part: looks once now, so that a receiver present at open
    /// counts as seen.
    pub(crate) fn sender(queue: QueueId) -> QueuePeers {
        let mut watch = ReceiverWatch {
            prefix: queue.prefix(),
            seen: false,
            last_look: None,
        };
        watch.look();
        QueuePeers::Sender(watch)
    }

    /// The sender's watch, if this is a sender.
    pub(crate) fn watch(&mut self) -> Option<&mut ReceiverWatch> {
        match self {
            QueuePeers::Sender(w) => Some(w),
            QueuePeers::Receiver { .. } => None,
        }
    }
}

/// What a sender knows of its queue's receivers.
#[derive(Debug)]
pub(crate) struct ReceiverWatch {
    prefix: String,
    /// A receiver's mark was seen since this sender opened.
    seen: bool,
    /// When it last looked, and whether a mark was there.
    last_look: Option<(Instant, bool)>,
}

impl ReceiverWatch {
    /// Whether any receiver's mark is there now (remembered if so).
    /// A table that cannot be read counts as a receiver being there.
    fn look(&mut self) -> bool {
        let now = Instant::now();
        if let Some((at, present)) = self.last_look {
            if now.duration_since(at) < LOOK_AGAIN_AFTER {
                return present;
            }
        }
        let present = presence::listed(&self.prefix).map_or(true, |m| !m.is_empty());
        self.seen |= present;
        self.last_look = Some((now, present));
        present
    }

    /// `deadline`, cut to the next look of a wait for room that began at
    /// `since`: the wait returns by then.
    pub(crate) fn slice<'a>(&self, since: Instant, deadline: Deadline<'a>) -> Deadline<'a> {
        let mut next = since + CHECK_EVERY;
        let now = Instant::now();
        while next <= now {
            next += CHECK_EVERY;
        }
        deadline.cut_to(next)
    }

    /// Called when a wait for room ended with none (a slice, or the
    /// deadline itself): whether the receiver this sender worked with is gone.
    pub(crate) fn receiver_gone(&mut self) -> bool {
        let seen_before = self.seen;
        !self.look() && seen_before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sender_sees_a_receiver_come_and_go() {
        let id = QueueId::Sysv(0x7000_0000 | (std::process::id() as i32 & 0xffff));
        let QueuePeers::Sender(mut before) = QueuePeers::sender(id) else {
            unreachable!()
        };
        before.last_look = None;
        assert!(
            !before.receiver_gone(),
            "none seen yet: waits for the first"
        );
        let receiver = QueuePeers::receiver(id);
        let QueuePeers::Sender(mut watch) = QueuePeers::sender(id) else {
            unreachable!()
        };
        assert!(!watch.receiver_gone(), "it is there");
        drop(receiver);
        watch.last_look = None; // not the answer of a moment ago
        assert!(watch.receiver_gone(), "seen, now gone");
        before.last_look = None;
        assert!(
            !before.receiver_gone(),
            "a receiver it never saw cannot be missed"
        );
    }
}
