//! The listening side of a WebSocket end, whichever way its messages go:
//! accepts connections (TLS first on `wss://`), upgrades each, checks its
//! path and its hello, answers `ipcx 1 ok`, and hands the connection to
//! the end's [`Peer`] handler on a task of its own.
//!
//! Bounds: at most [`MOST_PEERS`] connections at once (more wait in the
//! backlog); a peer has [`HELLO_WITHIN`] to finish its upgrade and hello;
//! a message above `max_msg` ends its connection (code 1009), and the
//! others go on. Out of fds or memory, the accept is retried after a
//! pause that grows to 1 s while it lasts.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};
use tokio_websockets::{CloseCode, Limits, Message, ServerBuilder, WebSocketStream};

use super::hello::{self, Verb};
use crate::codec::Identity;

/// Connections served at once.
const MOST_PEERS: usize = 1024;
/// How long a new connection has for its upgrade and its hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);

/// A connection's byte stream, TLS or not.
pub(super) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A connection that passed the door.
pub(super) type Ws = WebSocketStream<Box<dyn Io>>;

/// What the door checks, for one listening end.
pub(super) struct Door {
    /// The one path served.
    pub(super) path: String,
    /// What a connecting end's hello must say it does.
    pub(super) verb: Verb,
    /// The listening end's type: a connecting end's must agree.
    pub(super) ours: Identity,
    pub(super) max_msg: usize,
    pub(super) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// What the listening end does with each connection that passed.
pub(super) trait Peer: Send + Sync + 'static {
    /// Rung when the end closes: the door stops accepting.
    fn closed(&self) -> &Notify;
    /// Serves one connection (`id` is unique per listener) until it ends
    /// or `closing` turns true.
    fn serve(
        self: Arc<Self>,
        ws: Ws,
        id: u32,
        closing: watch::Receiver<bool>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>>;
    /// The listener could not be handed to the runtime: nothing will come.
    fn failed(&self);
}

/// Accepts until the end closes; each connection on a task of its own.
pub(super) async fn accept(listener: std::net::TcpListener, door: Door, peer: Arc<dyn Peer>) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        peer.failed();
        return;
    };
    let door = Arc::new(door);
    let places = Arc::new(Semaphore::new(MOST_PEERS));
    let (closing, closed) = watch::channel(false);
    let next_id = AtomicU32::new(1);
    let mut backoff = Duration::from_millis(1);
    loop {
        let place = tokio::select! {
            p = Arc::clone(&places).acquire_owned() => p.expect("never closed"),
            () = peer.closed().notified() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = peer.closed().notified() => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = Duration::from_millis(1);
                stream
            }
            // Out of fds or memory: the connections there go on; look
            // again after a pause that grows while it lasts.
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let (door, peer) = (Arc::clone(&door), Arc::clone(&peer));
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let closed = closed.clone();
        tokio::spawn(async move {
            let stream: Box<dyn Io> = match &door.tls {
                Some(tls) => match tokio::time::timeout(HELLO_WITHIN, tls.accept(stream)).await {
                    Ok(Ok(stream)) => Box::new(stream),
                    _ => return,
                },
                None => Box::new(stream),
            };
            if let Some(ws) = admit(stream, &door).await {
                peer.serve(ws, id, closed).await;
            }
            drop(place);
        });
    }
    // The end stopped: its connections end too.
    let _ = closing.send(true);
}

/// Upgrade, path, hello: the connection if it passed (answered `ok`),
/// else `None` (closed with the reason, code 1008).
async fn admit(stream: Box<dyn Io>, door: &Door) -> Option<Ws> {
    let limits = Limits::default().max_payload_len(Some(door.max_msg));
    let builder = ServerBuilder::new().limits(limits);
    let upgrade = builder.accept(stream);
    let Ok(Ok((request, mut ws))) = tokio::time::timeout(HELLO_WITHIN, upgrade).await else {
        return None;
    };
    let refused = if request.uri().path() != door.path {
        Some(format!(
            "no ipcx endpoint at {}: this one is {}",
            request.uri().path(),
            door.path
        ))
    } else {
        let first = tokio::time::timeout(HELLO_WITHIN, ws.next()).await;
        let declared = match first {
            Ok(Some(Ok(m))) if m.is_text() => {
                hello::decode(m.as_text().unwrap_or_default(), door.verb)
            }
            Ok(Some(Ok(_))) => {
                Err("the first message must be the hello, as text (see docs/remote.md)".into())
            }
            _ => return None,
        };
        match (&declared, door.verb) {
            (Ok(sends), Verb::Sends) => hello::refusal(&door.ours, sends),
            (Ok(receives), Verb::Receives) => hello::refusal(receives, &door.ours),
            (Err(why), _) => Some(why.clone()),
        }
    };
    if let Some(why) = refused {
        // The reason is cut to what a close frame holds (123 bytes).
        let why: String = why.chars().take(120).collect();
        let _ = ws
            .send(Message::close(Some(CloseCode::POLICY_VIOLATION), &why))
            .await;
        return None;
    }
    ws.send(Message::text(hello::OK)).await.ok()?;
    Some(ws)
}
