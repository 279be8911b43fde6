//! A listening WebSocket receiver: accepts connections (TLS first on
//! `wss://`), checks each one's path and hello, then hands its binary
//! messages to the end's inbox, waiting for room (so a sender that
//! outruns the receiver waits, through TCP, as on `tcp:`).
//!
//! Bounds: at most [`MOST_PEERS`] connections at once (more wait in the
//! backlog); a peer has [`HELLO_WITHIN`] to finish its upgrade and hello;
//! a message above `max_msg` ends its connection (code 1009), and the
//! others go on.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_websockets::{CloseCode, Limits, Message, ServerBuilder};

use super::hello;
use crate::codec::Identity;
use crate::link::bridge::{Inbox, Incoming};
use crate::wire::datagram::{Header, Kind};

/// Connections served at once.
const MOST_PEERS: usize = 1024;
/// How long a new connection has for its upgrade and its hello.
const HELLO_WITHIN: Duration = Duration::from_secs(10);

/// What every connection of one listener shares.
pub(super) struct Listening {
    pub(super) inbox: Arc<Inbox>,
    pub(super) receives: Identity,
    pub(super) path: String,
    pub(super) max_msg: usize,
    pub(super) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Accepts until the end closes; each connection on a task of its own.
pub(super) async fn accept(listener: std::net::TcpListener, listening: Listening) {
    let Ok(listener) = TcpListener::from_std(listener) else {
        listening.inbox.end(crate::link::bridge::Ended::Gone);
        return;
    };
    let listening = Arc::new(listening);
    let places = Arc::new(Semaphore::new(MOST_PEERS));
    let (closing, closed) = watch::channel(false);
    let next_id = Arc::new(AtomicU32::new(1));
    let mut backoff = Duration::from_millis(1);
    loop {
        let place = tokio::select! {
            p = Arc::clone(&places).acquire_owned() => p.expect("never closed"),
            () = listening.inbox.closed.notified() => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = listening.inbox.closed.notified() => break,
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
        let listening = Arc::clone(&listening);
        let sender = next_id.fetch_add(1, Ordering::Relaxed);
        let closed = closed.clone();
        tokio::spawn(async move {
            match &listening.tls {
                Some(tls) => {
                    let handshake = tokio::time::timeout(HELLO_WITHIN, tls.accept(stream)).await;
                    if let Ok(Ok(stream)) = handshake {
                        serve(stream, &listening, sender, closed).await;
                    }
                }
                None => serve(stream, &listening, sender, closed).await,
            }
            drop(place);
        });
    }
    // The end stopped: its connections end too.
    let _ = closing.send(true);
}

/// One connection: upgrade, hello, then its messages.
async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    listening: &Listening,
    sender: u32,
    mut closed: watch::Receiver<bool>,
) {
    let limits = Limits::default().max_payload_len(Some(listening.max_msg));
    let builder = ServerBuilder::new().limits(limits);
    let upgrade = builder.accept(stream);
    let Ok(Ok((request, mut ws))) = tokio::time::timeout(HELLO_WITHIN, upgrade).await else {
        return;
    };
    if request.uri().path() != listening.path {
        let why = format!(
            "no ipcx endpoint at {}: this one is {}",
            request.uri().path(),
            listening.path
        );
        let _ = ws
            .send(Message::close(Some(CloseCode::POLICY_VIOLATION), &why))
            .await;
        return;
    }
    let first = tokio::time::timeout(HELLO_WITHIN, ws.next()).await;
    let declared = match first {
        Ok(Some(Ok(m))) if m.is_text() => hello::decode(m.as_text().unwrap_or_default()),
        Ok(Some(Ok(_))) => {
            Err("the first message must be the hello, as text (see docs/remote.md)".into())
        }
        _ => return,
    };
    let refused = match &declared {
        Ok(sends) => hello::refusal(&listening.receives, sends),
        Err(why) => Some(why.clone()),
    };
    if let Some(why) = refused {
        // The reason is cut to what a close frame holds (123 bytes).
        let why: String = why.chars().take(120).collect();
        let _ = ws
            .send(Message::close(Some(CloseCode::POLICY_VIOLATION), &why))
            .await;
        return;
    }
    if ws.send(Message::text(hello::OK)).await.is_err() {
        return;
    }
    let stamp = |kind| {
        Header {
            kind,
            sender,
            fingerprint: listening.receives.fingerprint,
        }
        .encode()
    };
    let inbox = &listening.inbox;
    loop {
        let next = tokio::select! {
            m = ws.next() => m,
            _ = closed.changed() => break,
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
