//! [`Receiver`]: the receiving end of any channel.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::{Bytes, Info, OpenOptions};
use crate::codec;
use crate::codec::{Identity, Message};
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::Fail as LinkFail;
use crate::error::{Error, Fail, RecvError, RecvTimeoutError, TryRecvError};
use crate::link::Inbound;
use crate::stats::{Counter, Role};
use crate::sys::Deadline;
use crate::transport;
use crate::Stop;

/// The receiving end of a channel of `T`, on any mechanism.
///
/// Opened from an endpoint string, it binds (sockets), creates or opens for
/// reading (FIFOs) or adopts an inherited pipe. On `unix:`,
/// `unix+seqpacket:` and `tcp:` it listens and takes messages from any
/// number of senders. `recv` blocks while the channel is empty; once every
/// sender that came is gone it returns [`RecvError::Disconnected`], which
/// also ends iteration.
///
/// A bad message or connection (garbage, wrong type, too large) is returned
/// as [`RecvError::Failed`] once; the receiver goes on with the others.
pub struct Receiver<T> {
    pub(super) link: Mutex<RecvState>,
    pub(super) info: Info,
    /// See [`Receiver::readiness_fd`].
    poll_fd: Option<std::sync::Arc<std::os::fd::OwnedFd>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Receiver<T> {
    /// Opens the receiving end of `endpoint`.
    pub fn open(endpoint: impl ToEndpoint) -> Result<Self, Error>
    where
        T: Message,
    {
        Self::open_as(endpoint, T::identity())
    }

    fn open_as(endpoint: impl ToEndpoint, identity: Identity) -> Result<Self, Error> {
        let ep = endpoint.to_endpoint()?;
        let opened = transport::open_receiver(&ep, identity)?;
        let (link, info) = Info::split(opened);
        Ok(Self::from_parts(link, info))
    }

    /// Opens with [`OpenOptions`]: a [`Stop`] that wakes every blocked
    /// receive (the receiver then delivers what was already queued and
    /// ends, as after [`Receiver::shutdown`]), and serving (a listening
    /// receiver that keeps taking new senders after the last one left);
    /// and the [`Identity`](crate::Identity) to declare in place of `T`'s.
    pub fn open_with(endpoint: impl ToEndpoint, options: &OpenOptions) -> Result<Self, Error>
    where
        T: Message,
    {
        let ep = options.apply(endpoint.to_endpoint()?);
        let identity = options.identity.clone().unwrap_or_else(T::identity);
        let rx = Self::open_as(&ep, identity)?;
        Ok(match &options.stop {
            Some(stop) => rx.with_stop(stop),
            None => rx,
        })
    }

    /// This receiver, woken by `stop` from now on (for ends opened another
    /// way: [`pipe::from_child`](crate::pipe::from_child), a [`Duplex`](crate::Duplex) half).
    pub fn with_stop(self, stop: &Stop) -> Self {
        self.set_stop(stop);
        self
    }

    /// Like [`Receiver::with_stop`], on a shared receiver (a receive
    /// blocked in another thread keeps its old stop until it returns).
    pub fn set_stop(&self, stop: &Stop) {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).stop = Some(stop.clone());
    }

    pub(crate) fn from_parts(link: Inbound, info: Info) -> Self {
        Receiver {
            poll_fd: link.poll_fd(),
            link: Mutex::new(RecvState {
                stats: Counter::new(Role::Receiver, &info.local.to_string()),
                link,
                stop: None,
                draining: false,
                errors: PeerErrors::default(),
            }),
            info,
            _type: PhantomData,
        }
    }

    /// The fd that becomes readable when a message may be there, for a
    /// program's own poll loop (poll, epoll, mio, an async runtime's fd
    /// watcher): sockets, pipes, FIFOs and POSIX queues. `None` on `shm:`
    /// and `sysvmq:`, which have no such fd: wait on those with a
    /// [`Select`](crate::Select).
    ///
    /// Receive with `try_recv` until it says `Empty` before waiting on the
    /// fd again: messages ipcx has already read into its buffer do not make
    /// the fd readable. A readable fd is a hint (a frame may be partial).
    pub fn readiness_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.poll_fd.as_ref().map(|fd| fd.as_fd())
    }

    /// The endpoint as actually opened: for `tcp:…:0` and `udp:…:0`, with the
    /// port the kernel chose, ready to hand to senders.
    pub fn endpoint(&self) -> &Endpoint {
        &self.info.local
    }

    /// Stops taking new messages, for an orderly stop (e.g. on SIGTERM,
    /// see [`Stop::on_signals`](crate::Stop::on_signals)): a listener stops accepting,
    /// and socket connections are shut for reading, so a Unix sender's later
    /// sends fail and it knows they were not taken. Everything already
    /// queued is still received; then `recv` returns `Disconnected`,
    /// without waiting. (Pipes, FIFOs, TCP, UDP and queues cannot refuse
    /// their senders: what they send after the last receive is not read.)
    ///
    /// This takes the receiver's lock, so a receive blocked in another
    /// thread finishes first; to wake one, open with a [`Stop`]
    /// ([`OpenOptions::stop`]) and trigger it.
    pub fn shutdown(&self) {
        self.link
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .stop();
    }

    /// How many bad messages or peers this receiver has met and dropped
    /// (garbage, wrong types, oversized messages; datagrams dropped
    /// without a report included). Neither ends the channel.
    pub fn errors(&self) -> u64 {
        let state = self
            .link
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.errors.count + state.link.unreported_errors()
    }

    /// The errors met since the last call, oldest first (at most the last
    /// 16 are kept): what iteration skipped, and what `recv` returned.
    pub fn take_errors(&self) -> Vec<Error> {
        let mut state = self
            .link
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.errors.recent.drain(..).collect()
    }

    /// How many messages were lost before this receiver could read them:
    /// overwritten by an `overflow=drop-oldest` shared-memory ring, or on
    /// `nats://` dropped for a receiver that fell behind (its inbox full,
    /// the server's slow-consumer cut) or sent while its connection was
    /// down (counted from the gaps in each sender's sequence numbers). 0 on
    /// every other transport, where nothing is dropped.
    pub fn missed(&self) -> u64 {
        self.link
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .missed()
    }

    /// Receives one message's bytes and hands them to `f` without copying.
    pub(crate) fn with_bytes<R>(
        &self,
        deadline: Deadline<'_>,
        f: impl FnOnce(&[u8]) -> Result<R, Error>,
    ) -> Result<R, Fail> {
        self.link
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .with_bytes(deadline, &self.info, f)
    }
}

/// What the async ends (`crate::tokio`) drive a receiver with: its
/// readiness and its stop.
impl<T> Receiver<T> {
    pub(super) fn lock_link(&self) -> std::sync::MutexGuard<'_, RecvState> {
        self.link
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// What a receive would wait on now; undo with [`Receiver::disarm`].
    pub(crate) fn arm(&self) -> crate::link::ready::Armed {
        self.lock_link().arm()
    }

    pub(crate) fn disarm(&self) {
        self.lock_link().disarm();
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn stop_handle(&self) -> Option<Stop> {
        self.lock_link().stop.clone()
    }
}

impl Info {
    pub(super) fn label(&self) -> std::sync::Arc<str> {
        self.local.to_string().into()
    }
}

impl<T: DeserializeOwned> Receiver<T> {
    pub(crate) fn recv_until(&self, deadline: Deadline<'_>) -> Result<T, Fail> {
        self.with_bytes(deadline, codec::decode::<T>)
    }

    /// Receives a message, blocking while the channel is empty.
    pub fn recv(&self) -> Result<T, RecvError> {
        self.recv_until(Deadline::NEVER).map_err(RecvError::from)
    }

    /// Receives a message if one is there now.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.recv_until(Deadline::now()).map_err(TryRecvError::from)
    }

    /// Receives a message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_until(Deadline::after(Some(timeout)))
            .map_err(RecvTimeoutError::from)
    }

    /// Iterates over messages until every sender is gone (or a stop). A
    /// bad message or peer does not end the loop: it is skipped, counted
    /// ([`Receiver::errors`]) and kept ([`Receiver::take_errors`]).
    ///
    /// ```
    /// # let dir = std::env::temp_dir().join(format!("ipcx-doc-iter-{}", std::process::id()));
    /// # std::fs::create_dir_all(&dir)?;
    /// let ep = format!("unix:{}/jobs.sock", dir.display());
    /// let jobs = ipcx::Receiver::<u32>::open(&ep)?;
    /// let tx = ipcx::Sender::<u32>::open(&ep)?;
    /// // A peer that is not ipcx: dropped and noted, the loop goes on.
    /// std::os::unix::net::UnixStream::connect(dir.join("jobs.sock"))?;
    /// tx.send(7)?;
    /// drop(tx);
    /// let all: Vec<u32> = jobs.iter().collect();
    /// assert_eq!(all, [7]);
    /// # drop(jobs); std::fs::remove_dir(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }
}

impl Receiver<Bytes> {
    /// Receives one raw message, blocking while the channel is empty.
    pub fn recv_bytes(&self) -> Result<Vec<u8>, RecvError> {
        self.with_bytes(Deadline::NEVER, |b| Ok(b.to_vec()))
            .map_err(RecvError::from)
    }

    /// Receives one raw message if one is there now.
    pub fn try_recv_bytes(&self) -> Result<Vec<u8>, TryRecvError> {
        self.with_bytes(Deadline::now(), |b| Ok(b.to_vec()))
            .map_err(TryRecvError::from)
    }

    /// Receives one raw message, waiting at most `timeout`.
    pub fn recv_bytes_timeout(&self, timeout: Duration) -> Result<Vec<u8>, RecvTimeoutError> {
        self.with_bytes(Deadline::after(Some(timeout)), |b| Ok(b.to_vec()))
            .map_err(RecvTimeoutError::from)
    }

    /// Receives one raw message and lends it to `f` in place: no copy, no
    /// allocation. `timeout: None` waits as long as it takes.
    pub fn recv_bytes_with<R>(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RecvTimeoutError> {
        self.with_bytes(Deadline::after(timeout), |b| Ok(f(b)))
            .map_err(RecvTimeoutError::from)
    }
}

/// Iterator over a [`Receiver`]'s messages; see [`Receiver::iter`].
#[derive(Debug)]
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T: DeserializeOwned> Iterator for Iter<'_, T> {
    type Item = T;

    /// The next message; `None` once every sender is gone (or the stop
    /// came and what was queued is taken). A bad message or peer is
    /// skipped: it is counted and kept for [`Receiver::take_errors`].
    fn next(&mut self) -> Option<T> {
        loop {
            match self.rx.recv() {
                Ok(msg) => return Some(msg),
                Err(RecvError::Disconnected) => return None,
                Err(RecvError::Failed(_)) => {}
            }
        }
    }
}

/// Owning iterator over a [`Receiver`]'s messages.
#[derive(Debug)]
pub struct IntoIter<T> {
    rx: Receiver<T>,
}

impl<T: DeserializeOwned> Iterator for IntoIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        self.rx.iter().next()
    }
}

impl<'a, T: DeserializeOwned> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;

    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T: DeserializeOwned> IntoIterator for Receiver<T> {
    type Item = T;
    type IntoIter = IntoIter<T>;

    fn into_iter(self) -> IntoIter<T> {
        IntoIter { rx: self }
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("endpoint", &self.info.local.to_string())
            .finish_non_exhaustive()
    }
}

/// Counts a received message and hands it to `f`.
#[inline]
fn finish<R>(
    stats: &mut Counter,
    bytes: &[u8],
    info: &Info,
    f: impl FnOnce(&[u8]) -> Result<R, Error>,
) -> Result<R, LinkFail> {
    stats.message(bytes.len());
    // Waiting for messages is a receiver's normal state, not blocking.
    let _ = crate::sys::take_blocked();
    f(bytes).map_err(|e| LinkFail::Error(e.at(&info.label())))
}

/// A receiver's link and its published counters, under one lock.
#[derive(Debug)]
pub(super) struct RecvState {
    pub(super) link: Inbound,
    pub(super) stats: Counter,
    /// Wakes a blocked receive; once triggered the receiver drains and ends.
    pub(super) stop: Option<Stop>,
    /// Stopped (by the stop or `shutdown`): what is queued, then the end.
    pub(super) draining: bool,
    /// Bad messages and peers met so far.
    pub(super) errors: PeerErrors,
}

/// Errors a receiver met: a count, and the last few for
/// [`Receiver::take_errors`].
#[derive(Debug, Default)]
pub(super) struct PeerErrors {
    count: u64,
    recent: std::collections::VecDeque<Error>,
}

impl PeerErrors {
    const KEPT: usize = 16;

    fn note(&mut self, e: &Error) {
        self.count += 1;
        if self.recent.len() == Self::KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(e.clone());
    }
}

impl RecvState {
    /// Receives one message, counts it and lends it to `f`; `f`'s error
    /// is the message's (a decode error), named after `info`'s endpoint.
    /// Once the stop came (or `shutdown`), only what is already queued is
    /// taken, then the channel reports its end.
    #[inline]
    pub(super) fn with_bytes<R>(
        &mut self,
        deadline: Deadline<'_>,
        info: &Info,
        f: impl FnOnce(&[u8]) -> Result<R, Error>,
    ) -> Result<R, LinkFail> {
        if !self.draining && self.stop.as_ref().is_some_and(Stop::is_stopped) {
            self.stop();
        }
        let deadline = match (self.draining, self.stop.as_ref()) {
            (true, _) => Deadline::now(),
            (false, stop) => deadline.with_stop(stop.map(Stop::core)),
        };
        let RecvState { link, stats, .. } = self;
        // The busy path: a message is there (see Inbound::recv_ready).
        if let Some(bytes) = link.recv_ready() {
            return finish(stats, bytes, info, f);
        }
        // Lent bytes cannot outlive a second receive: `f` runs in the arm.
        let fail = match link.recv(deadline) {
            Ok(bytes) => return finish(stats, bytes, info, f),
            Err(LinkFail::Stopped) => None,
            Err(other) => Some(other),
        };
        let fail = match fail {
            Some(fail) => fail,
            None => {
                // Woken by the stop: drain what is queued.
                self.stop();
                match self.link.recv(Deadline::now()) {
                    Ok(bytes) => return finish(&mut self.stats, bytes, info, f),
                    Err(fail) => fail,
                }
            }
        };
        if let LinkFail::Error(e) = &fail {
            self.stats.error();
            self.errors.note(e);
        }
        let _ = crate::sys::take_blocked();
        match fail {
            LinkFail::NotReady if self.draining => Err(LinkFail::Disconnected),
            other => Err(other),
        }
    }

    /// Readiness for a receive (see `Select`): now once stopped or
    /// draining (the receive answers at once), else what the link waits on.
    pub(super) fn arm(&mut self) -> crate::link::ready::Armed {
        if self.draining || self.stop.as_ref().is_some_and(Stop::is_stopped) {
            return crate::link::ready::Armed::Now;
        }
        self.link.arm().unwrap_or(crate::link::ready::Armed::Now)
    }

    pub(super) fn disarm(&mut self) {
        self.link.disarm();
    }

    pub(super) fn stop(&mut self) {
        if !self.draining {
            self.link.stop();
            self.draining = true;
        }
    }

    pub(super) fn missed(&self) -> u64 {
        self.link.missed()
    }
}
