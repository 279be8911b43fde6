//! [`Server`]: accepts many clients and runs a handler per request on a
//! bounded pool of workers.

use std::collections::HashSet;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver as Queue, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::frame::{self, Kind};
use super::{identities, shm};
use crate::channel::OpenOptions;
use crate::codec::{self, Message};
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, ErrorKind, RecvError};
use crate::stats::{Counter, Role};
use crate::sys::Deadline;
use crate::{Bytes, Listener, Scheme, Stop};

/// The server end of call connections: binds like a
/// [`Listener`](crate::Listener), then [`serve`](Server::serve)s every
/// client that connects.
///
/// - At most `workers` (4 by default) requests run at once: on a
///   connection's own reader when a place is free (see
///   [`inline`](Server::inline)), else on the pool's threads; at most
///   `queue` (64) wait for one. A full queue stops the connection readers, so
///   clients' sends wait in the kernel's buffers: backpressure, not memory.
/// - A handler's `Err(text)` reaches the caller as
///   [`CallError::Remote`](super::CallError::Remote); a panic too
///   ("the handler panicked: …"), and the server goes on.
/// - A bad frame or a peer that is not an ipcx call client ends that
///   connection only.
/// - With a [`Stop`] (`bind_with`), serving ends: no new clients, no new
///   requests; requests already queued are answered; `serve` returns.
pub struct Server<Req, Resp> {
    endpoint: Endpoint,
    /// The socket clients connect to (none on `nats://`).
    listener: Option<Listener>,
    /// On `nats://`, the one pair of ends all requests come and go on.
    remote: Option<RemoteEnds>,
    /// On `shm:`, the endpoint each client's rings are made after.
    rings: Option<Endpoint>,
    stop: Option<Stop>,
    workers: usize,
    queue: usize,
    inline: bool,
    max_clients: usize,
    _types: PhantomData<fn(Req) -> Resp>,
}

/// One request for a worker: the call, its body, and where to answer.
struct Job {
    id: u64,
    body: Vec<u8>,
    conn: Arc<Connection>,
}

/// What a connection's reader and the workers answering it share.
struct Connection {
    tx: crate::Sender<Bytes>,
    /// Calls the client gave up on before a worker began them.
    cancelled: Mutex<HashSet<u64>>,
    /// Whether a cancel ever came: until then a call skips the lock.
    any_cancelled: AtomicBool,
}

impl Connection {
    /// A connection's shared half (`tx`) and its receiving end, which the
    /// serving's stop ends.
    fn open(
        tx: crate::Sender<Bytes>,
        rx: crate::Receiver<Bytes>,
        stop: Option<&Stop>,
    ) -> (crate::Receiver<Bytes>, Arc<Connection>) {
        let rx = match stop {
            Some(stop) => rx.with_stop(stop),
            None => rx,
        };
        let connection = Arc::new(Connection {
            tx,
            cancelled: Mutex::new(HashSet::new()),
            any_cancelled: AtomicBool::new(false),
        });
        (rx, connection)
    }
}

/// Answers one request's body by appending the reply's to the frame
/// begun in the `Vec` (its header is there already).
type Handler = dyn Fn(&[u8], &mut Vec<u8>) -> Result<(), String> + Send + Sync;

/// The handler and the server's published counters (`ipcx top`).
struct Answerer {
    handler: Arc<Handler>,
    stats: Mutex<Counter>,
}

impl<Req: Message, Resp: Message> Server<Req, Resp> {
    /// Binds and listens on `endpoint` (`unix:`, `unix+seqpacket:`, `tcp:`,
    /// `shm:`; on `nats://` it subscribes to the subject, in the queue
    /// group `ipcx` unless `queue=` names another: see the module's docs).
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
        } = Bound::new(endpoint, options, identities::<Req, Resp>())?;
        Ok(Server {
            endpoint,
            listener,
            remote,
            rings,
            stop,
            workers: 4,
            queue: 64,
            inline: true,
            max_clients: 256,
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

    /// How many requests may wait for a worker before readers stop taking
    /// more (at least 1).
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue.max(1);
        self
    }

    /// How many clients are served at once (at least 1; 256 by default).
    /// Each costs a thread and its connection's buffers; past the limit
    /// new clients wait in the listen backlog (their connect times out if
    /// they wait too long) until one leaves.
    pub fn max_clients(mut self, n: usize) -> Self {
        self.max_clients = n.max(1);
        self
    }

    /// Whether a connection's reader runs a request itself when a worker's
    /// place is free (the default: no hand-over to another thread, so a
    /// call costs one wake-up each way). A request that arrives on that
    /// connection meanwhile waits for it; with slow handlers and many
    /// calls at once on one connection, `false` sends every request to
    /// the pool instead.
    pub fn inline(mut self, inline: bool) -> Self {
        self.inline = inline;
        self
    }

    /// The endpoint as bound (for `tcp:…:0`, with the port chosen).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl<Req: Message + DeserializeOwned, Resp: Message + Serialize> Server<Req, Resp> {
    /// Serves until the stop (forever without one): `handler` answers
    /// each request.
    pub fn serve<H>(self, handler: H) -> Result<(), Error>
    where
        H: Fn(Req) -> Result<Resp, String> + Send + Sync + 'static,
    {
        let handler = move |body: &[u8], out: &mut Vec<u8>| -> Result<(), String> {
            let request = codec::decode::<Req>(body).map_err(|e| format!("bad request: {e}"))?;
            let reply = handler(request)?;
            codec::encode_after(&reply, out).map_err(|e| format!("cannot encode the reply: {e}"))
        };
        self.run(Arc::new(handler))
    }
}

impl Server<Bytes, Bytes> {
    /// Serves raw requests: `handler` gets each request's bytes and
    /// returns the reply's.
    pub fn serve_bytes<H>(self, handler: H) -> Result<(), Error>
    where
        H: Fn(&[u8]) -> Result<Vec<u8>, String> + Send + Sync + 'static,
    {
        self.run(Arc::new(move |body: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(&handler(body)?);
            Ok(())
        }))
    }
}

impl<Req: Message, Resp: Message> Server<Req, Resp> {
    fn run(self, handler: Arc<Handler>) -> Result<(), Error> {
        let handler = Arc::new(Answerer {
            handler,
            stats: Mutex::new(Counter::new(Role::Server, &self.endpoint().to_string())),
        });
        let (jobs, queue) = sync_channel::<Job>(self.queue);
        let queue = Arc::new(Mutex::new(queue));
        let permits = Arc::new(Permits::new(self.workers));
        let workers: Vec<_> = (0..self.workers)
            .map(|n| {
                let queue = Arc::clone(&queue);
                let handler = Arc::clone(&handler);
                let permits = Arc::clone(&permits);
                std::thread::Builder::new()
                    .name(format!("ipcx-rpc-worker-{n}"))
                    .spawn(move || work(&queue, &handler, &permits))
                    .map_err(|e| Error::io("cannot start a worker thread", e))
            })
            .collect::<Result<_, _>>()?;
        let (requests, replies) = identities::<Req, Resp>();
        let tolerant = self.remote.is_some();
        let inline = self.inline;
        let reader = |jobs: &SyncSender<Job>| Reader {
            jobs: jobs.clone(),
            inline: inline.then(|| (Arc::clone(&permits), Arc::clone(&handler))),
            tolerant,
        };
        let listener = match (self.listener, self.remote) {
            (Some(listener), _) => Arc::new(listener),
            // One stream of requests from every client: read here.
            (None, Some((tx, rx))) => {
                let (rx, connection) = Connection::open(tx, rx, self.stop.as_ref());
                reader(&jobs).read(&rx, &connection);
                drop(jobs);
                for worker in workers {
                    let _ = worker.join();
                }
                return Ok(());
            }
            (None, None) => unreachable!("a bound server has a listener or remote ends"),
        };
        let mut backoff = AFTER_ERROR;
        let clients = Arc::new(Permits::new(self.max_clients));
        let mut readers: Vec<std::thread::JoinHandle<()>> = Vec::new();
        let ended = loop {
            // A place for one more client first (or the stop).
            if !clients.take_unless(self.stop.as_ref()) {
                break Ok(());
            }
            let place = Place(Arc::clone(&clients));
            // Only the peer here: its hello is awaited on its own thread,
            // so a peer that never sends one holds up nobody else.
            let peer = match listener.take_peer(Deadline::NEVER) {
                Ok(peer) => {
                    backoff = AFTER_ERROR;
                    peer
                }
                Err(e) if e.kind() == ErrorKind::Stopped => break Ok(()),
                Err(e) if is_fatal(&e) => break Err(e),
                // A refused peer, or out of fds or memory: the others go
                // on, after a pause that grows while it lasts.
                Err(_) => {
                    let stopped = match &self.stop {
                        Some(stop) => stop.wait(Some(backoff)),
                        None => {
                            std::thread::sleep(backoff);
                            false
                        }
                    };
                    if stopped {
                        break Ok(());
                    }
                    backoff = (backoff * 2).min(LONGEST_PAUSE);
                    continue;
                }
            };
            let client = Client {
                listener: Arc::clone(&listener),
                rings: self.rings.clone(),
                identities: (replies.clone(), requests.clone()),
                stop: self.stop.clone(),
                reader: reader(&jobs),
            };
            let spawned = std::thread::Builder::new()
                .name("ipcx-rpc-reader".into())
                .spawn(move || {
                    client.serve(peer);
                    drop(place); // the client's place, for the next one
                });
            match spawned {
                Ok(reader) => {
                    readers.retain(|r| !r.is_finished());
                    readers.push(reader);
                }
                // Out of threads: this client is dropped, the others go on.
                Err(_) => continue,
            }
        };
        // No new requests: readers end with the stop, after answering
        // what they run themselves (so `serve` returns once every reply
        // taken is sent: a process that exits then loses none); workers
        // end with the queue.
        if ended.is_ok() {
            for reader in readers {
                let _ = reader.join();
            }
        }
        drop(jobs);
        for worker in workers {
            let _ = worker.join();
        }
        ended
    }
}

/// The first pause after an accept failed, doubling up to [`LONGEST_PAUSE`].
pub(crate) const AFTER_ERROR: std::time::Duration = std::time::Duration::from_millis(1);
pub(crate) const LONGEST_PAUSE: std::time::Duration = std::time::Duration::from_secs(1);

/// What no retry can mend: the endpoint itself. A peer's fault (refused,
/// not ipcx, wrong type) or a passing shortage (fds, memory) is not.
pub(crate) fn is_fatal(e: &Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::InvalidEndpoint | ErrorKind::Unsupported | ErrorKind::AddrInUse
    )
}

/// How many requests may run at once: a worker's place, taken by a
/// worker or by a reader running a request itself. (Also the clients'
/// places of the accept loop.) Taking and giving back are one atomic
/// operation each while nobody waits (a reader takes and gives one per
/// call); only a taker that finds none sleeps, on the condvar.
struct Permits {
    free: AtomicUsize,
    /// Takers asleep on `freed` (or about to be): a giver then wakes one.
    sleeping: AtomicUsize,
    lock: Mutex<()>,
    freed: Condvar,
}

impl Permits {
    fn new(n: usize) -> Permits {
        Permits {
            free: AtomicUsize::new(n),
            sleeping: AtomicUsize::new(0),
            lock: Mutex::new(()),
            freed: Condvar::new(),
        }
    }

    fn try_take(&self) -> bool {
        self.free
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    fn give(&self) {
        self.free.fetch_add(1, Ordering::SeqCst);
        // A taker counts itself asleep before its last look: either that
        // look sees this place, or this sees it and wakes it (under the
        // lock, so not before it waits).
        if self.sleeping.load(Ordering::SeqCst) > 0 {
            let _held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
            self.freed.notify_one();
        }
    }

    fn take(&self) {
        self.take_unless_within(None, None);
    }

    /// Like `take`, but `false` (nothing taken) once `stop` is triggered;
    /// looks at the stop every 50 ms while it waits.
    fn take_unless(&self, stop: Option<&Stop>) -> bool {
        self.take_unless_within(stop, Some(std::time::Duration::from_millis(50)))
    }

    fn take_unless_within(&self, stop: Option<&Stop>, look: Option<std::time::Duration>) -> bool {
        if self.try_take() {
            return true;
        }
        let mut held = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        let took = loop {
            if self.try_take() {
                break true;
            }
            if stop.is_some_and(Stop::is_stopped) {
                break false;
            }
            held = match look {
                None => self.freed.wait(held).unwrap_or_else(|p| p.into_inner()),
                Some(every) => {
                    self.freed
                        .wait_timeout(held, every)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        };
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        took
    }
}

/// A taken place, given back when dropped.
struct Place(Arc<Permits>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.give();
    }
}

/// How long a taken peer has to send its hello.
pub(crate) const HELLO_WITHIN: std::time::Duration = std::time::Duration::from_secs(10);

/// One client, on its own thread: the hellos, then its requests.
struct Client {
    listener: Arc<Listener>,
    /// On `shm:`, the server's endpoint: the client attaches rings first.
    rings: Option<Endpoint>,
    /// What this server sends (replies) and receives (requests).
    identities: (crate::codec::Identity, crate::codec::Identity),
    stop: Option<Stop>,
    reader: Reader,
}

/// A taken peer's call connection: the hellos (the peer has
/// [`HELLO_WITHIN`]), then on `shm:` (`rings`) its attach. The ends the
/// server receives requests and sends replies on; an error when the peer
/// is refused (types, not ipcx) or silent: that peer only.
pub(crate) fn open_connection(
    listener: &Listener,
    peer: crate::channel::Peer,
    (replies, requests): (crate::codec::Identity, crate::codec::Identity),
    rings: Option<&Endpoint>,
) -> Result<(crate::Sender<Bytes>, crate::Receiver<Bytes>), Error> {
    let deadline = Deadline::after(Some(HELLO_WITHIN));
    let conn = listener.shake_hands::<Bytes, Bytes>(peer, replies, requests, deadline)?;
    match rings {
        None => Ok(conn.split()),
        Some(ep) => shm::accept(conn, ep, deadline), // told why, if it can still hear
    }
}

/// A server's ends on `nats://`: replies out, requests in.
pub(crate) type RemoteEnds = (crate::Sender<Bytes>, crate::Receiver<Bytes>);

/// A call server's bound socket, blocking or async: what both are made of.
pub(crate) struct Bound {
    /// As bound (`tcp:…:0` with its port), or the `shm:` endpoint.
    pub(crate) endpoint: Endpoint,
    /// `endpoint`'s socket, or on `shm:` its control socket; none on `nats://`.
    pub(crate) listener: Option<Listener>,
    /// On `nats://`: the subscription requests come on, and the replies' way.
    pub(crate) remote: Option<RemoteEnds>,
    /// On `shm:`, the endpoint each client's rings are made after.
    pub(crate) rings: Option<Endpoint>,
    pub(crate) stop: Option<Stop>,
}

impl Bound {
    /// `identities`: what the server receives (requests) and sends (replies).
    pub(crate) fn new(
        endpoint: impl ToEndpoint,
        options: &OpenOptions,
        (requests, replies): (crate::codec::Identity, crate::codec::Identity),
    ) -> Result<Bound, Error> {
        let endpoint = endpoint.to_endpoint()?;
        let stop = options.stop.clone();
        if endpoint.scheme() == Scheme::Nats {
            let deadline = Deadline::NEVER.with_stop(stop.as_ref().map(Stop::core));
            let ends = super::client::remote_ends(&endpoint, replies, requests, true, deadline)?;
            return Ok(Bound {
                endpoint,
                listener: None,
                remote: Some(ends),
                rings: None,
                stop,
            });
        }
        if endpoint.scheme() != Scheme::Shm {
            let listener = Listener::bind_with(&endpoint, options)?;
            return Ok(Bound {
                endpoint: listener.endpoint().clone(),
                listener: Some(listener),
                remote: None,
                rings: None,
                stop,
            });
        }
        let listener = Listener::bind_with(shm::control_endpoint(&endpoint), options)?;
        // The name is ours now: rings left by an earlier server's clients
        // that died with it go (live ones are kept).
        crate::transport::shm::reclaim_stale(&shm::ring_prefix(&endpoint));
        Ok(Bound {
            rings: Some(endpoint.clone()),
            endpoint,
            listener: Some(listener),
            remote: None,
            stop,
        })
    }
}

impl Client {
    fn serve(self, peer: crate::channel::Peer) {
        let Ok((tx, rx)) =
            open_connection(&self.listener, peer, self.identities, self.rings.as_ref())
        else {
            return;
        };
        let (rx, connection) = Connection::open(tx, rx, self.stop.as_ref());
        self.reader.read(&rx, &connection);
    }
}

/// One connection's reader: takes its requests until it ends, running
/// one itself when a place is free (`inline`), else queueing it for the
/// workers. A full queue blocks here: the client's sends then wait.
struct Reader {
    jobs: SyncSender<Job>,
    inline: Option<(Arc<Permits>, Arc<Answerer>)>,
    /// The requests of many clients on one end (`nats://`): a bad one is
    /// dropped and reading goes on (a connection's reader ends instead).
    tolerant: bool,
}

impl Reader {
    fn read(&self, rx: &crate::Receiver<Bytes>, conn: &Arc<Connection>) {
        // The reply frame, reused from one call to the next.
        let mut reply = Vec::new();
        loop {
            let got = rx.with_bytes(Deadline::NEVER, |bytes| {
                let frame = frame::decode(bytes)?;
                if frame.kind == Kind::Request {
                    if let Some((permits, handler)) = &self.inline {
                        if permits.try_take() {
                            // Answered where the request lies: no copy.
                            answer(frame.id, frame.body, conn, handler, &mut reply);
                            permits.give();
                            return Ok(Read::Answered);
                        }
                    }
                }
                Ok(Read::Frame(frame.kind, frame.id, frame.body.to_vec()))
            });
            match got.map_err(RecvError::from) {
                Ok(Read::Answered) => {}
                Ok(Read::Frame(Kind::Request, id, body)) => {
                    let job = Job {
                        id,
                        body,
                        conn: Arc::clone(conn),
                    };
                    if self.jobs.send(job).is_err() {
                        return; // serving ended
                    }
                }
                Ok(Read::Frame(Kind::Cancel, id, _)) => {
                    conn.cancelled
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id);
                    conn.any_cancelled.store(true, Ordering::Release);
                }
                Err(RecvError::Failed(e)) if self.tolerant && e.kind() != ErrorKind::Stopped => {}
                // A client sends requests and cancels only: not a call client.
                Ok(Read::Frame(..)) | Err(_) => return,
            }
        }
    }
}

/// What a reader did with one frame.
enum Read {
    /// A request it answered itself.
    Answered,
    /// A frame to act on: its kind, id and body.
    Frame(Kind, u64, Vec<u8>),
}

/// A worker: answers requests until the queue closes, each in a place
/// of its own.
fn work(queue: &Mutex<Queue<Job>>, handler: &Answerer, permits: &Permits) {
    let mut reply = Vec::new();
    loop {
        let job = match queue.lock().unwrap_or_else(|p| p.into_inner()).recv() {
            Ok(job) => job,
            Err(_) => return,
        };
        permits.take();
        answer(job.id, &job.body, &job.conn, handler, &mut reply);
        permits.give();
    }
}

/// Runs the handler on request `id` (unless its client gave up on it
/// already) and sends the reply or the error on `conn`; `reply` is the
/// caller's buffer for the frame.
fn answer(id: u64, body: &[u8], conn: &Connection, answerer: &Answerer, reply: &mut Vec<u8>) {
    let skipped = conn.any_cancelled.load(Ordering::Acquire)
        && conn
            .cancelled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    if skipped {
        return;
    }
    let started = std::time::Instant::now();
    frame::begin(reply, Kind::Reply, id);
    let outcome = catch_unwind(AssertUnwindSafe(|| (answerer.handler)(body, reply)));
    {
        let mut stats = answerer.stats.lock().unwrap_or_else(|p| p.into_inner());
        match &outcome {
            Ok(Ok(_)) => stats.message(body.len()),
            _ => stats.error(),
        }
        stats.blocked(u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX));
    }
    let text = match outcome {
        Ok(Ok(())) => None,
        Ok(Err(text)) => Some(text),
        Err(panic) => Some(panicked(&*panic)),
    };
    if let Some(text) = text {
        frame::begin(reply, Kind::Error, id);
        reply.extend_from_slice(text.as_bytes());
    }
    // A client gone meanwhile: nobody to answer.
    let _ = conn.tx.send_bytes(&reply[..]);
    if reply.capacity() > KEEP_REPLY_BUFFER {
        *reply = Vec::new(); // one big reply does not pin its memory
    }
}

/// What a caller is told of a handler's panic (its message, if a string).
pub(crate) fn panicked(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    format!("the handler panicked: {text}")
}

/// The largest reply buffer a reader or worker keeps for the next call.
const KEEP_REPLY_BUFFER: usize = 64 << 10;

impl<Req, Resp> fmt::Debug for Server<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("rpc::Server")
            .field("endpoint", &self.endpoint().to_string())
            .field("workers", &self.workers)
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}
