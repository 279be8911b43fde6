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
