//! The kernel object behind an endpoint, without ipcx's framing or hello:
//! for talking to programs that do not speak ipcx (`nc`, `socat`, a shell,
//! a plain TCP service).
//!
//! Opening keeps ipcx's rules: files it creates are `0600` unless `mode=`
//! says otherwise, a symlink planted where it creates is refused, a stale
//! Unix socket file is replaced only when nobody listens on it, and a Unix
//! listener checks `allow_uid`. What goes over the fd afterwards is the
//! caller's business: the bytes of a stream, or one datagram or packet per
//! message on `unix+seqpacket:`, `unix+dgram:` and `udp:`
//! ([`RawConn::keeps_boundaries`]).
//!
//! ```
//! use std::io::{Read, Write};
//! use ipcx::raw::{RawConn, RawListener};
//! # let dir = std::env::temp_dir().join(format!("ipcx-doc-raw-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let ep = format!("unix:{}/plain.sock", dir.display());
//! let listener = RawListener::bind(&ep)?;
//! let mut client = std::os::unix::net::UnixStream::connect(dir.join("plain.sock"))?;
//! client.write_all(b"no hello, no frames")?;
//! drop(client);
//! let conn = listener.accept()?;
//! let mut got = String::new();
//! std::fs::File::from(conn.into_fd()).read_to_string(&mut got)?;
//! assert_eq!(got, "no hello, no frames");
//! # drop(listener); std::fs::remove_dir(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::net::UdpSocket;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use rustix::fs::OFlags;

use crate::endpoint::{Address, Endpoint, ToEndpoint, UnixKind};
use crate::error::{Error, ErrorKind};
pub use crate::link::accept_pause::AcceptPause;
use crate::sys::{Deadline, PeerCred};
use crate::transport::{self, fifo, label_of, socket, tcp, udp, ListenSocket, RemoveOnDrop};

/// Which way a one-way object (`fifo:`, `pipe:N`) is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Open for reading.
    Read,
    /// Open for writing.
    Write,
}

/// An open kernel object with no ipcx protocol on it: a connected or bound
/// socket, or one end of a FIFO or pipe. The fd is blocking.
pub struct RawConn {
    fd: OwnedFd,
    packets: bool,
    max_packet: Option<usize>,
    peer_cred: Option<PeerCred>,
    local: Endpoint,
    _cleanup: Option<RemoveOnDrop>,
}

impl RawConn {
    fn new(fd: OwnedFd, local: Endpoint) -> RawConn {
        let packets = local.scheme().keeps_boundaries();
        RawConn {
            fd,
            packets,
            max_packet: None,
            peer_cred: None,
            local,
            _cleanup: None,
        }
    }

    /// Connects a socket: `unix:` (any kind), `tcp:` or `udp:` (a connected
    /// datagram socket: sends go to, and receives come from, that address).
    /// While nobody listens, retries until `timeout` (`None`: fails at once
    /// with [`ErrorKind::NoPeer`]).
    pub fn connect(endpoint: impl ToEndpoint, timeout: Option<Duration>) -> Result<RawConn, Error> {
        let ep = endpoint.to_endpoint()?;
        let label = label_of(&ep);
        let deadline = Deadline::after(timeout);
        transport::retry_while_nobody_there(deadline, &label, || connect_once(&ep, deadline))
            .map_err(|e| e.at(&label))
    }

    /// Binds a datagram socket (`unix+dgram:`, `udp:`) that receives from
    /// anyone. A socket file is created with `mode` and removed on drop.
    pub fn bind(endpoint: impl ToEndpoint) -> Result<RawConn, Error> {
        let ep = endpoint.to_endpoint()?;
        let label = label_of(&ep);
        bind_datagram(&ep).map_err(|e| e.at(&label))
    }

    /// Opens one end of `fifo:/path` (created when missing, `mode`,
    /// never through a symlink; removed on drop if this call created it)
    /// or adopts the inherited `pipe:N`. Opening a FIFO for writing waits
    /// up to `timeout` for a reader. A FIFO opened for reading is
    /// non-blocking: poll it, since `read` returns end-of-file until the
    /// first writer has come.
    pub fn open(
        endpoint: impl ToEndpoint,
        access: Access,
        timeout: Option<Duration>,
    ) -> Result<RawConn, Error> {
        let ep = endpoint.to_endpoint()?;
        let label = label_of(&ep);
        let deadline = Deadline::after(timeout);
        match ep.address() {
            Address::Pipe(fd) => Ok(RawConn::new(transport::pipe::adopt(*fd)?, ep.clone())),
            Address::Fifo(path) => transport::retry_while_nobody_there(deadline, &label, || {
                let mode = ep.options().mode;
                let created = fifo::create_if_missing(path, mode)?;
                let fd = match access {
                    Access::Read => fifo::open(path, OFlags::RDONLY)?,
                    Access::Write => fifo::open(path, OFlags::WRONLY)?,
                };
                if created.is_some() {
                    fifo::set_mode(&fd, mode)?;
                }
                if access == Access::Read {
                    rustix::fs::fcntl_setfl(&fd, OFlags::NONBLOCK)
                        .map_err(|e| Error::io("fcntl failed", e.into()))?;
                }
                let mut conn = RawConn::new(fd, ep.clone());
                conn._cleanup = created;
                Ok(conn)
            }),
            _ => Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "{}: is not a FIFO or pipe; use RawConn::connect or bind",
                    ep.scheme().name()
                ),
            )),
        }
        .map_err(|e| e.at(&label))
    }

    /// Whether each read and write is one whole message (seqpacket and
    /// datagram sockets) rather than a piece of a byte stream.
    pub fn keeps_boundaries(&self) -> bool {
        self.packets
    }

    /// The largest datagram the transport carries, where it has a fixed
    /// limit (`udp:`: 65 507 bytes over IPv4).
    pub fn max_packet(&self) -> Option<usize> {
        self.max_packet
    }

    /// Who is on the other end (connected Unix sockets).
    pub fn peer_cred(&self) -> Option<PeerCred> {
        self.peer_cred
    }

    /// The endpoint as opened (for `tcp:…:0` and `udp:…:0`, with the port).
    pub fn endpoint(&self) -> &Endpoint {
        &self.local
    }

    /// The fd, giving up the removal of what this end created.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

impl AsFd for RawConn {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl fmt::Debug for RawConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawConn")
            .field("endpoint", &self.local.to_string())
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

fn connect_once(ep: &Endpoint, deadline: Deadline<'_>) -> Result<RawConn, Error> {
    match ep.address() {
        Address::Unix(kind, addr) => {
            let fd = socket::connect_unix(*kind, addr)?;
            let mut conn = RawConn::new(fd, ep.clone());
            if *kind != UnixKind::Dgram {
                conn.peer_cred = crate::sys::peer_cred(&conn.fd).ok();
            }
            Ok(conn)
        }
        Address::Tcp(hp) => Ok(RawConn::new(tcp::connect(hp, deadline)?, ep.clone())),
        Address::Udp(hp) => {
            let addr = tcp::resolve(hp)?[0];
            let any = if addr.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let socket =
                UdpSocket::bind(any).map_err(|e| Error::io("cannot bind a UDP socket", e))?;
            socket
                .connect(addr)
                .map_err(|e| Error::io("connect failed", e))?;
            let mut conn = RawConn::new(OwnedFd::from(socket), ep.clone());
            conn.max_packet = Some(udp::transport_max(&addr));
            Ok(conn)
        }
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{}: is not a socket; raw connections need unix:, unix+seqpacket:, \
                 unix+dgram:, tcp: or udp:",
                ep.scheme().name()
            ),
        )),
    }
}

fn bind_datagram(ep: &Endpoint) -> Result<RawConn, Error> {
    match ep.address() {
        Address::Unix(UnixKind::Dgram, addr) => {
            let (fd, guard) = socket::bind_unix(UnixKind::Dgram, addr, ep.options().mode)?;
            rustix::fs::fcntl_setfl(&fd, OFlags::empty())
                .map_err(|e| Error::io("fcntl failed", e.into()))?;
            let mut conn = RawConn::new(fd, ep.clone());
            conn._cleanup = guard;
            Ok(conn)
        }
        Address::Udp(hp) => {
            let socket = UdpSocket::bind(tcp::resolve(hp)?.as_slice())
                .map_err(|e| Error::io("cannot bind", e))?;
            let local = socket
                .local_addr()
                .map_err(|e| Error::io("getsockname failed", e))?;
            let mut conn = RawConn::new(OwnedFd::from(socket), tcp::with_port(ep, local));
            conn.max_packet = Some(udp::transport_max(&local));
            Ok(conn)
        }
        _ => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{}: is not a datagram socket; binding needs unix+dgram: or udp: \
                 (stream sockets listen: RawListener)",
                ep.scheme().name()
            ),
        )),
    }
}

/// A listening `unix:`, `unix+seqpacket:` or `tcp:` socket that hands out
/// plain connections ([`RawConn`]), with no hello.
pub struct RawListener {
    socket: ListenSocket,
    local: Endpoint,
    _cleanup: Option<RemoveOnDrop>,
    stop: Option<crate::Stop>,
}

impl RawListener {
    /// Binds and listens, with the same rules as [`crate::Listener::bind`].
    pub fn bind(endpoint: impl ToEndpoint) -> Result<RawListener, Error> {
        let ep = endpoint.to_endpoint()?;
        let opened = transport::listen(&ep)?;
        Ok(RawListener {
            socket: opened.link,
            local: opened.local,
            _cleanup: opened.cleanup,
            stop: None,
        })
    }

    /// Like [`RawListener::bind`], with a [`Stop`](crate::Stop) that ends a
    /// waiting accept (with [`ErrorKind::Stopped`]).
    pub fn bind_with(
        endpoint: impl ToEndpoint,
        options: &crate::OpenOptions,
    ) -> Result<RawListener, Error> {
        let mut listener = RawListener::bind(endpoint)?;
        listener.stop = options.stop.clone();
        Ok(listener)
    }

    /// The endpoint as bound (for `tcp:…:0`, with the port chosen).
    pub fn endpoint(&self) -> &Endpoint {
        &self.local
    }

    /// Waits for the next peer. A peer refused by `allow_uid` is an
    /// error; the listener goes on.
    pub fn accept(&self) -> Result<RawConn, Error> {
        self.accept_until(Deadline::NEVER)
    }

    /// Like [`RawListener::accept`], waiting at most `timeout`
    /// ([`ErrorKind::TimedOut`] then).
    pub fn accept_timeout(&self, timeout: Duration) -> Result<RawConn, Error> {
        self.accept_until(Deadline::after(Some(timeout)))
    }

    fn accept_until(&self, deadline: Deadline<'_>) -> Result<RawConn, Error> {
        let deadline = deadline.with_stop(self.stop.as_ref().map(crate::Stop::core));
        let tcp = self.local.scheme() == crate::Scheme::Tcp;
        let (fd, peer_cred) = self.socket.accept(tcp, deadline)?;
        let mut conn = RawConn::new(fd, self.local.clone());
        conn.peer_cred = peer_cred;
        Ok(conn)
    }
}

impl AsFd for RawListener {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.fd.as_fd()
    }
}

impl fmt::Debug for RawListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawListener")
            .field("endpoint", &self.local.to_string())
            .finish_non_exhaustive()
    }
}
