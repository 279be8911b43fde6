//! A listening WebSocket receiver: each connection that passed the
//! [`door`](super::door) is one sender; its binary messages go to the
//! end's inbox, waiting for room (so a sender that outruns the receiver
//! waits, through TCP, as on `tcp:`). A connection's close is its
//! sender's bye.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{watch, Notify};

use super::door::{Peer, Ws};
use crate::link::bridge::{Ended, Inbox, Incoming};
use crate::wire::datagram::{Header, Kind};

/// The receiving end's side of each connection.
pub(super) struct Receiving {
    pub(super) inbox: Arc<Inbox>,
    /// The receiver's fingerprint, stamped on every message (the hello
    /// was checked against it).
    pub(super) fingerprint: u64,
}

impl Peer for Receiving {
    fn closed(&self) -> &Notify {
        &self.inbox.closed
    }

    fn serve(
        self: Arc<Self>,
        ws: Ws,
        id: u32,
        closing: watch::Receiver<bool>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(async move { take(ws, &self.inbox, self.fingerprint, id, closing).await })
    }

    fn failed(&self) {
        self.inbox.end(Ended::Gone);
    }
}

/// Hands a connection's messages to `inbox`, as from sender `sender`,
/// then its bye. Shared with a connecting receiver (`connect.rs`).
pub(super) async fn take(
    mut ws: Ws,
    inbox: &Inbox,
    fingerprint: u64,
    sender: u32,
    mut closing: watch::Receiver<bool>,
) {
    let stamp = |kind| {
        Header {
            kind,
            sender,
            fingerprint,
        }
        .encode()
    };
    loop {
        let next = tokio::select! {
            m = ws.next() => m,
            _ = closing.changed() => break,
        };
        let message = match next {
            Some(Ok(m)) if m.is_binary() => m,
            // Pings are answered by the library; text after the hello is
            // not a message (reported), a close or an error ends it.
            Some(Ok(m)) if m.is_text() => {
                let item = Incoming {
                    header: None,
                    payload: Bytes::from_static(b"text"),
                    done: None,
                };
                if !inbox.push_when_room(item).await {
                    return;
                }
                continue;
            }
            Some(Ok(m)) if m.is_close() => break,
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => break,
        };
        let item = Incoming {
            header: Some(stamp(Kind::Data)),
            payload: Bytes::from(message.into_payload()),
            done: None,
        };
        if !inbox.push_when_room(item).await {
            return;
        }
    }
    let bye = Incoming {
        header: Some(stamp(Kind::Bye)),
        payload: Bytes::new(),
        done: None,
    };
    inbox.push_when_room(bye).await;
}
