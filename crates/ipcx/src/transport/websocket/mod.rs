//! `ws://host:port/path` and `wss://` (TLS): channels to and from a
//! browser or any WebSocket library. A receiver listens, a sender
//! connects; the connecting end's first message is its hello (text, see
//! [`hello`]), and then each binary message is one ipcx message, its
//! payload as the codec wrote it. docs/remote.md has the wire format and a
//! JavaScript sender.
//!
//! The link is the datagram link over the bridge (as on `nats://`): each
//! connection is one sender; a receiver ends when every sender it heard
//! from has closed, unless `serve=true`.
//!
//! `listen=true` on a sender turns the roles round: the sender listens and
//! every receiver that connects (`listen=false`, or a browser saying
//! `ipcx 1 receives …`) gets each message sent after it joined
//! ([`broadcast`]).

mod broadcast;
mod connect;
mod door;
mod hello;
mod listen;
mod tls;

use std::sync::Arc;

use hello::Verb;

use super::{runtime, tcp, Ctx, Opened};
use crate::endpoint::WsAddr;
use crate::error::{Error, ErrorKind};
use crate::link::bridge::{Bridged, Inbox, Outbox};
use crate::link::carrier::Carrier;
use crate::link::{Inbound, Outbound};
use crate::wire::datagram::HEADER;

/// Bytes a sender queues before `send` waits (its connection's TCP
/// buffers hold more), and a receiver holds before its connections wait.
const DEFAULT_QUEUE: usize = 4 << 20;

fn queue_bytes(ctx: &Ctx<'_>) -> usize {
    ctx.ep
        .options()
        .capacity
        .map_or(DEFAULT_QUEUE, |c| usize::try_from(c).unwrap_or(usize::MAX))
}

pub(crate) fn receiver(ctx: &Ctx<'_>, addr: &WsAddr) -> Result<Opened<Inbound>, Error> {
    if ctx.ep.options().remote.listen == Some(false) {
        return connecting_receiver(ctx, addr);
    }
    let receives = ctx
        .hello
        .receives
        .clone()
        .expect("a receiver's hello names what it receives");
    let (listener, local, door) = listen_at(ctx, addr, Verb::Sends, receives.clone())?;
    let inbox = Inbox::new(queue_bytes(ctx))?;
    let peer = Arc::new(listen::Receiving {
        inbox: inbox.clone(),
        fingerprint: receives.fingerprint,
    });
    runtime::handle()?.spawn(door::accept(listener, door, peer));
    let max = ctx.max_msg() as usize + HEADER;
    Ok(ctx.datagram_receiver(Carrier::Remote(Bridged::In(inbox)), max, local))
}

pub(crate) fn sender(ctx: &Ctx<'_>, addr: &WsAddr) -> Result<Opened<Outbound>, Error> {
    let sends = ctx
        .hello
        .sends
        .clone()
        .expect("a sender's hello names what it sends");
    let outbox = Outbox::new(queue_bytes(ctx))?;
    let max = ctx.max_msg() as usize + HEADER;
    if ctx.ep.options().remote.listen == Some(true) {
        let (listener, local, door) = listen_at(ctx, addr, Verb::Receives, sends)?;
        let (joined, joins) = tokio::sync::mpsc::unbounded_channel();
        let sending = Arc::new(broadcast::Sending {
            outbox: outbox.clone(),
            joined,
            done: tokio::sync::Notify::new(),
        });
        let rt = runtime::handle()?;
        rt.spawn(door::accept(listener, door, sending.clone()));
        rt.spawn(broadcast::run(outbox.clone(), sending, joins));
        let mut opened = ctx.datagram_sender(Carrier::Remote(Bridged::Out(outbox)), max);
        opened.local = local;
        return Ok(opened);
    }
    let task_outbox = outbox.clone();
    connected(ctx, addr, Verb::Sends, sends, move |ws| {
        tokio::spawn(connect::send(ws, task_outbox));
    })?;
    Ok(ctx.datagram_sender(Carrier::Remote(Bridged::Out(outbox)), max))
}

/// A receiver that connects to a listening sender (`listen=false`).
fn connecting_receiver(ctx: &Ctx<'_>, addr: &WsAddr) -> Result<Opened<Inbound>, Error> {
    let receives = ctx
        .hello
        .receives
        .clone()
        .expect("a receiver's hello names what it receives");
    let inbox = Inbox::new(queue_bytes(ctx))?;
    let (task_inbox, fingerprint) = (inbox.clone(), receives.fingerprint);
    connected(ctx, addr, Verb::Receives, receives, move |ws| {
        tokio::spawn(connect::receive(ws, task_inbox, fingerprint));
    })?;
    let max = ctx.max_msg() as usize + HEADER;
    Ok(ctx.datagram_receiver(Carrier::Remote(Bridged::In(inbox)), max, ctx.ep.clone()))
}

/// What the end has queued, as the payloads to send (each without its
/// datagram header), and whether the end is done (its bye, or finishing
/// with nothing left).
pub(super) fn take_payloads(outbox: &Outbox) -> (Vec<bytes::Bytes>, bool) {
    let (items, finishing) = outbox.take_all();
    let mut bye = finishing && items.is_empty();
    let mut payloads = Vec::with_capacity(items.len());
    for item in items {
        match crate::wire::datagram::Header::decode(&item) {
            Ok(h) if h.kind == crate::wire::datagram::Kind::Bye => bye = true,
            Ok(_) => payloads.push(item.slice(HEADER..)),
            Err(_) => {}
        }
    }
    (payloads, bye)
}

/// Binds the listening socket (TLS on `wss://`) and sets up its door.
fn listen_at(
    ctx: &Ctx<'_>,
    addr: &WsAddr,
    verb: Verb,
    ours: crate::codec::Identity,
) -> Result<(std::net::TcpListener, crate::endpoint::Endpoint, door::Door), Error> {
    let tls = addr.tls.then(|| tls::acceptor(ctx.ep)).transpose()?;
    let (fd, local) = tcp::bind(ctx.ep, &addr.at)?;
    let door = door::Door {
        path: addr.path.clone(),
        verb,
        ours,
        max_msg: ctx.max_msg() as usize,
        tls,
    };
    Ok((std::net::TcpListener::from(fd), local, door))
}

/// Connects (TCP, TLS on `wss://`, upgrade, hello) within the open's
/// deadline, then hands the connection to `then` on the runtime.
fn connected(
    ctx: &Ctx<'_>,
    addr: &WsAddr,
    verb: Verb,
    ours: crate::codec::Identity,
    then: impl FnOnce(door::Ws) + Send + 'static,
) -> Result<(), Error> {
    let fd = tcp::connect(&addr.at, ctx.deadline)?;
    let stream = std::net::TcpStream::from(fd);
    stream
        .set_nonblocking(true)
        .map_err(|e| Error::io("fcntl failed", e))?;
    let connector = addr
        .tls
        .then(|| tls::connector(ctx.ep, &addr.at))
        .transpose()?;
    let (ep, addr) = (ctx.ep.clone(), addr.clone());
    runtime::run(
        async move {
            let tcp = tokio::net::TcpStream::from_std(stream)
                .map_err(|e| Error::io("cannot hand the socket to the runtime", e))?;
            let io: Box<dyn door::Io> = match connector {
                Some((connector, name)) => {
                    Box::new(connector.connect(name, tcp).await.map_err(|e| {
                        Error::new(ErrorKind::Protocol, format!("TLS with {ep} failed: {e}"))
                    })?)
                }
                None => Box::new(tcp),
            };
            then(connect::handshake(io, &ep, &addr, verb, &ours).await?);
            Ok::<_, Error>(())
        },
        ctx.deadline,
        "connecting over WebSocket",
    )?
}
