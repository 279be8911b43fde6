//! [`Listener`] and [`Duplex`]: two-way connections on stream and
//! seqpacket sockets (`unix:`, `unix+seqpacket:`, `tcp:`).

use std::fmt;
use std::time::Duration;

use super::{Info, OpenOptions, Receiver, Sender};
use crate::codec::{Identity, Message};
use crate::endpoint::{Endpoint, ToEndpoint};
use crate::error::{Error, ErrorKind};
use crate::sys::{Deadline, PeerCred};
use crate::transport::{self, ListenSocket, Opened};
use crate::wire::hello::Hello;
use crate::Stop;

/// A listening socket that hands out one [`Duplex`] per connecting peer.
///
/// ```
/// use ipcx::{Duplex, Listener};
/// # let dir = std::env::temp_dir().join(format!("ipcx-doc-l-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let ep = format!("unix:{}/echo.sock", dir.display());
/// let listener = Listener::bind(&ep)?;
/// let client = std::thread::spawn({
///     let ep = ep.clone();
///     move || -> Result<u32, Box<dyn std::error::Error + Send + Sync>> {
///         let conn = Duplex::<u32, u32>::connect(&ep)?;
///         conn.send(20)?;
///         Ok(conn.recv()?)
///     }
/// });
/// let conn: Duplex<u32, u32> = listener.accept()?;
/// let n = conn.recv()?;
/// conn.send(n + 1)?;
/// assert_eq!(client.join().unwrap().unwrap(), 21);
/// # drop(listener); std::fs::remove_dir(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Listener {
    socket: ListenSocket,
    info: Info,
    stop: Option<Stop>,
}

impl Listener {
    /// Binds and listens on `endpoint`. A Unix socket file is created with
    /// the endpoint's `mode` (default 0600); a stale file nobody listens on
    /// is replaced, a live listener is [`ErrorKind::AddrInUse`].
    pub fn bind(endpoint: impl ToEndpoint) -> Result<Listener, Error> {
        let ep = endpoint.to_endpoint()?;
        let (socket, info) = Info::split(transport::listen(&ep)?);
        Ok(Listener {
            socket,
            info,
            stop: None,
        })
    }

    /// Like [`Listener::bind`], with a [`Stop`] that ends a waiting
    /// [`accept`](Listener::accept) (with [`ErrorKind::Stopped`]).
    pub fn bind_with(endpoint: impl ToEndpoint, options: &OpenOptions) -> Result<Listener, Error> {
        let mut listener = Listener::bind(endpoint)?;
        listener.stop = options.stop.clone();
        Ok(listener)
    }

    /// The endpoint as bound (for `tcp:…:0`, with the port chosen).
    pub fn endpoint(&self) -> &Endpoint {
        &self.info.local
    }

    /// The listening socket, readable when a peer waits to be accepted
    /// (for the async listener, `crate::tokio`).
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn listen_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.socket.fd.as_fd()
    }

    #[cfg_attr(not(feature = "tokio"), allow(dead_code))]
    pub(crate) fn stop_handle(&self) -> Option<Stop> {
        self.stop.clone()
    }

    /// Waits for a peer, exchanges hellos, and returns the connection.
    /// A peer that is refused (uid, type) is an error; the listener goes on.
    pub fn accept<S: Message, R: Message>(&self) -> Result<Duplex<S, R>, Error> {
        self.accept_until(Deadline::NEVER)
    }

    /// Like [`Listener::accept`], waiting at most `timeout` (for the peer
    /// and for its hello).
    pub fn accept_timeout<S: Message, R: Message>(
        &self,
        timeout: Duration,
    ) -> Result<Duplex<S, R>, Error> {
        self.accept_until(Deadline::after(Some(timeout)))
    }

    fn accept_until<S: Message, R: Message>(
        &self,
        deadline: Deadline<'_>,
    ) -> Result<Duplex<S, R>, Error> {
        let peer = self.take_peer(deadline)?;
        self.shake_hands(peer, S::identity(), R::identity(), deadline)
    }

    /// The next connecting peer, before any hello (a server that must not
    /// wait on one peer's hello before taking the next exchanges hellos
    /// elsewhere, with [`Listener::shake_hands`]).
    pub(crate) fn take_peer(&self, deadline: Deadline<'_>) -> Result<Peer, Error> {
        let deadline = deadline.with_stop(self.stop.as_ref().map(Stop::core));
        let tcp = self.info.local.scheme() == crate::Scheme::Tcp;
        let (fd, cred) = self.socket.accept(tcp, deadline)?;
        Ok(Peer { fd, cred })
    }

    /// Exchanges hellos with a taken peer (waiting until `deadline` for
    /// its hello) and returns the connection.
    pub(crate) fn shake_hands<S, R>(
        &self,
        peer: Peer,
        sends: Identity,
        receives: Identity,
        deadline: Deadline<'_>,
    ) -> Result<Duplex<S, R>, Error> {
        let deadline = deadline.with_stop(self.stop.as_ref().map(Stop::core));
        let max_msg = self.info.local.options().max_msg;
        let hello = Hello {
            sends: Some(sends),
            receives: Some(receives),
            max_msg,
        };
        let mut conn = transport::handshake(
            peer.fd,
            self.socket.packets,
            &hello,
            transport::Side::Accepting,
            max_msg,
            &self.socket.label,
            deadline,
        )?;
        let spin = crate::sys::Spin::of_endpoint(&self.info.local);
        if let Some(link) = &mut conn.outbound {
            link.set_spin(spin);
        }
        if let Some(link) = &mut conn.inbound {
            link.set_spin(spin);
        }
        let mut opened = Opened::new(conn, self.info.local.clone());
        opened.peer_cred = peer.cred;
        Duplex::from_opened(opened)
    }
}

/// A peer taken from the listening socket, hellos not yet exchanged.
#[derive(Debug)]
pub(crate) struct Peer {
    fd: std::os::fd::OwnedFd,
    cred: Option<PeerCred>,
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("endpoint", &self.info.local.to_string())
            .finish_non_exhaustive()
    }
}

/// A two-way connection: sends `S`, receives `R`.
///
/// Both directions keep the channel semantics of [`Sender`] and
/// [`Receiver`]; [`Duplex::split`] gives them to different threads.
/// Dropping the sending half shuts the write side down, so the peer's
/// receiver sees the end while this end can still receive.
pub struct Duplex<S, R> {
    tx: Sender<S>,
    rx: Receiver<R>,
}

impl<S, R> Duplex<S, R> {
    /// Connects to a [`Listener`] at `endpoint`.
    pub fn connect(endpoint: impl ToEndpoint) -> Result<Self, Error>
    where
        S: Message,
        R: Message,
    {
        Self::connect_until(endpoint, Deadline::NEVER)
    }

    /// Like [`Duplex::connect`], waiting up to `timeout` for a listener.
    pub fn connect_timeout(endpoint: impl ToEndpoint, timeout: Duration) -> Result<Self, Error>
    where
        S: Message,
        R: Message,
    {
        Self::connect_until(endpoint, Deadline::after(Some(timeout)))
    }

    fn connect_until(endpoint: impl ToEndpoint, deadline: Deadline<'_>) -> Result<Self, Error>
    where
        S: Message,
        R: Message,
    {
        Self::connect_as(endpoint, S::identity(), R::identity(), deadline)
    }

    /// Connects, declaring `sends` and `receives` in the hello (see
    /// [`Listener::shake_hands`]).
    pub(crate) fn connect_as(
        endpoint: impl ToEndpoint,
        sends: Identity,
        receives: Identity,
        deadline: Deadline<'_>,
    ) -> Result<Self, Error> {
        let ep = endpoint.to_endpoint()?;
        let max_msg = ep.options().max_msg;
        let hello = Hello {
            sends: Some(sends),
            receives: Some(receives),
            max_msg,
        };
        Self::from_opened(transport::connect(&ep, hello, deadline)?)
    }

    pub(crate) fn from_opened(opened: Opened<transport::Connection>) -> Result<Self, Error> {
        let local = opened.local.clone();
        let peer_cred = opened.peer_cred;
        let (conn, info) = Info::split(opened);
        let missing = || {
            Error::new(
                ErrorKind::Protocol,
                "connection lost a half during the hello",
            )
        };
        let tx = Sender::from_parts(conn.outbound.ok_or_else(missing)?, info);
        let rx_info = Info {
            local,
            peer_cred,
            _cleanup: None,
        };
        let rx = Receiver::from_parts(conn.inbound.ok_or_else(missing)?, rx_info);
        Ok(Duplex { tx, rx })
    }

    /// The two halves, to use from different threads.
    pub fn split(self) -> (Sender<S>, Receiver<R>) {
        (self.tx, self.rx)
    }

    /// The sending half.
    pub fn sender(&self) -> &Sender<S> {
        &self.tx
    }

    /// The receiving half.
    pub fn receiver(&self) -> &Receiver<R> {
        &self.rx
    }

    /// Who is on the other end (Unix sockets).
    pub fn peer_cred(&self) -> Option<PeerCred> {
        self.tx.peer_cred()
    }
}

impl<S: serde::Serialize, R> Duplex<S, R> {
    /// Sends a message; see [`Sender::send`].
    pub fn send(&self, msg: S) -> Result<(), crate::SendError<S>> {
        self.tx.send(msg)
    }
}

impl<S, R: serde::de::DeserializeOwned> Duplex<S, R> {
    /// Receives a message; see [`Receiver::recv`].
    pub fn recv(&self) -> Result<R, crate::RecvError> {
        self.rx.recv()
    }

    /// Receives a message, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<R, crate::RecvTimeoutError> {
        self.rx.recv_timeout(timeout)
    }
}

impl<S, R> fmt::Debug for Duplex<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Duplex")
            .field("endpoint", &self.tx.endpoint().to_string())
            .finish_non_exhaustive()
    }
}
