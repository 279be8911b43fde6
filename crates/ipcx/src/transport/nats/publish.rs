//! The sending task: takes what the end queued in its [`Outbox`] and
//! publishes it, the datagram header as the `Ipcx` NATS header.

use std::sync::Arc;

use async_nats::{Client, HeaderMap, Subject};
use bytes::Bytes;

use super::connect::Status;
use super::header;
use crate::link::bridge::{Ended, Outbox};
use crate::wire::datagram::HEADER;

/// Runs until the end is done (and everything it queued is flushed to
/// the server) or the connection is closed for good.
pub(super) async fn run(
    client: Client,
    subject: Subject,
    outbox: Arc<Outbox>,
    status: Arc<Status>,
) {
    let mut seq = 0u64;
    loop {
        let Some(items) = batch(&client, &outbox).await else {
            return;
        };
        let mut items = items.into_iter();
        while let Some(item) = items.next() {
            if let Some(error) = status.fatal() {
                outbox.end(Ended::Failed(error));
                return;
            }
            seq += 1;
            let (headers, payload) = split(&item, seq);
            if client
                .publish_with_headers(subject.clone(), headers, payload)
                .await
                .is_err()
            {
                // Only a client closed for good refuses a publish.
                outbox.put_back(std::iter::once(item).chain(items));
                outbox.end(Ended::Gone);
                return;
            }
        }
        if !next_round(&outbox, &status).await {
            return;
        }
    }
}

/// What the end queued, for a sending task; `None` once the end is done
/// and everything is out (the server has it all once a flush, a PING and
/// its PONG, returns).
pub(super) async fn batch(client: &Client, outbox: &Outbox) -> Option<Vec<Bytes>> {
    let (items, finishing) = outbox.take_all();
    if items.is_empty() && finishing {
        let _ = client.flush().await;
        outbox.done();
        return None;
    }
    Some(items)
}

/// Waits for more to send or for a fatal event; false when the sending
/// task should end (the outbox is then ended with the error).
pub(super) async fn next_round(outbox: &Outbox, status: &Status) -> bool {
    if outbox.queued() == 0 {
        tokio::select! {
            () = outbox.work.notified() => {}
            () = status.changed.notified() => {}
        }
    }
    match status.fatal() {
        Some(error) => {
            outbox.end(Ended::Failed(error));
            false
        }
        None => true,
    }
}

/// A queued datagram as a NATS message: its header as `Ipcx`, the rest
/// as the payload (not copied).
fn split(item: &Bytes, seq: u64) -> (HeaderMap, Bytes) {
    let mut headers = HeaderMap::new();
    if let Some(value) = item.get(..HEADER).and_then(|h| header::encode(h, seq)) {
        headers.insert(header::NAME, value.as_str());
    }
    (headers, item.slice(HEADER.min(item.len())..))
}
