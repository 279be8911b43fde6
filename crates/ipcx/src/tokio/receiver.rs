//! [`Receiver`]: the receiving end of any channel, in a tokio task.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::de::DeserializeOwned;

use super::drive::Driver;
use crate::channel::OpenOptions;
use crate::codec::Message;
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, Fail, RecvError, RecvTimeoutError, TryRecvError};
use crate::sys::Deadline;
use crate::{Bytes, Stop};

/// The receiving end of a channel of `T` for tokio: the same endpoints,
/// links and wire as [`crate::Receiver`] (a blocking sender in another
/// process is a peer like any other), with `async` receives.
///
/// Waiting costs no thread: an fd-based transport is watched by tokio's
/// reactor, a `shm:` ring through its doorbell (the sender rings it only
/// when this end sleeps, so a busy stream makes no system call per
/// message), and a System V queue, which has no fd, is looked at after
/// pauses that grow from 50 µs to 5 ms (so an idle one costs a wake-up
/// every 5 ms, and the first message after a lull waits up to that).
///
/// **Cancellation safety**: [`recv`](Receiver::recv) and its variants are
/// cancel safe: a message is taken only in the poll that returns it, so a
/// dropped future (a lost `tokio::select!` branch, a timeout) loses none.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ep = format!("shm:/ipcx-doc-async-rx-{}", std::process::id());
/// let mut rx = ipcx::tokio::Receiver::<String>::open(&ep)?;
/// let tx = ipcx::Sender::<String>::open(&ep)?; // a blocking sender (any process)
/// let sending = std::thread::spawn(move || tx.send("hi".to_string()));
/// assert_eq!(rx.recv().await?, "hi");
/// # sending.join().unwrap()?; // the sender is gone before the segment goes
/// # Ok(()) }
/// ```
pub struct Receiver<T> {
    inner: crate::Receiver<T>,
    drive: Driver,
}

impl<T> Receiver<T> {
    /// Opens the receiving end of `endpoint` (this never waits: a
    /// receiver binds, creates or opens what it receives on).
    pub fn open(endpoint: impl ToEndpoint) -> Result<Self, Error>
    where
        T: Message,
    {
        crate::Receiver::open(endpoint).map(Receiver::new)
    }

    /// Like [`Receiver::open`], with [`OpenOptions`] (a [`Stop`] that ends
    /// waiting receives, serving, an identity set by hand).
    pub fn open_with(endpoint: impl ToEndpoint, options: &OpenOptions) -> Result<Self, Error>
    where
        T: Message,
    {
        crate::Receiver::open_with(endpoint, options).map(Receiver::new)
    }

    /// The async face of a blocking receiver (from [`crate::pipe`], a
    /// [`Duplex`](crate::Duplex) half, ...).
    pub fn new(inner: crate::Receiver<T>) -> Self {
        Receiver {
            drive: Driver::new(&inner),
            inner,
        }
    }

    /// This receiver, woken by `stop` from now on: a waiting receive
    /// returns what is queued, then `Disconnected`.
    pub fn with_stop(mut self, stop: &Stop) -> Self {
        self.inner.set_stop(stop);
        self.drive.set_stop(stop);
        self
    }

    /// See [`crate::Receiver::endpoint`].
    pub fn endpoint(&self) -> &Endpoint {
        self.inner.endpoint()
    }

    /// See [`crate::Receiver::shutdown`].
    pub fn shutdown(&self) {
        self.inner.shutdown();
    }

    /// See [`crate::Receiver::errors`].
    pub fn errors(&self) -> u64 {
        self.inner.errors()
    }

    /// See [`crate::Receiver::take_errors`].
    pub fn take_errors(&self) -> Vec<Error> {
        self.inner.take_errors()
    }

    /// Tries `attempt` until it gives an answer, sleeping in between on
    /// what the end is ready on.
    fn poll_attempt<R>(
        &mut self,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&crate::Receiver<T>) -> Result<R, Fail>,
    ) -> Poll<Result<R, Fail>> {
        self.drive
            .poll(cx, &self.inner, "waiting to receive", |rx| {
                match attempt(rx) {
                    Err(Fail::NotReady) => Ok(None),
                    other => other.map(Some),
                }
            })
    }
}

impl<T: DeserializeOwned> Receiver<T> {
    /// Polls for the next message (what [`Receiver::recv`] awaits).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, RecvError>> {
        self.poll_attempt(cx, |rx| rx.recv_until(Deadline::now()))
            .map_err(RecvError::from)
    }

    /// Receives a message, waiting while the channel is empty; after the
    /// last message of the last sender, `Disconnected`. Cancel safe.
    pub async fn recv(&mut self) -> Result<T, RecvError> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Receives a message if one is there now.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        self.inner.try_recv()
    }

    /// Receives a message, waiting at most `timeout`. Cancel safe.
    pub async fn recv_timeout(&mut self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        match tokio::time::timeout(timeout, self.recv()).await {
            Ok(Ok(msg)) => Ok(msg),
            Ok(Err(RecvError::Disconnected)) => Err(RecvTimeoutError::Disconnected),
            Ok(Err(RecvError::Failed(e))) => Err(RecvTimeoutError::Failed(e)),
            Err(_) => Err(RecvTimeoutError::Timeout),
        }
    }
}

impl Receiver<Bytes> {
    /// Polls for the next raw message.
    pub fn poll_recv_bytes(&mut self, cx: &mut Context<'_>) -> Poll<Result<Vec<u8>, RecvError>> {
        self.poll_attempt(cx, |rx| rx.with_bytes(Deadline::now(), |b| Ok(b.to_vec())))
            .map_err(RecvError::from)
    }

    /// Receives one raw message. Cancel safe.
    pub async fn recv_bytes(&mut self) -> Result<Vec<u8>, RecvError> {
        std::future::poll_fn(|cx| self.poll_recv_bytes(cx)).await
    }
}

/// The messages until every sender is gone: `Err` items for bad messages
/// and peers (the stream goes on after them), then `None`.
impl<T: DeserializeOwned> futures_core::Stream for Receiver<T> {
    type Item = Result<T, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx).map(|got| match got {
            Ok(msg) => Some(Ok(msg)),
            Err(RecvError::Disconnected) => None,
            Err(RecvError::Failed(e)) => Some(Err(e)),
        })
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.drive.disarm(&self.inner);
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("tokio::Receiver")
            .field("endpoint", &self.inner.endpoint().to_string())
            .finish_non_exhaustive()
    }
}
