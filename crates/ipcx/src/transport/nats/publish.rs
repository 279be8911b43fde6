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
            seq += 1;
            let (headers, payload) = stamp.split(&item, seq);
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

/// The `Ipcx` header of a sender's last datagram header, all but its
/// sequence number: a sender's messages share it, so it is formatted once.
#[derive(Default)]
struct Stamp {
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
