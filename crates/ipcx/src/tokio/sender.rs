//! [`Sender`]: the sending end of any channel, in a tokio task.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::Serialize;

use super::drive::Driver;
use crate::channel::OpenOptions;
use crate::codec::Message;
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, Fail, SendError, SendTimeoutError, TrySendError};
use crate::{Bytes, Stop};

/// The sending end of a channel of `T` for tokio: the same endpoints,
/// links and wire as [`crate::Sender`], with `async` sends that wait for
/// room without a thread (see [`Receiver`](super::Receiver) for how each
/// transport waits).
///
/// **Cancellation safety**: a send that returned `Pending` and is then
/// dropped sent the whole message or none of it, never part of a frame.
/// On a byte stream (pipe, FIFO, Unix stream, TCP) a message larger than
/// the room in the kernel's buffer goes out in pieces; once its first
/// piece is out it counts as sent, and if the future is dropped before
/// the rest, the rest is written before the next message (or when the
/// sender is dropped), so the receiver never sees a torn frame. Messages
/// of a dropped send that had not begun are not sent.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("ipcx-doc-async-tx-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let ep = format!("unix:{}/jobs.sock", dir.display());
/// let mut rx = ipcx::tokio::Receiver::<u32>::open(&ep)?;
/// let mut tx = ipcx::tokio::Sender::<u32>::open(&ep).await?;
/// tx.send(7).await?;
/// assert_eq!(rx.recv().await?, 7);
/// # drop((tx, rx)); std::fs::remove_dir(&dir)?;
/// # Ok(()) }
/// ```
pub struct Sender<T> {
    inner: crate::Sender<T>,
    drive: Driver,
    /// The `Sink`'s message in flight, and whether it has begun to go out.
    slot: Option<(T, bool)>,
}

impl<T> Sender<T> {
    /// Opens the sending end of `endpoint`; fails at once if nobody is
    /// there (see [`Sender::open_timeout`]).
    pub async fn open(endpoint: impl ToEndpoint) -> Result<Self, Error>
    where
        T: Message,
    {
        crate::Sender::open(endpoint).map(Sender::new)
    }

    /// Like [`Sender::open`], waiting up to `timeout` for a receiver to
    /// appear (on tokio's blocking pool: an open that waits is rare and
    /// short). Dropping the future ends the wait at once, unless
    /// [`OpenOptions`] bring a stop of their own: that one ends it.
    pub async fn open_timeout(endpoint: impl ToEndpoint, timeout: Duration) -> Result<Self, Error>
    where
        T: Message + Send + 'static,
    {
        Self::open_with(endpoint, OpenOptions::new().timeout(timeout)).await
    }

    /// Like [`Sender::open_timeout`], with [`OpenOptions`].
    pub async fn open_with(endpoint: impl ToEndpoint, options: &OpenOptions) -> Result<Self, Error>
    where
        T: Message + Send + 'static,
    {
        let endpoint = endpoint.to_endpoint()?;
        if options.timeout.is_none() {
            return crate::Sender::open_with(&endpoint, options).map(Sender::new);
        }
        // A stop of our own ends the blocking wait when this future is
        // dropped (unless the options bring a stop: that one ends it).
        let cancel = StopOnDrop(Stop::new()?);
        let stop = cancel.0.clone();
        let options = options.clone();
        let opened = tokio::task::spawn_blocking(move || {
            crate::Sender::open_cancellable(&endpoint, &options, &stop)
        })
        .await
        .map_err(|e| Error::new(crate::ErrorKind::Io, format!("the open task failed: {e}")))?;
        drop(cancel);
        opened.map(Sender::new)
    }

    /// The async face of a blocking sender (from [`crate::pipe`], a
    /// [`Duplex`](crate::Duplex) half, a clone shared with threads, ...).
    pub fn new(inner: crate::Sender<T>) -> Self {
        Sender {
            drive: Driver::new(&inner),
            inner,
            slot: None,
        }
    }

    /// This sender, stopped by `stop` from now on: a waiting send gives
    /// its message back with a [`Stopped`](crate::ErrorKind::Stopped) error.
    pub fn with_stop(mut self, stop: &Stop) -> Self {
        self.inner.set_stop(stop);
        self.drive.set_stop(stop);
        self
    }

    /// See [`crate::Sender::endpoint`].
    pub fn endpoint(&self) -> &Endpoint {
        self.inner.endpoint()
    }

    /// See [`crate::Sender::peer_cred`].
    pub fn peer_cred(&self) -> Option<crate::PeerCred> {
        self.inner.peer_cred()
    }

    /// See [`crate::Sender::max_message_len`].
    pub fn max_message_len(&self) -> usize {
        self.inner.max_message_len()
    }

    fn disarm(&mut self) {
        self.drive.disarm(&self.inner);
    }
}

impl<T> Sender<T> {
    /// Drives one send: `step` tries it without waiting (one
    /// `send_*_step` of the blocking sender: `begun` says whether its first
    /// bytes are out, then only the rest of its frame is left to write).
    fn poll_send_with(
        &mut self,
        cx: &mut Context<'_>,
        begun: &mut bool,
        mut step: impl FnMut(&crate::Sender<T>, &mut bool) -> Result<bool, Fail>,
    ) -> Poll<Result<(), Fail>> {
        self.drive.poll(cx, &self.inner, "waiting to send", |tx| {
            step(tx, begun).map(|done| done.then_some(()))
        })
    }

    /// Waits at most `timeout` for `poll` (a send in flight): `None` when
    /// the time ran out first.
    async fn within<R>(
        &mut self,
        timeout: Duration,
        mut poll: impl FnMut(&mut Self, &mut Context<'_>) -> Poll<R>,
    ) -> Option<R> {
        let mut deadline = std::pin::pin!(tokio::time::sleep(timeout));
        std::future::poll_fn(|cx| match poll(self, cx) {
            Poll::Ready(done) => Poll::Ready(Some(done)),
            Poll::Pending if deadline.as_mut().poll(cx).is_ready() => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await
    }

    /// After a send ran out of time: `Ok` if it had begun (the rest of
    /// its frame follows), else the message back.
    fn timed_out<M>(&mut self, begun: bool, msg: M) -> Result<(), SendTimeoutError<M>> {
        if begun {
            Ok(())
        } else {
            self.disarm();
            Err(SendTimeoutError::Timeout(msg))
        }
    }
}

impl<T: Serialize> Sender<T> {
    fn poll_send_ref(
        &mut self,
        cx: &mut Context<'_>,
        msg: &T,
        begun: &mut bool,
    ) -> Poll<Result<(), Fail>> {
        self.poll_send_with(cx, begun, |tx, begun| tx.send_value_step(msg, begun))
    }

    /// Sends `msg`, waiting while the channel is full; gives it back if
    /// the receiver is gone. See the type's docs on cancellation.
    pub async fn send(&mut self, msg: T) -> Result<(), SendError<T>> {
        let mut begun = false;
        let sent = std::future::poll_fn(|cx| self.poll_send_ref(cx, &msg, &mut begun)).await;
        sent.map_err(|f| SendError::from_fail(f, msg))
    }

    /// Sends `msg`, waiting at most `timeout` for room; gives it back on
    /// a timeout. A message whose first bytes went out before the timeout
    /// counts as sent (the rest follows; frames are never torn).
    pub async fn send_timeout(
        &mut self,
        msg: T,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<T>> {
        let mut begun = false;
        let sent = self
            .within(timeout, |this, cx| this.poll_send_ref(cx, &msg, &mut begun))
            .await;
        match sent {
            Some(Ok(())) => Ok(()),
            Some(Err(f)) => Err(SendTimeoutError::from_fail(f, msg)),
            None => self.timed_out(begun, msg),
        }
    }

    /// Sends `msg` if that can be done now; else gives it back.
    pub fn try_send(&self, msg: T) -> Result<(), TrySendError<T>> {
        self.inner.try_send(msg)
    }

    /// Drives the `Sink`'s message in flight to the end.
    fn poll_slot(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), SendError<T>>> {
        let Some((msg, mut begun)) = self.slot.take() else {
            return Poll::Ready(Ok(()));
        };
        match self.poll_send_ref(cx, &msg, &mut begun) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(f)) => Poll::Ready(Err(SendError::from_fail(f, msg))),
            Poll::Pending => {
                self.slot = Some((msg, begun));
                Poll::Pending
            }
        }
    }
}

impl Sender<Bytes> {
    /// Sends one raw message, waiting while the channel is full; gives it
    /// back if the receiver is gone. Cancellation as for [`Sender::send`].
    pub async fn send_bytes<B: AsRef<[u8]>>(&mut self, msg: B) -> Result<(), SendError<B>> {
        let mut begun = false;
        let sent = std::future::poll_fn(|cx| {
            self.poll_send_with(cx, &mut begun, |tx, begun| {
                tx.send_raw_step(msg.as_ref(), begun)
            })
        })
        .await;
        sent.map_err(|f| SendError::from_fail(f, msg))
    }

    /// Sends one raw message, waiting at most `timeout` for room.
    pub async fn send_bytes_timeout<B: AsRef<[u8]>>(
        &mut self,
        msg: B,
        timeout: Duration,
    ) -> Result<(), SendTimeoutError<B>> {
        let mut begun = false;
        let sent = self
            .within(timeout, |this, cx| {
                this.poll_send_with(cx, &mut begun, |tx, begun| {
                    tx.send_raw_step(msg.as_ref(), begun)
                })
            })
            .await;
        match sent {
            Some(Ok(())) => Ok(()),
            Some(Err(f)) => Err(SendTimeoutError::from_fail(f, msg)),
            None => self.timed_out(begun, msg),
        }
    }

    /// Sends one raw message if that can be done now; else gives it back.
    pub fn try_send_bytes<B: AsRef<[u8]>>(&self, msg: B) -> Result<(), TrySendError<B>> {
        self.inner.try_send_bytes(msg)
    }
}

/// One message in flight at a time: `poll_ready` finishes the one before;
/// an error gives the failed message back.
impl<T: Serialize> futures_sink::Sink<T> for Sender<T> {
    type Error = SendError<T>;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_slot(cx)
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Self::Error> {
        let this = self.get_mut();
        debug_assert!(this.slot.is_none(), "start_send without poll_ready");
        this.slot = Some((item, false));
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_slot(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.get_mut().poll_slot(cx)
    }
}

/// Nothing in a sender relies on staying in place (its message in
/// flight is moved in and out, never pinned).
impl<T> Unpin for Sender<T> {}

impl<T> Clone for Sender<T> {
    /// Another async handle on the same channel end (see
    /// [`crate::Sender`]'s `Clone`), with its own place to wait.
    fn clone(&self) -> Self {
        Sender::new(self.inner.clone())
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.disarm();
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("tokio::Sender")
            .field("endpoint", &self.inner.endpoint().to_string())
            .finish_non_exhaustive()
    }
}

/// Triggers the stop when dropped: ends a blocking open whose future went.
struct StopOnDrop(Stop);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}
