//! A listening WebSocket sender (`listen=true`): every receiver that
//! connects (a browser, a `listen=false` ipcx receiver) gets each message
//! sent after it joined, as on a `shm:` ring with several readers.
//!
//! Flow: the end queues into its outbox; one task takes from it only
//! while at least one receiver is connected (until then `send` waits
//! once the outbox is full), and hands each message to every
//! connection's queue of [`PER_PEER`] messages, waiting while one is
//! full: the slowest receiver sets the pace and nothing is dropped. A
//! receiver that goes away leaves the others unaffected. When the end is
//! done, every connection is closed (code 1000), which a receiver takes
//! as the sender's bye.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio_websockets::{CloseCode, Message};

use super::door::{Peer, Ws};
use crate::link::bridge::{Ended, Outbox};
use crate::wire::datagram::{Header, Kind};

/// Messages queued for one connection before the sender waits for it.
const PER_PEER: usize = 64;
/// How long one receiver may hold up the others (its queue full) before
/// it is disconnected (code 1008, "too slow"): a stalled or hostile peer
/// cannot stop the stream.
const SLOW_PEER: Duration = Duration::from_secs(10);
/// How often a sender with nobody to send to looks whether its end gave up.
const IDLE_LOOK: Duration = Duration::from_secs(1);

/// One connected receiver, as the sending task holds it.
pub(super) struct Joined {
    queue: mpsc::Sender<Bytes>,
    /// Says the connection has written all and closed.
    written: oneshot::Receiver<()>,
    /// Ends the connection at once, saying it fell too far behind.
    kick: oneshot::Sender<()>,
}

/// The sending end's side of each connection: the door hands each new
/// connection's queue to [`run`].
pub(super) struct Sending {
    pub(super) outbox: Arc<Outbox>,
    pub(super) joined: mpsc::UnboundedSender<Joined>,
    /// Rung when the end is done: the door stops accepting.
    pub(super) done: Notify,
}

impl Peer for Sending {
    fn closed(&self) -> &Notify {
        &self.done
    }

    fn serve(
        self: Arc<Self>,
        ws: Ws,
        _id: u32,
        closing: watch::Receiver<bool>,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        let (queue, rx) = mpsc::channel(PER_PEER);
        let (wrote, written) = oneshot::channel();
        let (kick, kicked) = oneshot::channel();
        let joined = self.joined.send(Joined {
            queue,
            written,
            kick,
        });
        Box::pin(async move {
            if joined.is_ok() {
                write(ws, rx, kicked, closing).await;
            }
            let _ = wrote.send(());
        })
    }

    fn failed(&self) {
        self.outbox.end(Ended::Gone);
    }
}

/// Writes one connection's messages until its queue closes (the end is
/// done: a normal close), the end stops, or the receiver goes away.
async fn write(
    ws: Ws,
    mut queue: mpsc::Receiver<Bytes>,
    kicked: oneshot::Receiver<()>,
    mut closing: watch::Receiver<bool>,
) {
    let (mut sink, mut stream) = ws.split();
    // Resolves only on a kick (the task dropping its side is no kick).
    let kicked = async {
        if kicked.await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::pin!(kicked);
    loop {
        tokio::select! {
            biased;
            () = &mut kicked => {
                let why = format!(
                    "too slow: {PER_PEER} messages behind for {} s; the others go on",
                    SLOW_PEER.as_secs()
                );
                let _ = sink.send(Message::close(Some(CloseCode::POLICY_VIOLATION), &why)).await;
                return;
            }
            next = queue.recv() => match next {
                Some(payload) => {
                    // A kick while the peer's buffers are full drops the
                    // connection: no close frame fits.
                    tokio::select! {
                        sent = sink.send(Message::binary(payload)) => if sent.is_err() {
                            return;
                        },
                        () = &mut kicked => return,
                    }
                }
                None => break,
            },
            // A receiver sends nothing after its hello: a close or an
            // error ends it (pings are answered by the library).
            m = stream.next() => match m {
                Some(Ok(m)) if !m.is_close() => {}
                _ => return,
            },
            _ = closing.changed() => break,
        }
    }
    let _ = sink.close().await;
}

/// How long a finished end's receivers have to take what was queued for
/// them (as long as a dropped end waits for its outbox).
const PATIENCE: Duration = Duration::from_secs(5);

/// Takes what the end queues and hands it to every connected receiver,
/// until the end is done (then every connection is closed, after what it
/// holds) or gives up.
pub(super) async fn run(
    outbox: Arc<Outbox>,
    sending: Arc<Sending>,
    mut joined: mpsc::UnboundedReceiver<Joined>,
) {
    let mut peers: Vec<Joined> = Vec::new();
    'running: loop {
        while let Ok(peer) = joined.try_recv() {
            peers.push(peer);
        }
        peers.retain(|p| !p.queue.is_closed());
        if peers.is_empty() {
            // Nobody to send to: what is queued waits (and `send` once
            // the outbox is full) until a receiver connects.
            tokio::select! {
                peer = joined.recv() => match peer {
                    Some(peer) => peers.push(peer),
                    None => break 'running,
                },
                () = outbox.work.notified() => {
                    if outbox.finishing() && nothing_but_byes(&outbox) {
                        break 'running;
                    }
                }
                () = tokio::time::sleep(IDLE_LOOK) => {
                    if outbox.abandoned() {
                        break 'running;
                    }
                }
            }
            continue;
        }
        let (payloads, bye) = super::take_payloads(&outbox);
        for payload in payloads {
            peers = hand_out(peers, &payload).await;
        }
        outbox.sent();
        if bye {
            break 'running;
        }
        if outbox.queued() == 0 {
            tokio::select! {
                () = outbox.work.notified() => {}
                peer = joined.recv() => {
                    if let Some(peer) = peer {
                        peers.push(peer);
                    }
                }
            }
        }
    }
    sending.done.notify_one();
    // Closing every queue closes every connection after what it holds.
    let written: Vec<_> = peers.into_iter().map(|p| p.written).collect();
    let _ = tokio::time::timeout(PATIENCE, futures_util::future::join_all(written)).await;
    outbox.done();
}

/// Gives `payload` to every receiver, waiting for room; one that stays
/// full for [`SLOW_PEER`] is disconnected, one that is gone is dropped.
async fn hand_out(peers: Vec<Joined>, payload: &Bytes) -> Vec<Joined> {
    let mut kept = Vec::with_capacity(peers.len());
    for peer in peers {
        match peer.queue.send_timeout(payload.clone(), SLOW_PEER).await {
            Ok(()) => kept.push(peer),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                let _ = peer.kick.send(());
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => {}
        }
    }
    kept
}

/// Whether the outbox holds no data (a finished end's bye at most): then
/// a finished end with nobody connected is done at once.
fn nothing_but_byes(outbox: &Outbox) -> bool {
    let (items, _) = outbox.take_all();
    let data = items
        .iter()
        .any(|i| Header::decode(i).is_ok_and(|h| h.kind == Kind::Data));
    outbox.put_back(items.into_iter());
    outbox.sent();
    !data
}
