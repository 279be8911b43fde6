//! [`Client`]: calls with deadlines, many in flight, each answer matched
//! to its call by id.
//!
//! No thread of its own: one waiting caller at a time reads replies (the
//! *reader*), hands the others' to them, and passes the reading on when
//! its own comes. A reply goes from the socket to its caller with one
//! wake-up, as in a plain ping-pong.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::frame::{self, Kind};
use super::{identities, shm, CallError};
use crate::codec::{self, Message};
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, Fail, RecvError};
use crate::stats::{Counter, Role};
use crate::sys::Deadline;
use crate::{Bytes, Duplex, Scheme};

/// What a call is answered with: the reply's body, or why not.
type Answer = Result<Vec<u8>, CallError>;

/// The client end of a call connection (`unix:`, `unix+seqpacket:`,
/// `tcp:`, `shm:`): send a request, get its reply. `Client` is `Sync`: many
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
    endpoint: Endpoint,
    tx: crate::Sender<Bytes>,
    rx: crate::Receiver<Bytes>,
    calls: Mutex<Calls>,
    /// Signalled when an answer is handed over or the reading is free.
    changed: Condvar,
    next_id: AtomicU64,
    _types: PhantomData<fn(Req) -> Resp>,
}

struct Calls {
    /// The calls waiting, and the answer of those answered.
    waiting: HashMap<u64, Option<Answer>, BuildHasherDefault<IdHasher>>,
    /// A caller is reading replies.
    reading: bool,
    /// Callers asleep on `changed` (a notify with nobody asleep would
    /// still cost a futex syscall per call).
    sleeping: usize,
    /// Published counters (`ipcx top`): calls, failures, time waiting;
    /// under the same lock, so a call takes it twice, not three times.
    stats: Counter,
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
        let endpoint = endpoint.to_endpoint()?;
        let (tx, rx) = connect_ends::<Req, Resp>(&endpoint, deadline)?;
        let calls = Calls {
            waiting: HashMap::default(),
            reading: false,
            sleeping: 0,
            ended: None,
            stats: Counter::new(Role::Client, &endpoint.to_string()),
        };
        Ok(Client {
            endpoint,
            tx,
            rx,
            calls: Mutex::new(calls),
            changed: Condvar::new(),
            next_id: AtomicU64::new(1),
            _types: PhantomData,
        })
    }
}

/// A call connection's two ends, as a client of `Req` and `Resp`: a
/// socket's halves, or on `shm:` the rings it attached.
pub(crate) fn connect_ends<Req: Message, Resp: Message>(
    endpoint: &Endpoint,
    deadline: Deadline<'_>,
) -> Result<(crate::Sender<Bytes>, crate::Receiver<Bytes>), Error> {
    let (requests, replies) = identities::<Req, Resp>();
    if endpoint.scheme() == Scheme::Shm {
        return shm::connect(endpoint, requests, replies, deadline);
    }
    if endpoint.scheme() == Scheme::Nats {
        return remote_ends(endpoint, requests, replies, false, deadline);
    }
    let conn: Duplex<Bytes, Bytes> = Duplex::connect_as(endpoint, requests, replies, deadline)?;
    Ok(conn.split())
}

/// Both ends of calls over `nats://` (NATS request/reply, see
/// `transport::nats::call`): a client's, or (`server`) a server's.
pub(crate) fn remote_ends(
    endpoint: &Endpoint,
    sends: crate::codec::Identity,
    receives: crate::codec::Identity,
    server: bool,
    deadline: Deadline<'_>,
) -> Result<(crate::Sender<Bytes>, crate::Receiver<Bytes>), Error> {
    let hello = crate::wire::hello::Hello {
        sends: Some(sends),
        receives: Some(receives),
        max_msg: endpoint.options().max_msg,
    };
    let opened = crate::transport::open_call(endpoint, hello, server, deadline)?;
    Ok(Duplex::<Bytes, Bytes>::from_opened(opened)?.split())
}

impl<Req, Resp> Client<Req, Resp> {
    /// The server's endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    fn lock(&self) -> MutexGuard<'_, Calls> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `request` (a whole frame) as call `id` and waits until
    /// `deadline` for its answer; counted in the statistics.
    fn call_frame(&self, id: u64, request: &[u8], deadline: Option<Instant>) -> Answer {
        let call = Call {
            started: Instant::now(),
            len: request.len(),
        };
        match self.send_and_wait(id, request, deadline, call) {
            Ok(answer) => answer, // counted by the wait
            Err(failed) => {
                let answer = Err(failed);
                call.count(&mut self.lock().stats, &answer);
                answer
            }
        }
    }

    /// `Err` when the call failed before its wait began (not yet counted).
    fn send_and_wait(
        &self,
        id: u64,
        request: &[u8],
        deadline: Option<Instant>,
        call: Call,
    ) -> Result<Answer, CallError> {
        {
            let mut calls = self.lock();
            if let Some(ended) = &calls.ended {
                return Err(ended.clone());
            }
            calls.waiting.insert(id, None);
        }
        let left = || deadline.map(|d| d.saturating_duration_since(Instant::now()));
        let sent = match left() {
            None => self.tx.send_bytes(request).map_err(CallError::from),
            Some(left) => self
                .tx
                .send_bytes_timeout(request, left)
                .map_err(CallError::from),
        };
        if let Err(e) = sent {
            self.lock().waiting.remove(&id);
            return Err(match e {
                // The replies may say why (the server's hello refused us).
                CallError::Disconnected => self.why_ended().unwrap_or(e),
                e => e,
            });
        }
        let answer = self.wait_for(id, deadline, call);
        if matches!(answer, Err(CallError::TimedOut)) {
            // Best effort: the server may skip a call not yet begun.
            let _ = self.tx.try_send_bytes(frame::encode(Kind::Cancel, id, &[]));
        }
        Ok(answer)
    }

    /// Waits for call `id`'s answer: reading replies while nobody else is,
    /// else until the reader hands it over (or passes the reading on).
    /// Counts the call under the lock it takes the answer with.
    fn wait_for(&self, id: u64, deadline: Option<Instant>, call: Call) -> Answer {
        let mut calls = self.lock();
        let answer = loop {
            if let Some(Some(answer)) = calls.waiting.get_mut(&id).map(Option::take) {
                calls.waiting.remove(&id);
                break answer;
            }
            if let Some(ended) = calls.ended.clone() {
                calls.waiting.remove(&id);
                break Err(ended);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                calls.waiting.remove(&id);
                break Err(CallError::TimedOut);
            }
            if calls.reading {
                calls.sleeping += 1;
                calls = match deadline {
                    None => self.changed.wait(calls).unwrap_or_else(|p| p.into_inner()),
                    Some(d) => {
                        let left = d.saturating_duration_since(Instant::now());
                        self.changed
                            .wait_timeout(calls, left)
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                };
                calls.sleeping -= 1;
                continue;
            }
            // This caller reads, until its own answer or its deadline.
            calls.reading = true;
            drop(calls);
            let read = self.read_one(deadline);
            calls = self.lock();
            calls.reading = false;
            match read {
                Ok(Some((got, answer))) => {
                    if let Some(slot) = calls.waiting.get_mut(&got) {
                        *slot = Some(answer);
                    } // else: a call that gave up; dropped
                }
                Ok(None) => {} // the deadline: looked at above
                Err(ended) => {
                    calls.ended = Some(ended);
                }
            }
            // An answer handed over, or the reading free: others look.
            self.wake_sleepers(&calls);
        };
        call.count(&mut calls.stats, &answer);
        answer
    }

    /// One reply from the connection: `Ok(None)` when the deadline passed
    /// first, `Err` when the connection ended (and why).
    fn read_one(&self, deadline: Option<Instant>) -> Result<Option<(u64, Answer)>, CallError> {
        let wait = deadline.map_or(Deadline::NEVER, Deadline::at);
        let got = self.rx.with_bytes(wait, |bytes| {
            let frame = frame::decode(bytes)?;
            let answer =
                match frame.kind {
                    Kind::Reply => Ok(frame.body.to_vec()),
                    Kind::Error => Err(CallError::Remote(
                        String::from_utf8_lossy(frame.body).into_owned(),
                    )),
                    Kind::Request | Kind::Cancel | Kind::Attach => return Err(Error::new(
                        crate::ErrorKind::Protocol,
                        "the server sent a request, a cancel or an attach: not an ipcx call server",
                    )),
                };
            Ok((frame.id, answer))
        });
        match got {
            Ok(reply) => Ok(Some(reply)),
            Err(Fail::NotReady) => Ok(None),
            Err(other) => match RecvError::from(other) {
                RecvError::Disconnected => Err(CallError::Disconnected),
                RecvError::Failed(e) => Err(CallError::Failed(e)),
            },
        }
    }

    fn wake_sleepers(&self, calls: &Calls) {
        if calls.sleeping > 0 {
            self.changed.notify_all();
        }
    }

    /// Why the connection ended, reading what the server sent last (a send
    /// can meet the end before a reply told why).
    fn why_ended(&self) -> Option<CallError> {
        let mut calls = self.lock();
        if calls.ended.is_none() && !calls.reading {
            calls.reading = true;
            drop(calls);
            let until = Instant::now() + Duration::from_millis(200);
            let why = loop {
                match self.read_one(Some(until)) {
                    Ok(Some(_)) => continue, // a reply to a call that gave up
                    Ok(None) => break None,
                    Err(ended) => break Some(ended),
                }
            };
            calls = self.lock();
            calls.reading = false;
            if calls.ended.is_none() {
                calls.ended = why;
            }
            self.wake_sleepers(&calls);
        }
        calls.ended.clone()
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
        let reply = with_frame(|out| {
            frame::begin(out, Kind::Request, id);
            codec::encode_after(request, out).map_err(CallError::Failed)?;
            self.call_frame(id, out, deadline)
        })?;
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
        with_frame(|out| {
            frame::begin(out, Kind::Request, id);
            out.extend_from_slice(request);
            self.call_frame(id, out, deadline)
        })
    }
}

/// Runs `call` with this thread's request buffer (a call blocks its
/// thread, so one buffer a thread serves every client it calls with; a
/// large one is not kept).
fn with_frame<R>(call: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    thread_local! {
        static FRAME: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    FRAME.with(|frame| match frame.try_borrow_mut() {
        Ok(mut out) => {
            let got = call(&mut out);
            if out.capacity() > KEEP_FRAME {
                *out = Vec::new();
            }
            got
        }
        // Only a handler calling from inside a call on this thread gets here.
        Err(_) => call(&mut Vec::new()),
    })
}

/// The largest request buffer a thread keeps for its next call.
const KEEP_FRAME: usize = 64 << 10;

/// A call being made, for its statistics.
#[derive(Clone, Copy)]
struct Call {
    started: Instant,
    /// The request frame's length.
    len: usize,
}

impl Call {
    fn count(self, stats: &mut Counter, answer: &Answer) {
        match answer {
            Ok(_) => stats.message(self.len),
            Err(_) => stats.error(),
        }
        stats.blocked(u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
}

/// Call ids are a counter of this client's, not chosen by anyone else: a
/// multiply spreads them, where SipHash would cost more than the lookup.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, id: u64) {
        self.0 = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

impl<Req, Resp> fmt::Debug for Client<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("rpc::Client")
            .field("endpoint", &self.endpoint().to_string())
            .finish_non_exhaustive()
    }
}
