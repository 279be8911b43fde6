//! Holding a channel end for one thread: [`Sender::lock`] and
//! [`Receiver::lock`] take the end's lock once, and every message through
//! the guard skips it (as `std::io::Stdout::lock` does for writes). On
//! `shm:` the lock is the largest cost left per message: two atomic
//! read-modify-writes, which wait for the ring's stores to drain.

use std::marker::PhantomData;
use std::sync::MutexGuard;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::receiver::RecvState;
use super::sender::State;
use super::{Bytes, Info, Receiver, Sender};
use crate::codec;
use crate::error::{Fail, RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};
use crate::sys::Deadline;

/// A [`Sender`] held by one thread; see [`Sender::lock`].
#[derive(Debug)]
pub struct SenderGuard<'a, T> {
    state: MutexGuard<'a, State>,
    _type: PhantomData<fn(T)>,
}

/// A [`Receiver`] held by one thread; see [`Receiver::lock`].
#[derive(Debug)]
pub struct ReceiverGuard<'a, T> {
    link: MutexGuard<'a, RecvState>,
    info: &'a Info,
    _type: PhantomData<fn() -> T>,
}

impl<T> Sender<T> {
    /// Takes this sender for the calling thread until the guard is dropped:
    /// sends through the guard skip the per-message lock. Other threads'
    /// sends wait meanwhile.
    ///
    /// ```
    /// # let ep = format!("shm:/ipcx-doc-guard-{}", std::process::id());
    /// let rx = ipcx::Receiver::<ipcx::Bytes>::open(&ep)?;
    /// let tx = ipcx::Sender::<ipcx::Bytes>::open(&ep)?;
    /// let mut out = tx.lock();
    /// for i in 0..3u8 {
    ///     out.send_bytes([i; 8])?;
    /// }
    /// drop(out);
    /// assert_eq!(rx.lock().recv_bytes_with(None, |m| m[0])?, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self) -> SenderGuard<'_, T> {
        SenderGuard {
            state: self.lock_state(),
            _type: PhantomData,
        }
    }
}

impl<T> Receiver<T> {
    /// Takes this receiver for the calling thread until the guard is
    /// dropped: receives through the guard skip the per-message lock.
    pub fn lock(&self) -> ReceiverGuard<'_, T> {
        ReceiverGuard {
            link: self
                .link
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
            info: &self.info,
            _type: PhantomData,
        }
    }
}

impl<T: Serialize> SenderGuard<'_, T> {
    /// Sends `msg`, blocking while the channel is full.
    pub fn send(&mut self, msg: T) -> Result<(), SendError<T>> {
        self.state
            .send_value(&msg, Deadline::NEVER)
            .map_err(|f| SendError::from_fail(f, msg))
    }

    /// Sends `msg` if that can be done without waiting; else gives it back.
    pub fn try_send(&mut self, msg: T) -> Result<(), TrySendError<T>> {
        self.state
            .send_value(&msg, Deadline::now())
            .map_err(|f| TrySendError::from_fail(f, msg))
    }
}

impl SenderGuard<'_, Bytes> {
    /// Sends one message of raw bytes, blocking while the channel is full.
    pub fn send_bytes<B: AsRef<[u8]>>(&mut self, msg: B) -> Result<(), SendError<B>> {
        self.state
            .send_raw(msg.as_ref(), Deadline::NEVER)
            .map_err(|f| SendError::from_fail(f, msg))
    }

    /// Writes a message in place (see [`Sender::send_with`]).
    pub fn send_with(
        &mut self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, SendError<()>> {
        self.state
            .send_in_place(len, Deadline::NEVER, fill)
            .map_err(|f| SendError::from_fail(f, ()))
    }
}

impl<T> ReceiverGuard<'_, T> {
    fn with_bytes<R>(
        &mut self,
        deadline: Deadline<'_>,
        f: impl FnOnce(&[u8]) -> Result<R, crate::Error>,
    ) -> Result<R, Fail> {
        self.link.with_bytes(deadline, self.info, f)
    }
}

impl<T: DeserializeOwned> ReceiverGuard<'_, T> {
    /// Receives a message, blocking while the channel is empty.
    pub fn recv(&mut self) -> Result<T, RecvError> {
        self.with_bytes(Deadline::NEVER, codec::decode::<T>)
            .map_err(RecvError::from)
    }

    /// Receives a message if one is there now.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        self.with_bytes(Deadline::now(), codec::decode::<T>)
            .map_err(TryRecvError::from)
    }
}

impl ReceiverGuard<'_, Bytes> {
    /// Receives one raw message and lends it to `f` in place (see
    /// [`Receiver::recv_bytes_with`]).
    pub fn recv_bytes_with<R>(
        &mut self,
        timeout: Option<Duration>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RecvTimeoutError> {
        self.with_bytes(Deadline::after(timeout), |b| Ok(f(b)))
            .map_err(RecvTimeoutError::from)
    }
}
