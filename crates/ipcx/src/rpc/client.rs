//! [`Client`]: calls with deadlines, many in flight, each answer matched
//! to its call by id.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::frame::{self, Kind};
use super::{identities, CallError};
use crate::codec::{self, Message};
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, RecvError};
use crate::sys::Deadline;
use crate::{Bytes, Duplex, Stop};

/// What a pending call is answered with: the reply's body, or why not.
type Answer = Result<Vec<u8>, CallError>;

/// The client end of a call connection (`unix:`, `unix+seqpacket:`,
/// `tcp:`): send a request, get its reply. `Client` is `Sync`: many
/// threads may call at once on one connection; each answer goes to its
/// own call, a late one (after its deadline) is dropped.
///
/// ```
/// # let ep = format!("unix:@ipcx-doc-rpc-{}", std::process::id());
/// let server = ipcx::rpc::Server::<String, String>::bind(&ep)?;
/// std::thread::spawn(move || server.serve(|name: String| Ok(format!("hello, {name}"))));
/// let client = ipcx::rpc::Client::<String, String>::connect_timeout(&ep, std::time::Duration::from_secs(5))?;
/// assert_eq!(client.call(&"ipcx".to_string())?, "hello, ipcx");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client<Req, Resp> {
    shared: Arc<Shared>,
    _types: PhantomData<fn(Req) -> Resp>,
}

struct Shared {
    tx: crate::Sender<Bytes>,
    calls: Mutex<Calls>,
    /// Signalled when the reader finds the connection ended.
    ended: Condvar,
    next_id: AtomicU64,
    /// Ends the thread that reads replies, when the client goes.
    stop: Stop,
}

#[derive(Default)]
struct Calls {
    waiting: HashMap<u64, SyncSender<Answer>>,
    /// Set once the connection ended: every later call fails so.
    ended: Option<CallError>,
}

impl<Req: Message, Resp: Message> Client<Req, Resp> {
    /// Connects to a [`Server`](super::Server) at `endpoint`; fails at
    /// once if none is there.
    pub fn connect(endpoint: impl ToEndpoint) -> Result<Self, Error> {
        Self::connect_until(endpoint, Deadline::NEVER)
    }

    /// Like [`Client::connect`], waiting up to `timeout` for the server.
    pub fn connect_timeout(endpoint: impl ToEndpoint, timeout: Duration) -> Result<Self, Error> {
        Self::connect_until(endpoint, Deadline::after(Some(timeout)))
    }

    fn connect_until(endpoint: impl ToEndpoint, deadline: Deadline<'_>) -> Result<Self, Error> {
        let (requests, replies) = identities::<Req, Resp>();
        let conn: Duplex<Bytes, Bytes> = Duplex::connect_as(endpoint, requests, replies, deadline)?;
        let (tx, rx) = conn.split();
        let stop = Stop::new()?;
        let shared = Arc::new(Shared {
            tx,
            calls: Mutex::new(Calls::default()),
            ended: Condvar::new(),
            next_id: AtomicU64::new(1),
            stop: stop.clone(),
        });
        let reader = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("ipcx-rpc-replies".into())
            .spawn(move || reader.read_replies(rx.with_stop(&stop)))
            .map_err(|e| Error::io("cannot start the thread that reads replies", e))?;
        Ok(Client {
            shared,
            _types: PhantomData,
        })
    }
}

impl<Req, Resp> Client<Req, Resp> {
    /// The server's endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        self.shared.tx.endpoint()
    }

    /// Sends `request` (a whole frame, already encoded) as call `id` and
    /// waits until `deadline` for its answer.
    fn call_frame(&self, id: u64, request: Vec<u8>, deadline: Option<Instant>) -> Answer {
        let (answer_tx, answer_rx) = sync_channel(1);
        {
            let mut calls = self.shared.lock();
            if let Some(ended) = &calls.ended {
                return Err(ended.clone());
            }
            calls.waiting.insert(id, answer_tx);
        }
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let sent = match left() {
            None => self.shared.tx.send_bytes(request).map_err(CallError::from),
            Some(left) => self
                .shared
                .tx
                .send_bytes_timeout(request, left)
                .map_err(CallError::from),
        };
        if let Err(e) = sent {
            self.shared.forget(id);
            return Err(match e {
                // The reader may know why (the server's hello refused us).
                CallError::Disconnected => self.shared.why_ended().unwrap_or(e),
                e => e,
            });
        }
        let answer = match left() {
            None => answer_rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(left) => answer_rx.recv_timeout(left),
        };
        match answer {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => {
                self.shared.forget(id);
                // Best effort: the server may skip a call not yet begun.
                let _ = self
                    .shared
                    .tx
                    .try_send_bytes(frame::encode(Kind::Cancel, id, &[]));
                Err(CallError::TimedOut)
            }
            Err(RecvTimeoutError::Disconnected) => Err(CallError::Disconnected),
        }
    }

    fn next_id(&self) -> u64 {
        self.shared.next_id.fetch_add(1, Ordering::Relaxed)
    }
}

impl<Req: Serialize, Resp: DeserializeOwned> Client<Req, Resp> {
    /// Calls the server with `request` and waits for its reply.
    pub fn call(&self, request: &Req) -> Result<Resp, CallError> {
        self.call_until(request, None)
    }

    /// Like [`Client::call`], giving up after `timeout` (the reply, should
    /// it come later, is dropped; the server is told to skip the call if
    /// it has not begun it).
    pub fn call_timeout(&self, request: &Req, timeout: Duration) -> Result<Resp, CallError> {
        self.call_until(request, Some(Instant::now() + timeout))
    }

    fn call_until(&self, request: &Req, deadline: Option<Instant>) -> Result<Resp, CallError> {
        let id = self.next_id();
        let mut out = Vec::new();
        frame::begin(&mut out, Kind::Request, id);
        let mut body = Vec::new();
        codec::encode(request, &mut body).map_err(CallError::Failed)?;
        out.extend_from_slice(&body);
        let reply = self.call_frame(id, out, deadline)?;
        codec::decode::<Resp>(&reply).map_err(CallError::Failed)
    }
}

impl Client<Bytes, Bytes> {
    /// Calls with a raw request; returns the raw reply.
    pub fn call_bytes(
        &self,
        request: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, CallError> {
        let id = self.next_id();
        let deadline = timeout.map(|t| Instant::now() + t);
        self.call_frame(id, frame::encode(Kind::Request, id, request), deadline)
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn forget(&self, id: u64) {
        self.lock().waiting.remove(&id);
    }

    /// Why the connection ended, once the reader has seen it (waiting a
    /// little: a send may find the connection gone first).
    fn why_ended(&self) -> Option<CallError> {
        let calls = self.lock();
        let (calls, _) = self
            .ended
            .wait_timeout_while(calls, Duration::from_millis(200), |c| c.ended.is_none())
            .unwrap_or_else(|p| p.into_inner());
        calls.ended.clone()
    }

    /// Hands each reply to its call until the connection ends (or the
    /// client goes); then every call still waiting fails.
    fn read_replies(&self, rx: crate::Receiver<Bytes>) {
        let ended = loop {
            let got = rx.with_bytes(Deadline::NEVER, |bytes| {
                let frame = frame::decode(bytes)?;
                let answer = match frame.kind {
                    Kind::Reply => Ok(frame.body.to_vec()),
                    Kind::Error => Err(CallError::Remote(
                        String::from_utf8_lossy(frame.body).into_owned(),
                    )),
                    Kind::Request | Kind::Cancel => {
                        return Err(Error::new(
                            crate::ErrorKind::Protocol,
                            "the server sent a request or a cancel: not an ipcx call server",
                        ))
                    }
                };
                Ok((frame.id, answer))
            });
            match got.map_err(RecvError::from) {
                Ok((id, answer)) => {
                    // A call that gave up is no longer waiting: dropped.
                    if let Some(waiting) = self.lock().waiting.remove(&id) {
                        let _ = waiting.try_send(answer);
                    }
                }
                Err(RecvError::Disconnected) => break CallError::Disconnected,
                Err(RecvError::Failed(e)) => break CallError::Failed(e),
            }
        };
        let mut calls = self.lock();
        for (_, waiting) in calls.waiting.drain() {
            let _ = waiting.try_send(Err(ended.clone()));
        }
        calls.ended = Some(ended);
        self.ended.notify_all();
    }
}

impl<Req, Resp> Drop for Client<Req, Resp> {
    fn drop(&mut self) {
        self.shared.stop.stop();
    }
}

impl<Req, Resp> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("rpc::Client")
            .field("endpoint", &self.endpoint().to_string())
            .finish_non_exhaustive()
    }
}
