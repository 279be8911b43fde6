//! `udp:host:port`: one message per datagram. UDP has no flow control: a
//! receiver that falls behind loses datagrams in the kernel, and a sender
//! never blocks. Oversized messages are refused at send, never cut.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::OwnedFd;

use super::tcp::{resolve, with_port};
use super::{Ctx, Opened};
use crate::endpoint::HostPort;
use crate::error::Error;
use crate::link::carrier::Carrier;
use crate::link::{Inbound, Outbound};

/// Largest UDP datagram (IP header and UDP header off the 64 KiB total).
pub(crate) fn transport_max(addr: &SocketAddr) -> usize {
    if addr.is_ipv4() {
        65_507
    } else {
        65_527
    }
}

pub(crate) fn sender(ctx: &Ctx<'_>, hp: &HostPort) -> Result<Opened<Outbound>, Error> {
    let addr = resolve(hp)?[0];
    let any = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    };
    let socket = UdpSocket::bind(any).map_err(|e| Error::io("cannot bind a UDP socket", e))?;
    socket
        .connect(addr)
        .map_err(|e| Error::io("connect failed", e))?;
    if ctx.deadline.instant().is_some() {
        probe(&socket)?;
    }
    Ok(ctx.datagram_sender(
        Carrier::Socket(std::sync::Arc::new(OwnedFd::from(socket))),
        transport_max(&addr),
    ))
}

pub(crate) fn receiver(ctx: &Ctx<'_>, hp: &HostPort) -> Result<Opened<Inbound>, Error> {
    let socket =
        UdpSocket::bind(resolve(hp)?.as_slice()).map_err(|e| Error::io("cannot bind", e))?;
    let local = socket
        .local_addr()
        .map_err(|e| Error::io("getsockname failed", e))?;
    Ok(ctx.datagram_receiver(
        Carrier::Socket(std::sync::Arc::new(OwnedFd::from(socket))),
        transport_max(&local),
        with_port(ctx.ep, local),
    ))
}

/// While a sender waits for its receiver (`open_timeout`, `send --wait`):
/// whether anyone is bound there. UDP has no connection, but a datagram to
/// a port nobody binds comes back as ICMP "port unreachable", which a
/// connected socket reports as `ECONNREFUSED`. The probe is a goodbye from
/// a sender nobody knows (a receiver takes it and changes nothing); a
/// remote host may send no ICMP at all, so after 10 ms of silence the
/// receiver is taken to be there.
fn probe(socket: &UdpSocket) -> Result<(), Error> {
    use crate::wire::datagram::{Header, Kind};
    let bye = Header {
        kind: Kind::Bye,
        sender: crate::sys::random_u32(),
        fingerprint: 0,
    }
    .encode();
    let refused = |e: &std::io::Error| e.kind() == std::io::ErrorKind::ConnectionRefused;
    let nobody = || Error::new(crate::ErrorKind::NoPeer, "nobody receives on that port yet");
    match socket.send(&bye) {
        Err(e) if refused(&e) => return Err(nobody()),
        Err(e) => return Err(Error::io("send failed", e)),
        Ok(_) => {}
    }
    let fd = std::os::fd::AsFd::as_fd(socket);
    let window = crate::sys::Deadline::after(Some(std::time::Duration::from_millis(10)));
    let _ = crate::sys::wait(fd, rustix::event::PollFlags::ERR, window);
    match socket.take_error() {
        Ok(Some(e)) if refused(&e) => Err(nobody()),
        _ => Ok(()),
    }
}
