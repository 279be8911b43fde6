//! The connecting side of a WebSocket end: TCP (and TLS on `wss://`), the
//! upgrade to the endpoint's path, the hello and its answer. Then a
//! sender's task sends what the end queues, one binary message each, and
//! closes the connection when the end is done; a receiver's
//! (`listen=false`, to a listening sender) hands what comes to its inbox.

use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_websockets::{ClientBuilder, Message, WebSocketStream};

use super::door::Ws;
use super::hello;
use crate::codec::Identity;
use crate::endpoint::{Endpoint, WsAddr};
use crate::error::{Error, ErrorKind};
use crate::link::bridge::{Ended, Inbox, Outbox};

/// Upgrades `stream` and says hello (`verb` and our type); an error says
/// why the listening end refused.
pub(super) async fn handshake<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    ep: &Endpoint,
    addr: &WsAddr,
    verb: hello::Verb,
    ours: &Identity,
) -> Result<WebSocketStream<S>, Error> {
    let uri = format!(
        "{}://{}{}",
        if addr.tls { "wss" } else { "ws" },
        addr.at,
        addr.path
    );
    let builder = ClientBuilder::new()
        .uri(&uri)
        .map_err(|e| Error::new(ErrorKind::InvalidEndpoint, format!("{ep}: {e}")))?;
    let (mut ws, _) = builder.connect_on(stream).await.map_err(|e| {
        Error::new(
            ErrorKind::Protocol,
            format!(
                "the WebSocket upgrade at {ep} failed: {e} (is an ipcx {} listening there?)",
                peer_name(verb)
            ),
        )
    })?;
    ws.send(Message::text(hello::encode(verb, ours)))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot send the hello: {e}")))?;
    match ws.next().await {
        Some(Ok(m)) if m.as_text() == Some(hello::OK) => Ok(ws),
        Some(Ok(m)) if m.is_close() => {
            let why = m
                .as_close()
                .map(|(_, why)| why.to_owned())
                .unwrap_or_default();
            let kind = if why.starts_with("type mismatch") {
                ErrorKind::TypeMismatch
            } else {
                ErrorKind::Protocol
            };
            Err(Error::new(
                kind,
                format!("the {} refused this end: {why}", peer_name(verb)),
            ))
        }
        _ => Err(Error::new(
            ErrorKind::Protocol,
            format!(
                "{ep} did not answer the hello: not an ipcx {}?",
                peer_name(verb)
            ),
        )),
    }
}

/// What listens at the other end, for messages.
fn peer_name(verb: hello::Verb) -> &'static str {
    match verb {
        hello::Verb::Sends => "receiver",
        hello::Verb::Receives => "sender (listen=true)",
    }
}

/// Sends what the end queues until it is done (then closes the
/// connection) or the receiver is gone.
pub(super) async fn send(ws: Ws, outbox: Arc<Outbox>) {
    let (mut sink, mut stream) = ws.split();
    loop {
        let (payloads, bye) = super::take_payloads(&outbox);
        for payload in payloads {
            if sink.feed(Message::binary(payload)).await.is_err() {
                outbox.end(Ended::Gone);
                return;
            }
        }
        if sink.flush().await.is_err() {
            outbox.end(Ended::Gone);
            return;
        }
        if bye {
            let _ = sink.close().await;
            outbox.done();
            return;
        }
        if outbox.queued() == 0 {
            tokio::select! {
                () = outbox.work.notified() => {}
                // The receiver closed (or the connection broke): sends fail.
                next = stream.next() => {
                    if !matches!(next, Some(Ok(ref m)) if !m.is_close()) {
                        outbox.end(Ended::Gone);
                        return;
                    }
                }
            }
        }
    }
}

/// A connecting receiver's task: what the listening sender sends goes to
/// the inbox (waiting for room: the sender then waits, through TCP); its
/// close is its bye. A stop of the end closes the connection.
pub(super) async fn receive(ws: Ws, inbox: Arc<Inbox>, fingerprint: u64) {
    let (closing, closed) = tokio::sync::watch::channel(false);
    let watch_close = async {
        inbox.closed.notified().await;
        let _ = closing.send(true);
        std::future::pending::<()>().await;
    };
    tokio::select! {
        () = super::listen::take(ws, &inbox, fingerprint, 1, closed) => {}
        () = watch_close => {}
    }
}
