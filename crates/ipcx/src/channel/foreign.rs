//! For bindings to other languages and for event loops that are not
//! ipcx's own (Python's asyncio, libuv, a C `poll` loop): what a receive
//! would wait on ([`Receiver::wait_on`]), and a message held where it
//! lies past the call that received it ([`Receiver::recv_in_place`]).

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::PollFlags;

use super::{Bytes, Receiver};
use crate::error::RecvTimeoutError;
use crate::link::ready::Armed;
use crate::sys::Deadline;

/// What a receive would wait on now, for an event loop of the program's
/// own; see [`Receiver::wait_on`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WaitOn {
    /// A receive answers at once (a message, the end, or an error).
    Now,
    /// Wait until `fd` is readable (`writable`: writable), or `recheck`
    /// has passed, then try again. The fd stays the end's: do not close it.
    Fd {
        /// The fd to watch (a socket, pipe, queue, epoll set, or a ring's
        /// doorbell).
        fd: Arc<OwnedFd>,
        /// Watch for writability instead of readability.
        writable: bool,
        /// Look again after this long even if the fd stays quiet (a ring
        /// checks that its producer is still alive).
        recheck: Option<Duration>,
    },
    /// Nothing to watch (System V queues have no fd): try again after a
    /// short pause (ipcx's own waits start at 50 µs and double to 5 ms).
    Pause,
}

impl From<Armed> for WaitOn {
    fn from(armed: Armed) -> WaitOn {
        match armed {
            Armed::Now => WaitOn::Now,
            Armed::Fd {
                fd,
                events,
                recheck,
            } => WaitOn::Fd {
                fd,
                writable: events.contains(PollFlags::OUT),
                recheck,
            },
            Armed::NoFd => WaitOn::Pause,
        }
    }
}

impl<T> Receiver<T> {
    /// What a receive would wait on now, for a program's own event loop:
    /// try a receive (`try_recv`) first, and when it finds the channel
    /// empty, `wait_on` says what to sleep on; after the sleep (or a
    /// decision not to sleep) call [`Receiver::stop_waiting`], then try
    /// again. Readiness is a hint: the next try decides.
    ///
    /// Works on every transport, rings included: a ring's reader announces
    /// itself as a sleeper and gets a *doorbell*, a socket its producer
    /// rings. Every `wait_on` must be followed by `stop_waiting`.
    ///
    /// ```
    /// # let ep = format!("shm:/ipcx-doc-wait-on-{}", std::process::id());
    /// use ipcx::WaitOn;
    /// let rx = ipcx::ByteReceiver::open(&ep)?;
    /// let tx = ipcx::ByteSender::open(&ep)?;
    /// let fd = match rx.wait_on() {
    ///     WaitOn::Fd { fd, .. } => fd, // a ring's doorbell, here
    ///     other => panic!("{other:?}"),
    /// };
    /// tx.send_bytes(b"hi")?; // rings the doorbell: the reader announced it sleeps
    /// let mut pfd = [rustix::event::PollFd::new(&*fd, rustix::event::PollFlags::IN)];
    /// rustix::event::poll(&mut pfd, None)?;
    /// rx.stop_waiting();
    /// assert_eq!(rx.try_recv_bytes()?, b"hi");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn wait_on(&self) -> WaitOn {
        self.arm().into()
    }

    /// Ends the wait [`Receiver::wait_on`] began: withdraws a ring's
    /// announcement and empties its doorbell.
    pub fn stop_waiting(&self) {
        self.disarm();
    }
}

/// A message received in place and held there past the call: in the
/// ring's shared memory on `shm:` (no copy), in a buffer of its own
/// elsewhere. For bindings that lend the bytes to another language (a
/// Python `memoryview`); Rust programs use [`Receiver::recv_bytes_with`].
///
/// The bytes at [`InPlace::as_ptr`] stay mapped for as long as the
/// `InPlace` lives. When [`InPlace::is_in_place`], they are the ring's
/// and stay unchanged only until the receiver's next receive (or
/// [`Receiver::release_in_place`]): after that the producer may write new
/// messages there.
#[derive(Debug)]
pub struct InPlace {
    /// Keeps the ring mapped while the bytes are lent out.
    segment: Option<Arc<crate::link::shm::segment::Segment>>,
    /// The bytes when they are not in a ring (or from a ring that copies).
    copy: Vec<u8>,
    /// Where the bytes are (an address, so the type stays `Send`).
    addr: usize,
    len: usize,
}

impl InPlace {
    /// Where the message's bytes start.
    pub fn as_ptr(&self) -> *const u8 {
        if self.segment.is_some() {
            self.addr as *const u8
        } else {
            self.copy.as_ptr()
        }
    }

    /// How many bytes the message has.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the bytes are the ring's own (no copy was made).
    pub fn is_in_place(&self) -> bool {
        self.segment.is_some()
    }

    /// The bytes, when they were copied (not [`InPlace::is_in_place`]).
    pub fn copied(&self) -> Option<&[u8]> {
        (!self.is_in_place()).then_some(&self.copy[..])
    }
}

impl Receiver<Bytes> {
    /// Receives one raw message and holds it where it lies: on a ring
    /// (`shm:`, except `overflow=drop-oldest`) the bytes stay in the shared
    /// memory, untouched by the producer, until this receiver's next
    /// receive or [`Receiver::release_in_place`]; elsewhere they are copied
    /// once into the `InPlace`. `timeout: None` waits as long as it takes.
    ///
    /// ```
    /// # let ep = format!("shm:/ipcx-doc-in-place-{}", std::process::id());
    /// let rx = ipcx::ByteReceiver::open(&ep)?;
    /// let tx = ipcx::ByteSender::open(&ep)?;
    /// tx.send_bytes([7u8; 64])?;
    /// let frame = rx.recv_in_place(None)?;
    /// assert!(frame.is_in_place());
    /// assert_eq!(frame.len(), 64);
    /// rx.release_in_place(); // the producer may reuse the room now
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_in_place(&self, timeout: Option<Duration>) -> Result<InPlace, RecvTimeoutError> {
        // One lock for both: the segment and the message under it.
        let mut state = self.lock_link();
        let segment = state.link.pinned_segment();
        state
            .with_bytes(Deadline::after(timeout), &self.info, |bytes| {
                Ok(match &segment {
                    Some(_) => InPlace {
                        segment: segment.clone(),
                        copy: Vec::new(),
                        addr: bytes.as_ptr() as usize,
                        len: bytes.len(),
                    },
                    None => InPlace {
                        segment: None,
                        copy: bytes.to_vec(),
                        addr: 0,
                        len: bytes.len(),
                    },
                })
            })
            .map_err(RecvTimeoutError::from)
    }

    /// Gives the last message's room back to a ring's producer now, rather
    /// than at the next receive: the bytes an [`InPlace`] lent may change
    /// from here on. Nothing happens on other transports.
    pub fn release_in_place(&self) {
        self.lock_link().link.release_held();
    }
}
