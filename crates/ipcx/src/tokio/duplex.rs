//! [`Listener`] and [`Duplex`] for tokio: two-way connections on `unix:`,
//! `unix+seqpacket:` and `tcp:`, the same handshake as the blocking ones.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{wait, Receiver, Sender};
use crate::channel::OpenOptions;
use crate::codec::Message;
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, ErrorKind, RecvError, SendError};
use crate::sys::PeerCred;
use crate::Stop;

/// How long an accepted peer has to send its hello. The connection is
/// waiting when the accept begins, so this is the peer's first write.
const HELLO_WITHIN: Duration = Duration::from_secs(5);

/// A listening socket for tokio: waits for peers in the reactor (no
/// thread), then takes each one and exchanges hellos on tokio's blocking
/// pool (bounded: the peer has [`HELLO_WITHIN`] for its hello).
///
/// **Cancellation**: dropping [`accept`](Listener::accept) while it waits
/// for a peer loses nothing; dropping it during a hello drops that one
/// connection (its peer sees the end, as when refused).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let ep = format!("unix:@ipcx-doc-async-listener-{}", std::process::id());
/// let mut listener = ipcx::tokio::Listener::bind(&ep)?;
/// let client = tokio::spawn(async move {
///     let mut conn = ipcx::tokio::Duplex::<u32, u32>::connect(&ep).await.unwrap();
///     conn.send(20).await.unwrap();
///     conn.recv().await.unwrap()
/// });
/// let mut conn = listener.accept::<u32, u32>().await?;
/// let n = conn.recv().await?;
/// conn.send(n + 1).await?;
/// assert_eq!(client.await?, 21);
/// # Ok(()) }
/// ```
pub struct Listener {
    inner: Arc<crate::Listener>,
    readable: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl Listener {
    /// Binds and listens on `endpoint` (see [`crate::Listener::bind`]).
    pub fn bind(endpoint: impl ToEndpoint) -> Result<Listener, Error> {
        crate::Listener::bind(endpoint).map(Listener::new)
    }

    /// Like [`Listener::bind`], with a [`Stop`] that ends a waiting accept.
    pub fn bind_with(endpoint: impl ToEndpoint, options: &OpenOptions) -> Result<Listener, Error> {
        crate::Listener::bind_with(endpoint, options).map(Listener::new)
    }

    /// The async face of a blocking listener.
    pub fn new(inner: crate::Listener) -> Listener {
        Listener {
            inner: Arc::new(inner),
            readable: None,
        }
    }

    /// The endpoint as bound (for `tcp:…:0`, with the port chosen).
    pub fn endpoint(&self) -> &Endpoint {
        self.inner.endpoint()
    }

    /// Waits for a peer, exchanges hellos, and returns the connection. A
    /// refused peer (uid, type, not ipcx) is an error; the listener goes on.
    pub async fn accept<S, R>(&mut self) -> Result<Duplex<S, R>, Error>
    where
        S: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        loop {
            self.peer_waiting().await?;
            let listener = Arc::clone(&self.inner);
            let taken =
                tokio::task::spawn_blocking(move || listener.accept_timeout::<S, R>(HELLO_WITHIN))
                    .await
                    .map_err(|e| {
                        Error::new(ErrorKind::Io, format!("the accept task failed: {e}"))
                    })?;
            match taken {
                // Another accept took the peer first: wait for the next.
                Err(e) if e.kind() == ErrorKind::TimedOut && !self.has_waiting_peer() => {}
                other => return other.map(Duplex::new),
            }
        }
    }

    /// The next connecting peer, before any hello (taken without
    /// blocking once the reactor says one waits; the async call server
    /// exchanges hellos on the blocking pool, one task per peer).
    pub(crate) async fn take_peer(&mut self) -> Result<crate::channel::Peer, Error> {
        loop {
            self.peer_waiting().await?;
            match self.inner.take_peer(crate::sys::Deadline::now()) {
                // Another accept took the peer first: wait for the next.
                Err(e) if e.kind() == ErrorKind::TimedOut => {}
                other => return other,
            }
        }
    }

    /// The blocking listener (shared with tasks on the blocking pool).
    pub(crate) fn blocking(&self) -> &Arc<crate::Listener> {
        &self.inner
    }

    /// Until a peer waits to be accepted (or the stop came).
    async fn peer_waiting(&mut self) -> Result<(), Error> {
        let stop = self.inner.stop_handle();
        if self.readable.is_none() {
            let fd = wait::watch(self.inner.listen_fd(), tokio::io::Interest::READABLE)
                .map_err(|e| Error::io("cannot watch the listening socket", e))?;
            self.readable = Some(fd);
        }
        let Some(readable) = &self.readable else {
            return Ok(());
        };
        loop {
            if self.has_waiting_peer() {
                return Ok(());
            }
            let stopped = async {
                match &stop {
                    Some(stop) => super::stopped(stop).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ready = readable.readable() => {
                    ready.map_err(|e| Error::io("waiting for a peer", e))?.clear_ready();
                }
                _ = stopped => return Err(Stop::error("accept").at(&self.endpoint().to_string().into())),
            }
        }
    }

    fn has_waiting_peer(&self) -> bool {
        crate::sys::wait::ready_now(self.inner.listen_fd(), rustix::event::PollFlags::IN)
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("tokio::Listener")
            .field("endpoint", &self.endpoint().to_string())
            .finish_non_exhaustive()
    }
}

/// A two-way connection for tokio: sends `S`, receives `R`, each half
/// with the semantics (and cancellation) of [`Sender`] and [`Receiver`].
pub struct Duplex<S, R> {
    tx: Sender<S>,
    rx: Receiver<R>,
}

impl<S, R> Duplex<S, R> {
    /// Connects to a listener at `endpoint`: fails at once if none is
    /// there, else waits (on tokio's blocking pool) until it accepts and
    /// answers the hello, as [`crate::Duplex::connect`].
    pub async fn connect(endpoint: impl ToEndpoint) -> Result<Self, Error>
    where
        S: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        let endpoint = endpoint.to_endpoint()?;
        Self::on_blocking_pool(move || crate::Duplex::<S, R>::connect(&endpoint)).await
    }

    /// Like [`Duplex::connect`], waiting up to `timeout` for a listener
    /// and its hello.
    pub async fn connect_timeout(
        endpoint: impl ToEndpoint,
        timeout: Duration,
    ) -> Result<Self, Error>
    where
        S: Message + Send + 'static,
        R: Message + Send + 'static,
    {
        let endpoint = endpoint.to_endpoint()?;
        Self::on_blocking_pool(move || crate::Duplex::<S, R>::connect_timeout(&endpoint, timeout))
            .await
    }

    async fn on_blocking_pool(
        connect: impl FnOnce() -> Result<crate::Duplex<S, R>, Error> + Send + 'static,
    ) -> Result<Self, Error>
    where
        S: Send + 'static,
        R: Send + 'static,
    {
        tokio::task::spawn_blocking(connect)
            .await
            .map_err(|e| Error::new(ErrorKind::Io, format!("the connect task failed: {e}")))?
            .map(Duplex::new)
    }

    /// The async face of a blocking connection.
    pub fn new(inner: crate::Duplex<S, R>) -> Self {
        let (tx, rx) = inner.split();
        Duplex {
            tx: Sender::new(tx),
            rx: Receiver::new(rx),
        }
    }

    /// The two halves, for different tasks.
    pub fn split(self) -> (Sender<S>, Receiver<R>) {
        (self.tx, self.rx)
    }

    /// Who is on the other end (Unix sockets).
    pub fn peer_cred(&self) -> Option<PeerCred> {
        self.tx.peer_cred()
    }
}

impl<S: Serialize, R> Duplex<S, R> {
    /// Sends a message; see [`Sender::send`].
    pub async fn send(&mut self, msg: S) -> Result<(), SendError<S>> {
        self.tx.send(msg).await
    }
}

impl<S, R: DeserializeOwned> Duplex<S, R> {
    /// Receives a message; see [`Receiver::recv`]. Cancel safe.
    pub async fn recv(&mut self) -> Result<R, RecvError> {
        self.rx.recv().await
    }
}

impl<S, R> fmt::Debug for Duplex<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("tokio::Duplex")
            .field("endpoint", &self.tx.endpoint().to_string())
            .finish_non_exhaustive()
    }
}
