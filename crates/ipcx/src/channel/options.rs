//! [`OpenOptions`]: how an end is opened, beyond its endpoint string.

use std::time::Duration;

use crate::codec::Identity;
use crate::endpoint::Endpoint;
use crate::Stop;

/// Options for [`Sender::open_with`](crate::Sender::open_with),
/// [`Receiver::open_with`](crate::Receiver::open_with) and
/// [`Listener::bind_with`](crate::Listener::bind_with), built like
/// `std::fs::OpenOptions`.
///
/// ```
/// # let dir = std::env::temp_dir().join(format!("ipcx-doc-oo-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let stop = ipcx::Stop::new()?;
/// let ep = format!("unix:{}/jobs.sock", dir.display());
/// let rx = ipcx::ByteReceiver::open_with(&ep, ipcx::OpenOptions::new().stop(&stop).serve(true))?;
/// let tx = ipcx::ByteSender::open_with(
///     &ep,
///     ipcx::OpenOptions::new().timeout(std::time::Duration::from_secs(1)).stop(&stop),
/// )?;
/// tx.send_bytes(b"one")?;
/// drop(tx); // a serving receiver does not end with its last sender
/// assert_eq!(rx.recv_bytes()?, b"one");
/// stop.stop(); // ...but with the stop
/// assert!(rx.recv_bytes().is_err());
/// # drop(rx); std::fs::remove_dir(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) stop: Option<Stop>,
    pub(crate) serve: Option<bool>,
    pub(crate) identity: Option<Identity>,
}

impl OpenOptions {
    /// No timeout, no stop, the endpoint's own `serve=`.
    pub fn new() -> OpenOptions {
        OpenOptions::default()
    }

    /// How long a sender (or a connecting listener peer) waits for the
    /// other side to appear; without it, opening fails at once with
    /// [`ErrorKind::NoPeer`](crate::ErrorKind::NoPeer).
    pub fn timeout(&mut self, timeout: Duration) -> &mut OpenOptions {
        self.timeout = Some(timeout);
        self
    }

    /// The [`Stop`] that wakes this end's blocked operations.
    pub fn stop(&mut self, stop: &Stop) -> &mut OpenOptions {
        self.stop = Some(stop.clone());
        self
    }

    /// A receiver that keeps serving: a listening one (`unix:`,
    /// `unix+seqpacket:`, `tcp:`) takes new senders after the last one is
    /// gone, a FIFO waits for the next writer, a queue or datagram socket
    /// ignores its senders' goodbyes. It ends only with a stop (or
    /// [`Receiver::shutdown`](crate::Receiver::shutdown)). The same as the
    /// endpoint option `?serve=true`.
    pub fn serve(&mut self, serve: bool) -> &mut OpenOptions {
        self.serve = Some(serve);
        self
    }

    /// The identity a [`Sender`](crate::Sender) or [`Receiver`](crate::Receiver)
    /// declares in place of its type's: for a peer in another language
    /// that declares a name alone, or a type renamed on one side only.
    /// Both ends must declare the same one.
    ///
    /// ```
    /// # let ep = format!("shm:/ipcx-doc-identity-{}", std::process::id());
    /// let named = ipcx::OpenOptions::new().identity(ipcx::Identity::named("jobs.v1")).clone();
    /// let rx = ipcx::Receiver::<u64>::open_with(&ep, &named)?;
    /// // A sender that declares `u64`'s own identity is refused (at open
    /// // on `shm:`; at its first sends on connections).
    /// let err = ipcx::Sender::<u64>::open(&ep).unwrap_err();
    /// assert_eq!(err.kind(), ipcx::ErrorKind::TypeMismatch);
    /// let tx = ipcx::Sender::<u64>::open_with(&ep, &named)?;
    /// tx.send(7)?;
    /// assert_eq!(rx.recv()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn identity(&mut self, identity: Identity) -> &mut OpenOptions {
        self.identity = Some(identity);
        self
    }

    /// The endpoint with these options' overrides in it.
    pub(crate) fn apply(&self, mut ep: Endpoint) -> Endpoint {
        if let Some(serve) = self.serve {
            ep.options_mut().serve = serve;
        }
        ep
    }
}
