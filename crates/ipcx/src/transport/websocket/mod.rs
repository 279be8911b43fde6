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

mod connect;
mod hello;
mod listen;
mod tls;

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
    let tls = addr.tls.then(|| tls::acceptor(ctx.ep)).transpose()?;
    let (fd, local) = tcp::bind(ctx.ep, &addr.at)?;
    let listener = std::net::TcpListener::from(fd);
    let inbox = Inbox::new(queue_bytes(ctx))?;
    let max_msg = ctx.max_msg() as usize;
    let listening = listen::Listening {
        inbox: inbox.clone(),
        receives: ctx
            .hello
            .receives
            .clone()
            .expect("a receiver's hello names what it receives"),
        path: addr.path.clone(),
        max_msg,
        tls,
    };
    runtime::handle()?.spawn(listen::accept(listener, listening));
    Ok(ctx.datagram_receiver(Carrier::Remote(Bridged::In(inbox)), max_msg + HEADER, local))
}

pub(crate) fn sender(ctx: &Ctx<'_>, addr: &WsAddr) -> Result<Opened<Outbound>, Error> {
    let fd = tcp::connect(&addr.at, ctx.deadline)?;
    let stream = std::net::TcpStream::from(fd);
    stream
        .set_nonblocking(true)
        .map_err(|e| Error::io("fcntl failed", e))?;
    let sends = ctx
        .hello
        .sends
        .clone()
        .expect("a sender's hello names what it sends");
    let outbox = Outbox::new(queue_bytes(ctx))?;
    let (ep, addr_owned, task_outbox) = (ctx.ep.clone(), addr.clone(), outbox.clone());
    let connector = addr
        .tls
        .then(|| tls::connector(ctx.ep, &addr.at))
        .transpose()?;
    runtime::run(
        async move {
            let tcp = tokio::net::TcpStream::from_std(stream)
                .map_err(|e| Error::io("cannot hand the socket to the runtime", e))?;
            match connector {
                Some((connector, name)) => {
                    let tls = connector.connect(name, tcp).await.map_err(|e| {
                        Error::new(ErrorKind::Protocol, format!("TLS with {ep} failed: {e}"))
                    })?;
                    let ws = connect::handshake(tls, &ep, &addr_owned, &sends).await?;
                    tokio::spawn(connect::send(ws, task_outbox));
                }
                None => {
                    let ws = connect::handshake(tcp, &ep, &addr_owned, &sends).await?;
                    tokio::spawn(connect::send(ws, task_outbox));
                }
            }
            Ok::<_, Error>(())
        },
        ctx.deadline,
        "connecting over WebSocket",
    )??;
    let max = ctx.max_msg() as usize + HEADER;
    Ok(ctx.datagram_sender(Carrier::Remote(Bridged::Out(outbox)), max))
}
