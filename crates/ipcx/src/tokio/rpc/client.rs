//! The async [`Client`]: calls from many tasks on one connection, with no
//! task of its own: a waiting call reads replies (one at a time, behind an
//! async lock) and hands the others' to them, as the blocking client's
//! reader does. A lone caller reads its own reply in its own task: no
//! hand-over between tasks (a reader task cost 100 µs a call here).

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::codec::{self, Message};
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, ErrorKind, RecvError};
use crate::rpc::frame::{self, Kind};
use crate::rpc::CallError;
use crate::stats::{Counter, Role};
use crate::sys::Deadline;
use crate::tokio::{Receiver, Sender};
use crate::Bytes;

type Answer = Result<Vec<u8>, CallError>;

/// How long a call whose send met the end waits for the reader to say why
/// (the server's hello may have refused this client's types).
const WHY_WITHIN: Duration = Duration::from_millis(200);

/// The async client end of a call connection: `call` from many tasks at
/// once (`Client` is `Sync`; share it in an `Arc`). Dropping it ends the
/// connection.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let ep = format!("unix:@ipcx-doc-async-client-{}", std::process::id());
/// // A blocking server: the two APIs are peers.
/// let server = ipcx::rpc::Server::<String, usize>::bind(&ep)?;
/// std::thread::spawn(move || server.serve(|s: String| Ok(s.len())));
/// let client = ipcx::tokio::rpc::Client::<String, usize>::connect(&ep).await?;
/// assert_eq!(client.call(&"ipcx".to_string()).await?, 4);
/// # Ok(()) }
/// ```
pub struct Client<Req, Resp> {
    endpoint: Endpoint,
    shared: Shared,
    _types: PhantomData<fn(Req) -> Resp>,
}

/// What the calls share.
struct Shared {
    tx: tokio::sync::Mutex<Sender<Bytes>>,
    /// Held by the call that reads replies for all.
    rx: tokio::sync::Mutex<Receiver<Bytes>>,
    calls: Mutex<Calls>,
    next_id: AtomicU64,
    stats: Mutex<Counter>,
}

#[derive(Default)]
struct Calls {
    /// Where each waiting call's answer goes.
    waiting: HashMap<u64, oneshot::Sender<Answer>>,
    /// Set once the connection ended: every later call fails so.
    ended: Option<CallError>,
}

impl Shared {
    fn calls(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<Req: Message, Resp: Message> Client<Req, Resp> {
    /// Connects to a server at `endpoint` (blocking or async); fails at
    /// once if none is there. The handshake runs on tokio's blocking pool.
    pub async fn connect(endpoint: impl ToEndpoint) -> Result<Self, Error> {
        Self::connect_within(endpoint, None).await
    }

    /// Like [`Client::connect`], waiting up to `timeout` for the server.
    pub async fn connect_timeout(
        endpoint: impl ToEndpoint,
        timeout: Duration,
    ) -> Result<Self, Error> {
        Self::connect_within(endpoint, Some(timeout)).await
    }

    async fn connect_within(
        endpoint: impl ToEndpoint,
        timeout: Option<Duration>,
    ) -> Result<Self, Error> {
        let endpoint = endpoint.to_endpoint()?;
        let ep = endpoint.clone();
        let (tx, rx) = tokio::task::spawn_blocking(move || {
            crate::rpc::client::connect_ends::<Req, Resp>(&ep, Deadline::after(timeout))
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("the connect task failed: {e}")))??;
        let shared = Shared {
            tx: tokio::sync::Mutex::new(Sender::new(tx)),
            rx: tokio::sync::Mutex::new(Receiver::new(rx)),
            calls: Mutex::new(Calls::default()),
            next_id: AtomicU64::new(1),
            stats: Mutex::new(Counter::new(Role::Client, &endpoint.to_string())),
        };
        Ok(Client {
            endpoint,
            shared,
            _types: PhantomData,
        })
    }
}

impl<Req, Resp> Client<Req, Resp> {
    /// The server's endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `request` (a whole frame) as call `id` and waits, up to
    /// `timeout`, for its answer; counted in the statistics.
    async fn call_frame(&self, id: u64, request: Vec<u8>, timeout: Option<Duration>) -> Answer {
        let started = Instant::now();
        let len = request.len();
        let answer = match timeout {
            None => self.call_uncounted(id, request).await,
            Some(t) => tokio::time::timeout(t, self.call_uncounted(id, request))
                .await
                .unwrap_or(Err(CallError::TimedOut)),
        };
        let mut stats = self.shared.stats.lock().unwrap_or_else(|p| p.into_inner());
        match &answer {
            Ok(_) => stats.message(len),
            Err(_) => stats.error(),
        }
        stats.blocked(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
        answer
    }

    async fn call_uncounted(&self, id: u64, request: Vec<u8>) -> Answer {
        let (answered, mut answer) = oneshot::channel();
        {
            let mut calls = self.shared.calls();
            if let Some(ended) = &calls.ended {
                return Err(ended.clone());
            }
            calls.waiting.insert(id, answered);
        }
        // Dropped before the answer (a timeout, a select): withdrawn.
        let mut pending = Pending {
            shared: &self.shared,
            id,
            waiting: true,
        };
        let sent = self.shared.tx.lock().await.send_bytes(request).await;
        if let Err(e) = sent {
            let e = CallError::from(e);
            if !matches!(e, CallError::Disconnected) {
                return Err(e);
            }
            // What the server sent last may say why (its hello refused
            // this client's types): read it.
            let why = tokio::time::timeout(WHY_WITHIN, self.shared.wait_for(&mut answer)).await;
            pending.waiting = false;
            return match why {
                Ok(Err(why)) => Err(why),
                _ => Err(e),
            };
        }
        let got = self.shared.wait_for(&mut answer).await;
        pending.waiting = false; // answered: nothing to withdraw
        got
    }
}

impl Shared {
    /// Until `answer` comes: handed over by the call reading replies, or
    /// read by this call when the reading is free (it then hands the
    /// others' to them). Cancel safe: a reply being read is not lost.
    async fn wait_for(&self, answer: &mut oneshot::Receiver<Answer>) -> Answer {
        loop {
            tokio::select! {
                biased;
                got = &mut *answer => return got.unwrap_or(Err(CallError::Disconnected)),
                mut rx = self.rx.lock() => {
                    if let Some(ended) = self.calls().ended.clone() {
                        return Err(ended); // nothing more to read
                    }
                    let read = rx.recv_bytes().await;
                    self.hand_over(read);
                }
            }
        }
    }

    /// Gives a reply read to its call (one that gave up has its reply
    /// dropped), or, when the connection ended, tells every waiting call why.
    fn hand_over(&self, read: Result<Vec<u8>, RecvError>) {
        let ended = match read {
            Ok(bytes) => match reply_of(&bytes) {
                Ok((id, answer)) => {
                    if let Some(call) = self.calls().waiting.remove(&id) {
                        let _ = call.send(answer);
                    }
                    return;
                }
                Err(e) => CallError::Failed(e),
            },
            Err(RecvError::Disconnected) => CallError::Disconnected,
            Err(RecvError::Failed(e)) => CallError::Failed(e),
        };
        let mut calls = self.calls();
        for (_, call) in calls.waiting.drain() {
            let _ = call.send(Err(ended.clone()));
        }
        calls.ended = Some(ended);
    }
}

/// A reply frame's call id and answer.
fn reply_of(bytes: &[u8]) -> Result<(u64, Answer), Error> {
    let frame = frame::decode(bytes)?;
    let answer = match frame.kind {
        Kind::Reply => Ok(frame.body.to_vec()),
        Kind::Error => Err(CallError::Remote(
            String::from_utf8_lossy(frame.body).into_owned(),
        )),
        Kind::Request | Kind::Cancel | Kind::Attach => {
            return Err(Error::new(
                ErrorKind::Protocol,
                "the server sent a request, a cancel or an attach: not an ipcx call server",
            ))
        }
    };
    Ok((frame.id, answer))
}

/// A call in flight; dropped before its answer, it withdraws the call and
/// tells the server (best effort: a cancel frame if the sender is free).
struct Pending<'a> {
    shared: &'a Shared,
    id: u64,
    waiting: bool,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if !self.waiting || self.shared.calls().waiting.remove(&self.id).is_none() {
            return; // answered meanwhile
        }
        if let Ok(tx) = self.shared.tx.try_lock() {
            let _ = tx.try_send_bytes(frame::encode(Kind::Cancel, self.id, &[]));
        }
    }
}

impl<Req: Serialize, Resp: DeserializeOwned> Client<Req, Resp> {
    /// Calls the server with `request` and waits for its reply.
    pub async fn call(&self, request: &Req) -> Result<Resp, CallError> {
        self.call_within(request, None).await
    }

    /// Like [`Client::call`], giving up after `timeout`.
    pub async fn call_timeout(&self, request: &Req, timeout: Duration) -> Result<Resp, CallError> {
        self.call_within(request, Some(timeout)).await
    }

    async fn call_within(
        &self,
        request: &Req,
        timeout: Option<Duration>,
    ) -> Result<Resp, CallError> {
        let id = self.next_id();
        let mut out = Vec::new();
        frame::begin(&mut out, Kind::Request, id);
        codec::encode_after(request, &mut out).map_err(CallError::Failed)?;
        let reply = self.call_frame(id, out, timeout).await?;
        codec::decode::<Resp>(&reply).map_err(CallError::Failed)
    }
}

impl Client<Bytes, Bytes> {
    /// Calls with a raw request; returns the raw reply.
    pub async fn call_bytes(
        &self,
        request: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, CallError> {
        let id = self.next_id();
        self.call_frame(id, frame::encode(Kind::Request, id, request), timeout)
            .await
    }
}

impl<Req, Resp> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("tokio::rpc::Client")
            .field("endpoint", &self.endpoint.to_string())
            .finish_non_exhaustive()
    }
}
