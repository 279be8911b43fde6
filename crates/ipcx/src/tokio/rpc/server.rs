//! The async [`Server`]: a task per connection, a task per request, at
//! most `workers` requests running at once.

use std::collections::HashSet;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::channel::OpenOptions;
use crate::codec::{self, Message};
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, ErrorKind, RecvError};
use crate::rpc::frame::{self, Kind};
use crate::rpc::server::{is_fatal, open_connection, panicked, Bound, AFTER_ERROR, LONGEST_PAUSE};
use crate::stats::{Counter, Role};
use crate::tokio::{Listener, Receiver, Sender};
use crate::{Bytes, Stop};

/// A handler's answer to one request: the reply's bytes, or an error text.
type Answering = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send>>;
type Handler = dyn Fn(Vec<u8>) -> Answering + Send + Sync;

/// The async server end of call connections (`unix:`, `unix+seqpacket:`,
/// `tcp:`, `shm:`): binds, then [`serve`](Server::serve)s every client
/// with an async handler.
///
/// - At most `workers` (64) requests run at once; a connection's reader
///   waits for a place before reading its next request (backpressure).
/// - At most `max_clients` (1 024) connections are served at once; the
///   next wait in the listen backlog. A connection costs a task and its
///   buffers, not a thread.
/// - A handler's `Err(text)` or panic reaches the caller as
///   [`CallError::Remote`](crate::rpc::CallError::Remote); the server goes on.
/// - With a [`Stop`] (`bind_with`): no new clients or requests; the
///   requests running are answered; `serve` returns.
pub struct Server<Req, Resp> {
    endpoint: Endpoint,
    /// The socket clients connect to (none on `nats://`).
    listener: Option<Listener>,
    /// On `nats://`: every client's requests on one pair of ends.
    remote: Option<crate::rpc::server::RemoteEnds>,
    rings: Option<Endpoint>,
    stop: Option<Stop>,
    workers: usize,
    max_clients: usize,
    _types: PhantomData<fn(Req) -> Resp>,
}

impl<Req: Message, Resp: Message> Server<Req, Resp> {
    /// Binds and listens on `endpoint` (as [`crate::rpc::Server::bind`]).
    pub fn bind(endpoint: impl ToEndpoint) -> Result<Self, Error> {
        Self::bind_with(endpoint, &OpenOptions::new())
    }

    /// Like [`Server::bind`], with a [`Stop`] that ends serving.
    pub fn bind_with(endpoint: impl ToEndpoint, options: &OpenOptions) -> Result<Self, Error> {
        let Bound {
            endpoint,
            listener,
            remote,
            rings,
            stop,
        } = Bound::new(endpoint, options, crate::rpc::identities::<Req, Resp>())?;
        Ok(Server {
            endpoint,
            listener: listener.map(Listener::new),
            remote,
            rings,
            stop,
            workers: 64,
            max_clients: 1024,
            _types: PhantomData,
        })
    }
}

impl<Req, Resp> Server<Req, Resp> {
    /// How many requests run at once (at least 1).
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// How many clients are served at once (at least 1).
    pub fn max_clients(mut self, n: usize) -> Self {
        self.max_clients = n.max(1);
        self
    }

    /// The endpoint as bound (for `tcp:…:0`, with the port chosen).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl<Req, Resp> Server<Req, Resp>
where
    Req: Message + DeserializeOwned + Send + 'static,
    Resp: Message + Serialize + Send + 'static,
{
    /// Serves until the stop (forever without one): `handler` answers
    /// each request.
    pub async fn serve<H, F>(self, handler: H) -> Result<(), Error>
    where
        H: Fn(Req) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Resp, String>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.run(Arc::new(move |body: Vec<u8>| -> Answering {
            let request = codec::decode::<Req>(&body);
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let request = request.map_err(|e| format!("bad request: {e}"))?;
                let reply = handler(request).await?;
                let mut out = Vec::new();
                codec::encode(&reply, &mut out)
                    .map_err(|e| format!("cannot encode the reply: {e}"))?;
                Ok(out)
            })
        }))
        .await
    }
}

impl Server<Bytes, Bytes> {
    /// Serves raw requests: `handler` gets each request's bytes and
    /// returns the reply's.
    pub async fn serve_bytes<H, F>(self, handler: H) -> Result<(), Error>
    where
        H: Fn(Vec<u8>) -> F + Send + Sync + 'static,
        F: Future<Output = Result<Vec<u8>, String>> + Send + 'static,
    {
        self.run(Arc::new(move |body| -> Answering {
            Box::pin(handler(body))
        }))
        .await
    }
}

/// What every connection task of one server shares.
struct Serving {
    handler: Arc<Handler>,
    /// A place per request running.
    places: Arc<Semaphore>,
    stats: Mutex<Counter>,
    stop: Option<Stop>,
}

impl<Req: Message, Resp: Message> Server<Req, Resp> {
    async fn run(mut self, handler: Arc<Handler>) -> Result<(), Error> {
        let serving = Arc::new(Serving {
            handler,
            places: Arc::new(Semaphore::new(self.workers)),
            stats: Mutex::new(Counter::new(Role::Server, &self.endpoint.to_string())),
            stop: self.stop.clone(),
        });
        let (requests, replies) = crate::rpc::identities::<Req, Resp>();
        let Some(mut listener) = self.listener.take() else {
            // `nats://`: one stream of every client's requests.
            if let Some((tx, rx)) = self.remote.take() {
                serve_connection(tx, rx, &serving).await;
            }
            return Ok(());
        };
        let clients = Arc::new(Semaphore::new(self.max_clients));
        let mut connections = JoinSet::new();
        let mut backoff = AFTER_ERROR;
        let stop = self.stop.clone();
        let stopped = async {
            match &stop {
                Some(stop) => crate::tokio::stopped(stop).await,
                None => std::future::pending().await,
            }
        };
        let mut stopped = std::pin::pin!(stopped);
        let ended = loop {
            while connections.try_join_next().is_some() {}
            let place = tokio::select! {
                place = Arc::clone(&clients).acquire_owned() => place.expect("never closed"),
                _ = &mut stopped => break Ok(()),
            };
            let peer = tokio::select! {
                peer = listener.take_peer() => peer,
                _ = &mut stopped => break Ok(()),
            };
            let peer = match peer {
                Ok(peer) => {
                    backoff = AFTER_ERROR;
                    peer
                }
                Err(e) if e.kind() == ErrorKind::Stopped => break Ok(()),
                Err(e) if is_fatal(&e) => break Err(e),
                // Refused, or out of fds or memory: the others go on.
                Err(_) => {
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = &mut stopped => break Ok(()),
                    }
                    backoff = (backoff * 2).min(LONGEST_PAUSE);
                    continue;
                }
            };
            let blocking = Arc::clone(listener.blocking());
            let identities = (replies.clone(), requests.clone());
            let rings = self.rings.clone();
            let serving = Arc::clone(&serving);
            connections.spawn(async move {
                // The hellos (and shm's attach) block: on the pool, one
                // peer's silence holds up no other.
                let opened = tokio::task::spawn_blocking(move || {
                    open_connection(&blocking, peer, identities, rings.as_ref())
                })
                .await;
                if let Ok(Ok((tx, rx))) = opened {
                    serve_connection(tx, rx, &serving).await;
                }
                drop(place);
            });
        };
        // No new clients; each connection ends with the stop (its reader
        // is stopped) after answering what it took.
        while connections.join_next().await.is_some() {}
        ended
    }
}

/// One connection: reads requests (each after a place is free), runs
/// each on a task, answers on the shared sender; returns when the
/// connection or the serving ends and every request taken is answered.
async fn serve_connection(
    tx: crate::Sender<Bytes>,
    rx: crate::Receiver<Bytes>,
    serving: &Arc<Serving>,
) {
    let rx = match &serving.stop {
        Some(stop) => rx.with_stop(stop),
        None => rx,
    };
    let mut rx = Receiver::new(rx);
    let tx = Arc::new(tokio::sync::Mutex::new(Sender::new(tx)));
    let cancelled = Arc::new(Mutex::new(HashSet::new()));
    let mut running = JoinSet::new();
    let mut backoff = AFTER_ERROR;
    loop {
        while running.try_join_next().is_some() {}
        let mut bytes = match rx.recv_bytes().await {
            Ok(bytes) => bytes,
            // Out of fds or memory (the reactor's registration): the
            // connection stays; a pause that grows, then look again.
            Err(RecvError::Failed(e)) if e.kind() == ErrorKind::Io => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(LONGEST_PAUSE);
                continue;
            }
            Err(_) => break,
        };
        backoff = AFTER_ERROR;
        let (kind, id) = match frame::decode(&bytes) {
            Ok(frame) => (frame.kind, frame.id),
            Err(_) => break, // not an ipcx call client: this connection ends
        };
        match kind {
            Kind::Request => {
                // A place before the next read: while none is free, this
                // connection's later requests wait in the kernel.
                let place = Arc::clone(&serving.places)
                    .acquire_owned()
                    .await
                    .expect("never closed");
                bytes.drain(..frame::HEADER);
                let job = Job {
                    id,
                    body: bytes,
                    tx: Arc::clone(&tx),
                    cancelled: Arc::clone(&cancelled),
                    serving: Arc::clone(serving),
                    place,
                };
                running.spawn(job.answer());
            }
            Kind::Cancel => {
                cancelled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id);
            }
            Kind::Reply | Kind::Error | Kind::Attach => break,
        }
    }
    while running.join_next().await.is_some() {}
}

/// One request on its task.
struct Job {
    id: u64,
    body: Vec<u8>,
    tx: Arc<tokio::sync::Mutex<Sender<Bytes>>>,
    cancelled: Arc<Mutex<HashSet<u64>>>,
    serving: Arc<Serving>,
    /// Its place among the `workers`, given back when it is answered.
    place: OwnedSemaphorePermit,
}

impl Job {
    async fn answer(self) {
        let skipped = self
            .cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.id);
        if skipped {
            return;
        }
        let started = Instant::now();
        let len = self.body.len();
        let handler = &self.serving.handler;
        let outcome = match catch_unwind(AssertUnwindSafe(|| handler(self.body))) {
            Ok(answering) => CatchUnwind(answering).await,
            Err(panic) => Err(panic),
        };
        {
            let mut stats = self.serving.stats.lock().unwrap_or_else(|p| p.into_inner());
            match &outcome {
                Ok(Ok(_)) => stats.message(len),
                _ => stats.error(),
            }
            stats.blocked(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
        let answer = match outcome {
            Ok(Ok(reply)) => frame::encode(Kind::Reply, self.id, &reply),
            Ok(Err(text)) => frame::encode(Kind::Error, self.id, text.as_bytes()),
            Err(panic) => frame::encode(Kind::Error, self.id, panicked(&*panic).as_bytes()),
        };
        // A client gone meanwhile: nobody to answer.
        let _ = self.tx.lock().await.send_bytes(answer).await;
        drop(self.place);
    }
}

/// A handler's future, with a panic while it is polled turned into an
/// `Err` (as `catch_unwind` for a call).
struct CatchUnwind(Answering);

impl Future for CatchUnwind {
    type Output = Result<Result<Vec<u8>, String>, Box<dyn std::any::Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let answering = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| answering.as_mut().poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(answer)) => Poll::Ready(Ok(answer)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

impl<Req, Resp> fmt::Debug for Server<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("tokio::rpc::Server")
            .field("endpoint", &self.endpoint.to_string())
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}
