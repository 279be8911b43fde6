//! Calls over NATS (`rpc::Client` and `rpc::Server` on `nats://`), in
//! NATS's own request/reply: a request is a message on the service's
//! subject whose reply subject is the client's inbox (`_INBOX.ipcx.<id>.
//! <call id>`); the answer is a message on that subject. So `nats req`
//! can call an ipcx server (`ipcx serve`), and `ipcx call` a NATS
//! service in any language. Servers of one subject form a queue group
//! (`queue=`, default `ipcx`): each request goes to one of them.
//!
//! Payloads are the bodies alone; the `Ipcx` header carries the type
//! fingerprint (as on every ipcx NATS message), and `Ipcx-Error: 1` marks
//! an error answer, whose body is its text. A server checks a request's
//! type itself and answers a mismatch with an error naming both types,
//! so a wrong client hears why at its first call.
//!
//! Inside, the ends are the usual datagram links over the bridge, carrying
//! call frames (`rpc::frame`): the tasks here turn frames into NATS
//! requests and replies and back.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use async_nats::{Client, HeaderMap, Message, StatusCode, Subject, Subscriber};
use bytes::Bytes;
use futures_core::Stream;

use super::connect::Status;
use super::publish::{batch, next_round};
use super::{connect, header, transport_max, DEFAULT_QUEUE};
use crate::codec::Identity;
use crate::endpoint::NatsAddr;
use crate::error::{Error, ErrorKind};
use crate::link::bridge::{Bridged, Ended, Inbox, Incoming, Outbox};
use crate::link::carrier::Carrier;
use crate::rpc::frame::{self, Kind};
use crate::transport::runtime;
use crate::transport::{Connection, Ctx, Opened};
use crate::wire::datagram::{Header, Kind as DatagramKind, HEADER};

/// The header that marks an error answer.
const ERROR_HEADER: &str = "Ipcx-Error";
/// Servers of one subject share its requests in this queue group unless
/// `queue=` names another.
const DEFAULT_GROUP: &str = "ipcx";
/// The sender id every request and reply is filed under (no byes are sent
/// on calls, so the datagram link need not tell senders apart).
const CALLS: u32 = 1;

/// Which end of calls to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Client,
    Server,
}

pub(crate) fn open(
    ctx: &Ctx<'_>,
    addr: &NatsAddr,
    side: Side,
) -> Result<Opened<Connection>, Error> {
    if addr.subject.split('.').any(|t| t == "*" || t == ">") {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            format!("calls go to one subject: `{}` has a wildcard", addr.subject),
        ));
    }
    let status = Arc::new(Status::default());
    let options = connect::options(ctx.ep, &status)?;
    let servers = connect::servers(addr);
    let subject = Subject::from(addr.subject.as_str());
    let group = ctx
        .ep
        .options()
        .remote
        .queue
        .clone()
        .unwrap_or_else(|| DEFAULT_GROUP.into());
    let inbox_prefix = format!(
        "_INBOX.ipcx.{:016x}",
        (u64::from(crate::sys::random_u32()) << 32 | u64::from(crate::sys::random_u32()))
    );
    let listen_on = match side {
        Side::Client => Subject::from(format!("{inbox_prefix}.*")),
        Side::Server => subject.clone(),
    };
    let group = (side == Side::Server).then_some(group);
    let (client, subscriber) =
        connect::subscribed(options, servers, listen_on, group, ctx.deadline)?;
    let max = transport_max(&client);
    let outbox = Outbox::new(DEFAULT_QUEUE)?;
    let inbox = Inbox::new(DEFAULT_QUEUE)?;
    let receives = ctx
        .hello
        .receives
        .clone()
        .expect("a call end declares what it receives");
    let handle = runtime::handle()?;
    match side {
        Side::Client => {
            handle.spawn(client_requests(
                client.clone(),
                subject,
                inbox_prefix,
                outbox.clone(),
                status.clone(),
            ));
            handle.spawn(client_replies(
                subscriber,
                client,
                inbox.clone(),
                status,
                receives,
            ));
        }
        Side::Server => {
            let routes = Arc::new(Routes::default());
            handle.spawn(server_replies(
                client.clone(),
                routes.clone(),
                outbox.clone(),
                status.clone(),
            ));
            handle.spawn(server_requests(
                subscriber,
                client,
                inbox.clone(),
                status,
                receives,
                routes,
            ));
        }
    }
    let out = ctx.datagram_sender(Carrier::Remote(Bridged::Out(outbox)), max);
    let mut inn = ctx.datagram_receiver(Carrier::Remote(Bridged::In(inbox)), max, ctx.ep.clone());
    // No byes on calls: the ends last until closed or stopped.
    inn.link.set_serve(true);
    Ok(Opened::new(
        Connection {
            outbound: Some(out.link),
            inbound: Some(inn.link),
        },
        ctx.ep.clone(),
    ))
}

/// What a datagram the end queued holds: its header and the call frame.
fn parts(item: &Bytes) -> Option<(Header, frame::Frame<'_>)> {
    let header = Header::decode(item).ok()?;
    if header.kind == DatagramKind::Bye {
        return None;
    }
    let frame = frame::decode(item.get(HEADER..)?).ok()?;
    Some((header, frame))
}

fn ipcx_headers(header: &Header, seq: u64) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Some(value) = header::encode(&header.encode(), seq) {
        headers.insert(header::NAME, value.as_str());
    }
    headers
}

/// The client's requests: each call frame a NATS request whose reply
/// subject names the call. Cancels need nothing sent (a late answer is
/// dropped by the client).
async fn client_requests(
    client: Client,
    subject: Subject,
    inbox_prefix: String,
    outbox: Arc<Outbox>,
    status: Arc<Status>,
) {
    let mut seq = 0u64;
    loop {
        let Some(items) = batch(&client, &outbox).await else {
            return;
        };
        for item in &items {
            let Some((header, call)) = parts(item) else {
                continue;
            };
            if call.kind != Kind::Request {
                continue;
            }
            seq += 1;
            let reply = Subject::from(format!("{inbox_prefix}.{}", call.id));
            let body = item.slice(HEADER + frame::HEADER..);
            let sent = client
                .publish_with_reply_and_headers(
                    subject.clone(),
                    reply,
                    ipcx_headers(&header, seq),
                    body,
                )
                .await;
            if sent.is_err() {
                outbox.end(Ended::Gone);
                return;
            }
        }
        if !next_round(&outbox, &status).await {
            return;
        }
    }
}

/// The client's answers, as reply or error frames for the call its
/// subject names. "No responders" (no server subscribed) is an error
/// answer saying so.
async fn client_replies(
    mut subscriber: Subscriber,
    client: Client,
    inbox: Arc<Inbox>,
    status: Arc<Status>,
    receives: Identity,
) {
    loop {
        let Some(message) = next_message(&mut subscriber, &inbox, &status).await else {
            break;
        };
        let Some(id) = message
            .subject
            .rsplit('.')
            .next()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            continue;
        };
        let (kind, body) = if message.status == Some(StatusCode::NO_RESPONDERS) {
            (
                Kind::Error,
                Bytes::from("no server answers on this subject (NATS: no responders)"),
            )
        } else if has_error_mark(&message) {
            (Kind::Error, message.payload.clone())
        } else {
            (Kind::Reply, message.payload.clone())
        };
        // An ipcx server's answer carries its type; a plain responder's is
        // taken as bytes by a bytes client, and refused by a typed one.
        let fingerprint = match ipcx_fingerprint(&message) {
            Some(f) => Some(f),
            None if kind == Kind::Error || receives.is_bytes() => Some(receives.fingerprint),
            None => None,
        };
        if !inbox.push(framed(fingerprint, kind, id, &body)) {
            break;
        }
    }
    let _ = subscriber.unsubscribe().await;
    drop(client);
}

/// Where each request in the server's hands is answered: its local call
/// id, and the reply subject it came with.
#[derive(Debug, Default)]
struct Routes {
    next: std::sync::atomic::AtomicU64,
    open: Mutex<HashMap<u64, Subject>>,
}

impl Routes {
    fn add(&self, reply: Subject) -> u64 {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id, reply);
        id
    }

    fn take(&self, id: u64) -> Option<Subject> {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id)
    }
}

/// The server's requests: each NATS request a request frame under a call
/// id of the server's, remembered with its reply subject. A request of
/// another type, or not from ipcx to a typed server, is answered with an
/// error at once; a message with no reply subject is no call (dropped,
/// counted in `missed()`).
async fn server_requests(
    mut subscriber: Subscriber,
    client: Client,
    inbox: Arc<Inbox>,
    status: Arc<Status>,
    receives: Identity,
    routes: Arc<Routes>,
) {
    loop {
        let Some(message) = next_message(&mut subscriber, &inbox, &status).await else {
            break;
        };
        let Some(reply) = message.reply.clone() else {
            inbox.lost(1);
            continue;
        };
        let refused = match ipcx_fingerprint(&message) {
            Some(f) if receives.is_bytes() || f == receives.fingerprint => None,
            Some(f) => Some(format!(
                "type mismatch: this server takes `{}` (fingerprint {:016x}), the request is \
                 of fingerprint {f:016x}",
                receives.name, receives.fingerprint
            )),
            None if receives.is_bytes() => None,
            None => Some(format!(
                "not an ipcx call (no Ipcx header): this server takes `{}`",
                receives.name
            )),
        };
        if let Some(why) = refused {
            let mut headers = HeaderMap::new();
            headers.insert(ERROR_HEADER, "1");
            let _ = client
                .publish_with_headers(reply, headers, Bytes::from(why))
                .await;
            continue;
        }
        let id = routes.add(reply);
        if !inbox.push(framed(
            Some(receives.fingerprint),
            Kind::Request,
            id,
            &message.payload,
        )) {
            break;
        }
    }
    let _ = subscriber.unsubscribe().await;
    drop(client);
}

/// The server's answers: each reply or error frame to the reply subject
/// its call came with.
async fn server_replies(
    client: Client,
    routes: Arc<Routes>,
    outbox: Arc<Outbox>,
    status: Arc<Status>,
) {
    let mut seq = 0u64;
    loop {
        let Some(items) = batch(&client, &outbox).await else {
            return;
        };
        for item in &items {
            let Some((header, call)) = parts(item) else {
                continue;
            };
            let Some(reply) = routes.take(call.id) else {
                continue;
            };
            seq += 1;
            let mut headers = ipcx_headers(&header, seq);
            if call.kind == Kind::Error {
                headers.insert(ERROR_HEADER, "1");
            }
            let body = item.slice(HEADER + frame::HEADER..);
            if client
                .publish_with_headers(reply, headers, body)
                .await
                .is_err()
            {
                outbox.end(Ended::Gone);
                return;
            }
        }
        if !next_round(&outbox, &status).await {
            return;
        }
    }
}

async fn next_message(
    subscriber: &mut Subscriber,
    inbox: &Inbox,
    status: &Status,
) -> Option<Message> {
    let next = std::future::poll_fn(|cx| Pin::new(&mut *subscriber).poll_next(cx));
    let got = tokio::select! {
        m = next => m,
        () = inbox.closed.notified() => return None,
        () = status.changed.notified() => None,
    };
    if got.is_none() {
        match status.fatal() {
            Some(error) => inbox.end(Ended::Failed(error)),
            None => inbox.end(Ended::Gone),
        }
    }
    got
}

fn has_error_mark(message: &Message) -> bool {
    message
        .headers
        .as_ref()
        .is_some_and(|h| h.get(ERROR_HEADER).is_some())
}

fn ipcx_fingerprint(message: &Message) -> Option<u64> {
    let value = message.headers.as_ref()?.get(header::NAME)?;
    let (bytes, _, _) = header::decode(value.as_str())?;
    Header::decode(&bytes).ok().map(|h| h.fingerprint)
}

/// A call frame as the end reads it: with a datagram header of
/// `fingerprint` (none: the end reports the message as not from ipcx).
fn framed(fingerprint: Option<u64>, kind: Kind, id: u64, body: &[u8]) -> Incoming {
    let header = fingerprint.map(|fingerprint| {
        Header {
            kind: DatagramKind::Data,
            sender: CALLS,
            fingerprint,
        }
        .encode()
    });
    Incoming {
        header,
        payload: Bytes::from(frame::encode(kind, id, body)),
        done: None,
    }
}
