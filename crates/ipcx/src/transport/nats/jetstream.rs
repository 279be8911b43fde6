//! Durable delivery (`?jetstream=true`): a JetStream work-queue stream
//! holds what senders publish until a receiver has handled it.
//!
//! - A send returns once the server has stored the message (its publish
//!   acknowledgement); a full stream (`capacity=`, 64 MiB by default,
//!   discard-new) refuses it, and the sender waits and tries again: `send`
//!   blocks while receivers fall behind, as a full local channel does.
//! - A receiver is a durable pull consumer (`durable=`, default `ipcx`):
//!   receivers of one name share the messages, and what the consumer has
//!   acknowledged outlives them. A message is acknowledged when its
//!   receiver asks for the next one, stops or is dropped; one handed out
//!   and not acknowledged within `ack_wait` (30 s) is delivered again.
//! - So: at least once. A duplicate reaches a receiver only when one died
//!   (or took longer than `ack_wait`) between taking a message and asking
//!   for the next. A sender's retries after a lost acknowledgement are not
//!   duplicates: each message carries `Nats-Msg-Id` (sender id and
//!   sequence), which the server deduplicates for two minutes.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::{self, consumer, stream};
use async_nats::{Client, HeaderMap, Subject};
use futures_core::Stream;

use super::connect::Status;
use super::header;
use crate::endpoint::{Endpoint, NatsAddr};
use crate::error::{Error, ErrorKind};
use crate::link::bridge::{Done, Ended, Inbox, Outbox};
use crate::wire::datagram::HEADER;

/// Bytes a stream ipcx creates holds by default.
const DEFAULT_STREAM_BYTES: i64 = 64 << 20;
/// Messages handed to a receiver and not yet acknowledged, at most.
const MAX_ACK_PENDING: i64 = 256;
/// The longest pause between tries of a refused publish.
const LONGEST_RETRY: Duration = Duration::from_millis(200);

/// The stream for `addr`: `stream=`, or one named after the subject.
pub(super) fn stream_name(ep: &Endpoint, addr: &NatsAddr) -> String {
    ep.options().remote.stream.clone().unwrap_or_else(|| {
        let subject: String = addr
            .subject
            .chars()
            .map(|c| if matches!(c, '.' | '*' | '>') { '_' } else { c })
            .collect();
        format!("IPCX_{subject}")
    })
}

/// Finds the stream, or creates it (work queue, file storage, bounded).
pub(super) async fn ensure_stream(
    client: &Client,
    name: &str,
    subject: &str,
    capacity: Option<u64>,
) -> Result<jetstream::Context, Error> {
    let js = jetstream::new(client.clone());
    let config = stream::Config {
        name: name.to_owned(),
        subjects: vec![subject.to_owned()],
        retention: stream::RetentionPolicy::WorkQueue,
        discard: stream::DiscardPolicy::New,
        max_bytes: capacity.map_or(DEFAULT_STREAM_BYTES, |c| {
            i64::try_from(c).unwrap_or(i64::MAX)
        }),
        storage: stream::StorageType::File,
        ..Default::default()
    };
    js.get_or_create_stream(config).await.map_err(|e| {
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "cannot find or create the JetStream stream {name} for {subject}: {e} \
                 (is JetStream on? nats-server -js)"
            ),
        )
    })?;
    Ok(js)
}

/// The sending task: one message at a time, each until stored.
pub(super) async fn publish(
    js: jetstream::Context,
    client: Client,
    subject: Subject,
    outbox: Arc<Outbox>,
    status: Arc<Status>,
) {
    let mut seq = 0u64;
    loop {
        let Some(items) = super::publish::batch(&client, &outbox).await else {
            return;
        };
        for item in &items {
            seq += 1;
            let mut headers = HeaderMap::new();
            if let Some(value) = item.get(..HEADER).and_then(|h| header::encode(h, seq)) {
                let id = value.split(' ').nth(2).unwrap_or_default().to_owned();
                headers.insert(header::NAME, value.as_str());
                headers.insert("Nats-Msg-Id", format!("{id}-{seq}").as_str());
            }
            let payload = item.slice(HEADER.min(item.len())..);
            let mut pause = Duration::from_millis(1);
            loop {
                if let Some(error) = status.fatal() {
                    outbox.end(Ended::Failed(error));
                    return;
                }
                let stored = match js
                    .publish_with_headers(subject.clone(), headers.clone(), payload.clone())
                    .await
                {
                    Ok(ack) => ack.await.map(|_| ()),
                    Err(e) => Err(e),
                };
                match stored {
                    Ok(()) => break,
                    Err(e) if e.kind() == PublishErrorKind::StreamNotFound => {
                        outbox.end(Ended::Failed(Error::new(
                            ErrorKind::NoPeer,
                            format!("no JetStream stream takes {subject} any more: {e}"),
                        )));
                        return;
                    }
                    // Full, or the server away (a restart): wait, try
                    // again; the same Nats-Msg-Id makes a retry of one
                    // that was stored harmless.
                    Err(_) => {}
                }
                // The end gave up waiting for this (it was dropped and
                // its patience ran out): so does the task.
                if outbox.abandoned() {
                    return;
                }
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LONGEST_RETRY);
            }
        }
        if !super::publish::next_round(&outbox, &status).await {
            return;
        }
    }
}

/// The durable consumer a receiver reads from.
pub(super) async fn consumer(
    js: &jetstream::Context,
    stream: &str,
    durable: &str,
    subject: &str,
    ack_wait: Option<Duration>,
) -> Result<consumer::PullConsumer, Error> {
    let fail = |e: String| {
        Error::new(
            ErrorKind::Io,
            format!("cannot bind the durable consumer {durable} on stream {stream}: {e}"),
        )
    };
    let stream = js
        .get_stream(stream)
        .await
        .map_err(|e| fail(e.to_string()))?;
    stream
        .get_or_create_consumer(
            durable,
            consumer::pull::Config {
                durable_name: Some(durable.to_owned()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ack_wait.unwrap_or(Duration::from_secs(30)),
                max_ack_pending: MAX_ACK_PENDING,
                filter_subject: subject.to_owned(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| fail(e.to_string()))
}

/// The receiving task: messages from the consumer into the inbox, which
/// waits for room (nothing durable is dropped); each is acknowledged when
/// the end has handled it (see [`Done`]).
pub(super) async fn consume(
    consumer: consumer::PullConsumer,
    client: Client,
    inbox: Arc<Inbox>,
    status: Arc<Status>,
    plain: Option<u64>,
) {
    let Ok(mut messages) = consumer.messages().await else {
        inbox.end(Ended::Gone);
        return;
    };
    let runtime = tokio::runtime::Handle::current();
    let reading = super::subscribe::Reading { gaps: false, plain };
    let mut sequences = super::subscribe::Sequences::default();
    loop {
        let next = std::future::poll_fn(|cx| Pin::new(&mut messages).poll_next(cx));
        let got = tokio::select! {
            m = next => m,
            () = inbox.closed.notified() => break,
            () = status.changed.notified() => None,
        };
        let message = match got {
            Some(Ok(message)) => message,
            // A missed heartbeat, a server restart: the stream goes on.
            Some(Err(_)) => continue,
            None => {
                match status.fatal() {
                    Some(error) => inbox.end(Ended::Failed(error)),
                    None => inbox.end(Ended::Gone),
                }
                break;
            }
        };
        let (message, acker) = message.split();
        let mut item = super::subscribe::incoming(&message, reading, &mut sequences, &inbox);
        let runtime = runtime.clone();
        item.done = Some(Done(Box::new(move || {
            runtime.spawn(async move {
                let _ = acker.ack().await;
            });
        })));
        if !inbox.push_when_room(item).await {
            break;
        }
    }
    drop(client);
}
