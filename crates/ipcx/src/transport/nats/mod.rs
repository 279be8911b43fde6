//! `nats://host:port/subject`: channels across machines on a NATS server
//! (or cluster). A sender publishes, a receiver subscribes (`queue=`: one
//! of a group's receivers gets each message). The link is the datagram
//! link: each NATS message carries the datagram header (as the `Ipcx`
//! NATS header, see [`header`]), so types are checked per message as on
//! `udp:`, and a receiver ends when every sender it heard from said bye.
//!
//! A plain NATS publisher's messages (no `Ipcx` header) reach a bytes
//! receiver (`Receiver<Bytes>`, `ipcx recv`) as data from a sender that
//! never says bye; a typed receiver reports each as not from ipcx.
//!
//! Core NATS delivers at most once: what is published while nobody
//! subscribes is gone, and a subscriber that falls behind is dropped
//! from by the server. ipcx makes that visible: every message carries
//! its sender's sequence number, and a receiver counts the gaps (and what
//! its own full inbox dropped) in [`Receiver::missed`](crate::Receiver::missed).
//!
//! The client runs on a runtime thread of its own ([`runtime`]); an end
//! talks to it through bounded queues ([`crate::link::bridge`]).

pub(crate) mod call;
mod connect;
mod header;
mod jetstream;
mod publish;
mod secrets;
mod subscribe;

use std::sync::Arc;

use super::{runtime, Ctx, Opened};
use crate::endpoint::NatsAddr;
use crate::error::{Error, ErrorKind};
use crate::link::bridge::{Bridged, Inbox, Outbox};
use crate::link::carrier::Carrier;
use crate::link::{Inbound, Outbound};
use crate::wire::datagram::HEADER;

/// Bytes an end queues by default: a sender's outbox (it then waits, as
/// on a full socket), a receiver's inbox (it then drops, and counts).
pub(super) const DEFAULT_QUEUE: usize = 8 << 20;

fn queue_bytes(ctx: &Ctx<'_>) -> usize {
    ctx.ep
        .options()
        .capacity
        .map_or(DEFAULT_QUEUE, |c| usize::try_from(c).unwrap_or(usize::MAX))
}

fn subject(addr: &NatsAddr, sending: bool) -> Result<async_nats::Subject, Error> {
    if sending && addr.subject.split('.').any(|t| t == "*" || t == ">") {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            format!(
                "a sender publishes to one subject: `{}` has a wildcard (only receivers take those)",
                addr.subject
            ),
        ));
    }
    Ok(async_nats::Subject::from(addr.subject.as_str()))
}

/// The largest datagram (header included) the server takes: its
/// `max_payload` plus the header, which travels as a NATS header.
pub(super) fn transport_max(client: &async_nats::Client) -> usize {
    let max = client.server_info().max_payload;
    (if max == 0 { 1 << 20 } else { max }) + HEADER
}

pub(crate) fn sender(ctx: &Ctx<'_>, addr: &NatsAddr) -> Result<Opened<Outbound>, Error> {
    let subject = subject(addr, true)?;
    let status = Arc::new(connect::Status::default());
    let options = connect::options(ctx.ep, &status)?;
    let client = runtime::run(
        connect::connect(options, connect::servers(addr)),
        ctx.deadline,
        "connecting to NATS",
    )??;
    let max = transport_max(&client);
    let jetstream = ctx.ep.options().remote.jetstream;
    // A durable send returns once the message before it is stored: the
    // outbox holds one message (the stream is where messages wait).
    let outbox = Outbox::new(if jetstream { 1 } else { queue_bytes(ctx) })?;
    if jetstream {
        let stream = jetstream::stream_name(ctx.ep, addr);
        let capacity = ctx.ep.options().capacity;
        let (setup, subject_text) = (client.clone(), addr.subject.clone());
        let js = runtime::run(
            async move { jetstream::ensure_stream(&setup, &stream, &subject_text, capacity).await },
            ctx.deadline,
            "setting up the JetStream stream",
        )??;
        runtime::handle()?.spawn(jetstream::publish(
            js,
            client,
            subject,
            outbox.clone(),
            status,
        ));
    } else {
        let seq = Arc::new(std::sync::atomic::AtomicU64::new(0));
        outbox.set_direct(Box::new(publish::Direct {
            client: client.clone(),
            subject: subject.clone(),
            seq: seq.clone(),
            stamp: Default::default(),
        }));
        runtime::handle()?.spawn(publish::run(client, subject, outbox.clone(), status, seq));
    }
    Ok(ctx.datagram_sender(Carrier::Remote(Bridged::Out(outbox)), max))
}

pub(crate) fn receiver(ctx: &Ctx<'_>, addr: &NatsAddr) -> Result<Opened<Inbound>, Error> {
    if ctx.ep.options().remote.jetstream {
        return durable_receiver(ctx, addr);
    }
    let subject = subject(addr, false)?;
    let queue = ctx.ep.options().remote.queue.clone();
    let status = Arc::new(connect::Status::default());
    let options = connect::options(ctx.ep, &status)?;
    let servers = connect::servers(addr);
    let (client, subscriber) =
        connect::subscribed(options, servers, subject, queue.clone(), ctx.deadline)?;
    let max = transport_max(&client);
    let inbox = Inbox::new(queue_bytes(ctx))?;
    let receives = ctx.hello.receives.as_ref();
    let reading = subscribe::Reading {
        gaps: queue.is_none(),
        plain: receives.filter(|r| r.is_bytes()).map(|r| r.fingerprint),
    };
    runtime::handle()?.spawn(subscribe::run(
        subscriber,
        client,
        inbox.clone(),
        status,
        reading,
    ));
    Ok(ctx.datagram_receiver(Carrier::Remote(Bridged::In(inbox)), max, ctx.ep.clone()))
}

/// A JetStream receiver: the stream (created if missing: either side may
/// come first) and the durable consumer, read by [`jetstream::consume`].
fn durable_receiver(ctx: &Ctx<'_>, addr: &NatsAddr) -> Result<Opened<Inbound>, Error> {
    let remote = &ctx.ep.options().remote;
    if remote.queue.is_some() {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            "queue= is for core NATS; JetStream receivers share messages by durable= name",
        ));
    }
    let status = Arc::new(connect::Status::default());
    let options = connect::options(ctx.ep, &status)?;
    let servers = connect::servers(addr);
    let stream = jetstream::stream_name(ctx.ep, addr);
    let durable = remote.durable.clone().unwrap_or_else(|| "ipcx".into());
    let subject = addr.subject.clone();
    let (capacity, ack_wait) = (ctx.ep.options().capacity, remote.ack_wait);
    let (client, consumer) = runtime::run(
        async move {
            let client = connect::connect(options, servers).await?;
            let js = jetstream::ensure_stream(&client, &stream, &subject, capacity).await?;
            let consumer = jetstream::consumer(&js, &stream, &durable, &subject, ack_wait).await?;
            Ok::<_, Error>((client, consumer))
        },
        ctx.deadline,
        "binding a JetStream consumer",
    )??;
    let max = transport_max(&client);
    let inbox = Inbox::new(DEFAULT_QUEUE)?;
    let plain = ctx
        .hello
        .receives
        .as_ref()
        .filter(|r| r.is_bytes())
        .map(|r| r.fingerprint);
    runtime::handle()?.spawn(jetstream::consume(
        consumer,
        client,
        inbox.clone(),
        status,
        plain,
    ));
    Ok(ctx.datagram_receiver(Carrier::Remote(Bridged::In(inbox)), max, ctx.ep.clone()))
}
