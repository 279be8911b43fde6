//! `tcp:host:port`: framed messages over TCP with `TCP_NODELAY`.

use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::fd::OwnedFd;
use std::time::Instant;

use crate::endpoint::{Address, Endpoint, Host, HostPort};
use crate::error::{Error, ErrorKind};
use crate::sys::Deadline;

/// Resolves a host and port (names through the system resolver).
pub(crate) fn resolve(hp: &HostPort) -> Result<Vec<SocketAddr>, Error> {
    let addrs: Vec<SocketAddr> = match &hp.host {
        Host::Ip(ip) => vec![SocketAddr::new(*ip, hp.port)],
        Host::Name(name) => (name.as_str(), hp.port)
            .to_socket_addrs()
            .map_err(|e| Error::io(format!("cannot resolve `{name}`"), e))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(Error::new(
            ErrorKind::NoPeer,
            format!("`{hp}` resolves to no address"),
        ));
    }
    Ok(addrs)
}

/// The endpoint with the port the kernel actually bound.
pub(crate) fn with_port(ep: &Endpoint, local: SocketAddr) -> Endpoint {
    let hp = |old: &HostPort| HostPort {
        host: old.host.clone(),
        port: local.port(),
    };
    let address = match ep.address() {
        Address::Tcp(old) => Address::Tcp(hp(old)),
        Address::Udp(old) => Address::Udp(hp(old)),
        Address::WebSocket(old) => Address::WebSocket(crate::endpoint::WsAddr {
            at: hp(&old.at),
            ..old.clone()
        }),
        other => other.clone(),
    };
    Endpoint::new(address, ep.options().clone())
}

/// Binds and listens (non-blocking); returns the endpoint actually bound.
pub(crate) fn bind(ep: &Endpoint, hp: &HostPort) -> Result<(OwnedFd, Endpoint), Error> {
    let listener =
        TcpListener::bind(resolve(hp)?.as_slice()).map_err(|e| Error::io("cannot listen", e))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::io("fcntl failed", e))?;
    let local = listener
        .local_addr()
        .map_err(|e| Error::io("getsockname failed", e))?;
    let fd = OwnedFd::from(listener);
    let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
    Ok((fd, with_port(ep, local)))
}

/// Connects (blocking fd, `TCP_NODELAY`), bounded by the deadline.
pub(crate) fn connect(hp: &HostPort, deadline: Deadline<'_>) -> Result<OwnedFd, Error> {
    let mut last = None;
    for addr in resolve(hp)? {
        let result = match deadline.instant() {
            None => TcpStream::connect(addr),
            Some(d) => match d
                .checked_duration_since(Instant::now())
                .filter(|t| !t.is_zero())
            {
                Some(left) => TcpStream::connect_timeout(&addr, left),
                None => return Err(Error::new(ErrorKind::TimedOut, "timed out connecting")),
            },
        };
        match result {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(OwnedFd::from(stream));
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound));
    Err(Error::io("connect failed", e))
}
