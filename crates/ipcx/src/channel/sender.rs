//! [`Sender`]: the sending end of any channel.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use super::{Bytes, Info, OpenOptions};
use crate::codec;
use crate::codec::{Identity, Message};
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, Fail, SendError, SendTimeoutError, TrySendError};
use crate::link::Outbound;
use crate::stats::{Counter, Role};
use crate::sys::{Deadline, PeerCred};
use crate::transport;
use crate::Stop;

/// The sending end of a channel of `T`, on any mechanism.
///
/// Opened from an endpoint string: it connects (sockets), opens for writing
/// (FIFOs) or adopts an inherited pipe. `send` blocks while the channel is
/// full; every method takes `&self`, and a `Sender` can be shared between
/// threads (messages from different threads never interleave).
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("ipcx-doc-s-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let ep = format!("unix:{}/hello.sock", dir.display());
/// let rx = ipcx::Receiver::<String>::open(&ep)?;
/// let tx = ipcx::Sender::<String>::open(&ep)?;
/// tx.send("hello".to_string())?;
/// assert_eq!(rx.recv()?, "hello");
/// # drop((tx, rx)); std::fs::remove_dir(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Sender<T> {
    shared: std::sync::Arc<Shared>,
    _type: PhantomData<fn(T)>,
}

/// What the clones of a sender share: one link, one lock.
struct Shared {
    state: Mutex<State>,
    info: Info,
    /// See [`Sender::readiness_fd`].
    poll_fd: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
}

impl<T> Clone for Sender<T> {
    /// Another handle to the same channel end, as Go and crossbeam allow
    /// many producers: the clones share one connection (or queue, or ring
    /// producer) and its lock, so their messages never interleave; the
    /// receiver sees the end when the last clone is dropped.
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("ipcx-doc-clone-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let ep = format!("unix:{}/jobs.sock", dir.display());
    /// let jobs = ipcx::Receiver::<u32>::open(&ep)?;
    /// let tx = ipcx::Sender::<u32>::open(&ep)?;
    /// let workers: Vec<_> = (0..3)
    ///     .map(|i| {
    ///         let tx = tx.clone();
    ///         std::thread::spawn(move || tx.send(i).unwrap())
    ///     })
    ///     .collect();
    /// drop(tx);
    /// workers.into_iter().for_each(|w| w.join().unwrap());
    /// let mut got: Vec<u32> = jobs.iter().collect(); // ends with the last clone
    /// got.sort();
    /// assert_eq!(got, [0, 1, 2]);
    /// # drop(jobs); std::fs::remove_dir(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    fn clone(&self) -> Self {
        Sender {
            shared: std::sync::Arc::clone(&self.shared),
            _type: PhantomData,
        }
    }
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) link: Outbound,
    /// Reused encode buffer: no allocation per message once warm.
    pub(super) buf: Vec<u8>,
    /// Published counters (`ipcx::stats`).
    pub(super) stats: Counter,
    /// Ends waits early, and refuses sends once triggered.
    pub(super) stop: Option<Stop>,
    /// The length of the last message refused as full: what a readiness
    /// wait waits for room for.
    refused_len: usize,
}

impl State {
    /// Readiness for a send (see `Select`): now once stopped (the send
    /// reports it), else what the link waits on.
    pub(super) fn arm(&mut self) -> crate::link::ready::Armed {
        if self.stop.as_ref().is_some_and(Stop::is_stopped) {
            return crate::link::ready::Armed::Now;
        }
        self.link.arm(self.refused_len)
    }

    pub(super) fn disarm(&mut self) {
        self.link.disarm();
    }
}

impl<T> Sender<T> {
    /// Opens the sending end of `endpoint`. Fails at once if nobody is
    /// there (no listener, no FIFO reader); see [`Sender::open_timeout`].
    pub fn open(endpoint: impl ToEndpoint) -> Result<Self, Error>
    where
        T: Message,
    {
        Self::open_until(endpoint, T::identity(), Deadline::NEVER)
    }

    /// Like [`Sender::open`], but waits up to `timeout` for a receiver to appear.
    pub fn open_timeout(endpoint: impl ToEndpoint, timeout: Duration) -> Result<Self, Error>
    where
        T: Message,
    {
        Self::open_until(endpoint, T::identity(), Deadline::after(Some(timeout)))
    }

    /// Opens with [`OpenOptions`]: how long to wait for a receiver to
    /// appear, and a [`Stop`] that ends that wait and every later blocked
    /// send; and the [`Identity`](crate::Identity) to declare in place of `T`'s.
    pub fn open_with(endpoint: impl ToEndpoint, options: &OpenOptions) -> Result<Self, Error>
    where
        T: Message,
    {
        let stop = options.stop.as_ref().map(Stop::core);
        let deadline = Deadline::after(options.timeout).with_stop(stop);
        let identity = options.identity.clone().unwrap_or_else(T::identity);
        let sender = Self::open_until(endpoint, identity, deadline)?;
        Ok(match &options.stop {
            Some(stop) => sender.with_stop(stop),
            None => sender,
        })
    }

    /// Like [`Sender::open_with`], but the wait for a receiver also ends
    /// when `cancel` is triggered (if `options` bring no stop of their own).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn open_cancellable(
        endpoint: &Endpoint,
        options: &OpenOptions,
        cancel: &Stop,
    ) -> Result<Self, Error>
    where
        T: Message,
    {
        let wait_stop = options.stop.as_ref().unwrap_or(cancel);
        let deadline = Deadline::after(options.timeout).with_stop(Some(wait_stop.core()));
        let identity = options.identity.clone().unwrap_or_else(T::identity);
        let sender = Self::open_until(endpoint, identity, deadline)?;
        Ok(match &options.stop {
            Some(stop) => sender.with_stop(stop),
            None => sender,
        })
    }

    /// This sender, stopped by `stop` from now on (for ends opened another
    /// way, e.g. [`pipe::to_child`](crate::pipe::to_child)).
    pub fn with_stop(self, stop: &Stop) -> Self {
        self.set_stop(stop);
        self
    }

    /// Like [`Sender::with_stop`], on a shared sender.
    pub fn set_stop(&self, stop: &Stop) {
        self.lock_state().stop = Some(stop.clone());
    }

    fn open_until(
        endpoint: impl ToEndpoint,
        identity: Identity,
        deadline: Deadline<'_>,
    ) -> Result<Self, Error> {
        let ep = endpoint.to_endpoint()?;
        let opened = transport::open_sender(&ep, identity, deadline)?;
        let (link, info) = Info::split(opened);
        Ok(Self::from_parts(link, info))
    }

    pub(crate) fn from_parts(link: Outbound, info: Info) -> Self {
        Sender {
            shared: std::sync::Arc::new(Shared {
                poll_fd: link.poll_fd(),
                state: Mutex::new(State {
                    link,
                    buf: Vec::new(),
                    stats: Counter::new(Role::Sender, &info.local.to_string()),
                    stop: None,
                    refused_len: 0,
                }),
                info,
            }),
            _type: PhantomData,
        }
    }

    /// The fd that becomes writable when a send may go on, for a
    /// program's own poll loop; `None` on `shm:` and `sysvmq:` (use a
    /// [`Select`](crate::Select)). Send with `try_send` until it says
    /// `Full` before waiting on it again.
    pub fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.shared.poll_fd.as_ref().map(|fd| fd.as_fd())
    }

    /// The endpoint this sender is connected to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.shared.info.local
    }

    /// Who is on the other end, for Unix stream and seqpacket connections.
    pub fn peer_cred(&self) -> Option<PeerCred> {
        self.shared.info.peer_cred
    }

    /// The largest message, in bytes once encoded, this sender can send:
    /// the endpoint's `max_msg`, lowered to what the mechanism carries in
    /// one piece (a UDP datagram, a queue's message size, a FIFO's atomic
    /// write, a ring) and to the receiver's `max_msg` once its hello has
    /// come. Anything larger is refused with [`ErrorKind::TooLarge`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let path = std::env::temp_dir().join(format!("ipcx-doc-max-{}", std::process::id()));
    /// let rx = ipcx::ByteReceiver::open(format!("fifo:{}", path.display()))?;
    /// let tx = ipcx::ByteSender::open(rx.endpoint())?;
    /// // A FIFO writer keeps each message one atomic write by default...
    /// assert_eq!(tx.max_message_len(), 4092);
    /// assert!(tx.send_bytes(vec![0u8; 5000]).is_err());
    /// // ...and takes larger ones when the endpoint says so.
    /// let big = ipcx::ByteSender::open(format!("fifo:{}?max_msg=1MiB", path.display()))?;
    /// assert_eq!(big.max_message_len(), 1 << 20);
    /// # Ok(()) }
    /// ```
    ///
    /// [`ErrorKind::TooLarge`]: crate::ErrorKind::TooLarge
    pub fn max_message_len(&self) -> usize {
        self.lock_state().link.max_len()
    }

    /// What a send of the last refused message would wait on now; undo
    /// with [`Sender::disarm`] (for the async ends, `crate::tokio`).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn arm(&self) -> crate::link::ready::Armed {
        self.lock_state().arm()
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn disarm(&self) {
        self.lock_state().disarm();
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn stop_handle(&self) -> Option<Stop> {
        self.lock_state().stop.clone()
    }

    /// One step of an async send, under one lock: unless `begun`, `send`
    /// without waiting (then `begun`), and then whatever of its frame a
    /// full byte stream left: `Ok(true)` once the whole message is out.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    fn send_step(
        &self,
        begun: &mut bool,
        send: impl FnOnce(&mut State) -> Result<(), Fail>,
    ) -> Result<bool, Fail> {
        let mut state = self.lock_state();
        if !*begun {
            match send(&mut state) {
                Ok(()) => *begun = true,
                Err(Fail::NotReady) => return Ok(false),
                Err(other) => return Err(other),
            }
        }
        match state.link.flush(Deadline::now()) {
            Ok(()) => Ok(true),
            Err(Fail::NotReady) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// [`Sender::send_step`] of raw bytes.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn send_raw_step(&self, msg: &[u8], begun: &mut bool) -> Result<bool, Fail> {
        self.send_step(begun, |state| state.send_raw(msg, Deadline::now()))
    }

    /// The end's state, for `Select`.
    pub(super) fn state(&self) -> &Mutex<State> {
        &self.shared.state
    }

    pub(super) fn lock_state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while sending leaves the link usable or reporting errors.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl State {
    pub(super) fn send_value<T: Serialize>(
        &mut self,
        msg: &T,
        deadline: Deadline<'_>,
    ) -> Result<(), Fail> {
        codec::encode(msg, &mut self.buf).map_err(|e| e.at(self.link.label()))?;
        let deadline = watch(&self.stop, deadline)?;
        let sent = self.link.send(&self.buf, deadline);
        self.tally(&sent, self.buf.len());
        sent
    }

    /// Sends bytes as they are.
    #[inline]
    pub(super) fn send_raw(&mut self, msg: &[u8], deadline: Deadline<'_>) -> Result<(), Fail> {
        let deadline = watch(&self.stop, deadline)?;
        let sent = self.link.send(msg, deadline);
        self.tally(&sent, msg.len());
        sent
    }

    /// Lends `len` bytes for `fill`, then sends what it wrote.
    pub(super) fn send_in_place(
        &mut self,
        len: usize,
        deadline: Deadline<'_>,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, Fail> {
        let deadline = watch(&self.stop, deadline)?;
        let sent = self.link.send_with(len, deadline, &mut self.buf, fill);
        let n = *sent.as_ref().unwrap_or(&0);
        self.tally(&sent, n);
        sent
    }

    /// Counts one send's outcome, and the time it waited for room.
    #[inline]
    fn tally<R>(&mut self, sent: &Result<R, Fail>, len: usize) {
        match sent {
            Ok(_) => self.stats.message(len),
            Err(Fail::Error(_)) => self.stats.error(),
            Err(Fail::NotReady) => self.refused_len = len,
            Err(_) => {}
        }
        let waited = crate::sys::take_blocked();
        if waited != 0 {
            self.stats.blocked(waited);
        }
    }
}

/// The deadline with the end's stop to watch; `Stopped` once it came.
#[inline]
fn watch<'a>(stop: &'a Option<Stop>, deadline: Deadline<'_>) -> Result<Deadline<'a>, Fail> {
    match stop {
        None => Ok(deadline.with_stop(None)),
        Some(s) if s.is_stopped() => Err(Fail::Stopped),
        Some(s) => Ok(deadline.with_stop(Some(s.core()))),
    }
}

impl<T: Serialize> Sender<T> {
    /// [`Sender::send_step`] of a value.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn send_value_step(&self, msg: &T, begun: &mut bool) -> Result<bool, Fail> {
        self.send_step(begun, |state| state.send_value(msg, Deadline::now()))
    }

    fn send_until(&self, msg: &T, deadline: Deadline<'_>) -> Result<(), Fail> {
        self.lock_state().send_value(msg, deadline)
    }

    /// Sends `msg`, blocking while the channel is full.
    pub fn send(&self, msg: T) -> Result<(), SendError<T>> {
        self.send_until(&msg, Deadline::NEVER)
            .map_err(|f| SendError::from_fail(f, msg))
    }

    /// Sends `msg` if that can be done without waiting; else gives it back.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.send_until(&msg, Deadline::now())
            .map_err(|f| TrySendError::from_fail(f, msg))
    }

    /// Sends `msg`, waiting at most `timeout` for room.
    pub fn send_timeout(&self, msg: T, timeout: Duration) -> Result<(), SendTimeoutError<T>> {
        self.send_until(&msg, Deadline::after(Some(timeout)))
            .map_err(|f| SendTimeoutError::from_fail(f, msg))
    }
}

impl<T> Sender<T> {
    /// Sends bytes as they are (Bytes and Pod channels).
    pub(super) fn send_raw_until(&self, msg: &[u8], deadline: Deadline<'_>) -> Result<(), Fail> {
        self.lock_state().send_raw(msg, deadline)
    }

    /// Lends `len` bytes for `fill`, then sends what it wrote (a loan on shm:).
    pub(super) fn send_in_place(
        &self,
        len: usize,
        deadline: Deadline<'_>,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, Fail> {
        self.lock_state().send_in_place(len, deadline, fill)
    }
}

impl Sender<Bytes> {
    fn send_bytes_until(&self, msg: &[u8], deadline: Deadline<'_>) -> Result<(), Fail> {
        self.send_raw_until(msg, deadline)
    }

    /// Sends one message of raw bytes, blocking while the channel is full.
    pub fn send_bytes<B: AsRef<[u8]>>(&self, msg: B) -> Result<(), SendError<B>> {
        self.send_bytes_until(msg.as_ref(), Deadline::NEVER)
            .map_err(|f| SendError::from_fail(f, msg))
    }

    /// Sends raw bytes if that can be done without waiting.
    pub fn try_send_bytes<B: AsRef<[u8]>>(&self, msg: B) -> Result<(), TrySendError<B>> {
        self.send_bytes_until(msg.as_ref(), Deadline::now())
            .map_err(|f| TrySendError::from_fail(f, msg))
    }

    /// Sends raw bytes, waiting at most `timeout` for room.
    pub fn send_bytes_timeout<B: AsRef<[u8]>>(
        &self,
        msg: B,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<B>> {
        self.send_bytes_until(msg.as_ref(), Deadline::after(Some(timeout)))
            .map_err(|f| SendTimeoutError::from_fail(f, msg))
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("endpoint", &self.shared.info.local.to_string())
            .finish_non_exhaustive()
    }
}
