//! The sending task: takes what the end queued in its [`Outbox`] and
//! publishes it, the datagram header as the `Ipcx` NATS header.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
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
    seq: Arc<AtomicU64>,
) {
    let mut stamp = Stamp::default();
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
            let next = seq.fetch_add(1, Ordering::Relaxed) + 1;
            let (headers, payload) = stamp.split(&item, next);
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
        outbox.sent();
        if !next_round(&outbox, &status).await {
            return;
        }
    }
}

/// A publish from the end's own thread: one poll of the client's publish
/// (a message into its command queue, which the connection task writes),
/// taken only when that finishes at once; so a message crosses one thread,
/// not two. Shares the sender's sequence with the task (the outbox runs
/// the two one at a time).
pub(super) struct Direct {
    pub(super) client: Client,
    pub(super) subject: Subject,
    pub(super) seq: Arc<AtomicU64>,
    pub(super) stamp: std::sync::Mutex<Stamp>,
}

impl crate::link::bridge::Direct for Direct {
    fn try_send(&self, parts: &[&[u8]]) -> bool {
        let message = Bytes::from(parts.concat());
        let next = self.seq.load(Ordering::Relaxed) + 1;
        let (headers, payload) = self
            .stamp
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .split(&message, next);
        let publish = self
            .client
            .publish_with_headers(self.subject.clone(), headers, payload);
        let mut publish = std::pin::pin!(publish);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        // Pending: the client's queue is full; dropped, the publish did
        // not happen (a bounded tokio channel's send is cancel-safe).
        match publish.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(Ok(())) => {
                self.seq.store(next, Ordering::Relaxed);
                true
            }
            _ => false,
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

/// The `Ipcx` header of a sender's last datagram header, all but its
/// sequence number: a sender's messages share it, so it is formatted once.
#[derive(Default)]
pub(super) struct Stamp {
    of: Option<[u8; HEADER]>,
    prefix: String,
}

impl Stamp {
    /// A queued datagram as a NATS message: its header as `Ipcx`, the
    /// rest as the payload (not copied).
    fn split(&mut self, item: &Bytes, seq: u64) -> (HeaderMap, Bytes) {
        let mut headers = HeaderMap::new();
        if let Some(h) = item.get(..HEADER) {
            if self.of.as_ref().map(|o| &o[..]) != Some(h) {
                // "… <fingerprint> 0": all but the sequence's digit.
                self.prefix = header::encode(h, 0)
                    .and_then(|full| full.strip_suffix('0').map(str::to_owned))
                    .unwrap_or_default();
                self.of = h.try_into().ok();
            }
            if !self.prefix.is_empty() {
                let mut value = String::with_capacity(self.prefix.len() + 20);
                value.push_str(&self.prefix);
                value.push_str(&seq.to_string());
                headers.insert(header::NAME, value.as_str());
            }
        }
        (headers, item.slice(HEADER.min(item.len())..))
    }
}
