//! The receiving task: takes messages from the subscription into the
//! end's [`Inbox`], and counts those a sender sent that never came (a gap
//! in its sequence: dropped by the server for a slow consumer, or sent
//! while this end's connection was down).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use async_nats::{Message, Subscriber};
use futures_core::Stream;

use super::connect::Status;
use super::header;
use crate::link::bridge::{Ended, Inbox, Incoming};

/// Senders whose sequence is followed at once; past that the oldest is
/// forgotten (a sender that never said bye), so memory stays bounded.
const MOST_SENDERS: usize = 4096;

/// Messages taken from the subscription at most before they are handed
/// to the inbox together.
const BATCH: usize = 64;

/// How the task treats what it takes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Reading {
    /// Count lost messages from sequence numbers (not in a queue group,
    /// where the others' share is no loss).
    pub(super) gaps: bool,
    /// A bytes receiver takes messages from plain NATS publishers (no
    /// `Ipcx` header) as data from one sender that never says bye; this
    /// is the fingerprint to stamp on them. A typed receiver reports them.
    pub(super) plain: Option<u64>,
}

/// The sender id plain NATS publishers' messages are filed under.
const PLAIN_SENDER: u32 = 0;

/// Runs until the end closes (and then unsubscribes) or the connection is
/// closed for good.
pub(super) async fn run(
    mut subscriber: Subscriber,
    client: async_nats::Client,
    inbox: Arc<Inbox>,
    status: Arc<Status>,
    reading: Reading,
) {
    let mut last = Sequences::default();
    // Made once: a `Notified` made before a `notify_waiters` sees it, and
    // `notify_one` leaves a permit; one per message would cost a lock.
    let closed = inbox.closed.notified();
    let changed = status.changed.notified();
    tokio::pin!(closed, changed);
    let mut ready = Vec::with_capacity(BATCH);
    'reading: loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut subscriber).poll_next(cx));
        let message = tokio::select! {
            biased;
            () = &mut closed => break,
            () = &mut changed => None,
            m = next => m,
        };
        let mut message = message;
        // Whatever else is there already goes too, under one lock.
        while let Some(m) = message.take() {
            ready.push(incoming(&m, reading, &mut last, &inbox));
            if ready.len() < BATCH {
                message = std::future::poll_fn(|cx| {
                    Poll::Ready(match Pin::new(&mut subscriber).poll_next(cx) {
                        Poll::Ready(Some(m)) => Some(m),
                        _ => None,
                    })
                })
                .await;
            }
        }
        if !ready.is_empty() {
            if !inbox.push_all(&mut ready) {
                break 'reading;
            }
            continue;
        }
        match status.fatal() {
            Some(error) => inbox.end(Ended::Failed(error)),
            None if inbox.is_closed() => {}
            None => inbox.end(Ended::Gone),
        }
        break;
    }
    let _ = subscriber.unsubscribe().await;
    drop(client);
}

pub(super) fn incoming(
    message: &Message,
    reading: Reading,
    last: &mut Sequences,
    inbox: &Inbox,
) -> Incoming {
    let decoded = message
        .headers
        .as_ref()
        .and_then(|h| h.get(header::NAME))
        .and_then(|v| header::decode(v.as_str()));
    let Some((bytes, sender, seq)) = decoded else {
        let stamped = reading.plain.map(|fingerprint| {
            crate::wire::datagram::Header {
                kind: crate::wire::datagram::Kind::Data,
                sender: PLAIN_SENDER,
                fingerprint,
            }
            .encode()
        });
        // A message claiming to be ipcx's that is not stays unstamped: reported.
        let claims_ipcx = message
            .headers
            .as_ref()
            .is_some_and(|h| h.get(header::NAME).is_some());
        return Incoming {
            header: if claims_ipcx { None } else { stamped },
            payload: message.payload.clone(),
            done: None,
        };
    };
    if reading.gaps {
        inbox.lost(last.saw(sender, seq, bytes[3] == 1));
    }
    Incoming {
        header: Some(bytes),
        payload: message.payload.clone(),
        done: None,
    }
}

/// The last sequence number seen from each sender.
#[derive(Debug, Default)]
pub(super) struct Sequences {
    last: HashMap<u32, u64>,
}

impl Sequences {
    /// How many of `sender`'s messages before `seq` never came.
    fn saw(&mut self, sender: u32, seq: u64, bye: bool) -> u64 {
        let before = self.last.get(&sender).copied();
        if bye {
            self.last.remove(&sender);
        } else {
            if before.is_none() && self.last.len() >= MOST_SENDERS {
                if let Some(&any) = self.last.keys().next() {
                    self.last.remove(&any);
                }
            }
            self.last.insert(sender, seq.max(before.unwrap_or(0)));
        }
        // A sender first heard of mid-stream is not a gap: this end may
        // have subscribed after it started.
        match before {
            Some(b) if seq > b + 1 => seq - b - 1,
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_count_what_never_came_and_a_new_sender_is_no_gap() {
        let mut s = Sequences::default();
        assert_eq!(s.saw(1, 5, false), 0);
        assert_eq!(s.saw(1, 6, false), 0);
        assert_eq!(s.saw(1, 10, false), 3);
        assert_eq!(s.saw(2, 1, false), 0);
        assert_eq!(s.saw(1, 9, false), 0, "late or repeated: no gap");
        assert_eq!(s.saw(1, 12, true), 1);
        assert_eq!(s.saw(1, 40, false), 0, "after its bye a sender is new");
    }
}
