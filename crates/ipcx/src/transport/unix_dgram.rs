//! `unix+dgram:`: connectionless Unix datagrams. The receiver binds (file
//! mode, stale-file and symlink rules as for `unix:`); senders connect.
//! A full receiver queue blocks the sender, as on every transport.

use super::socket::{bind_unix, connect_unix};
use super::{Ctx, Opened};
use crate::endpoint::{UnixAddr, UnixKind};
use crate::error::Error;
use crate::link::datagram::{DatagramReader, DatagramWriter};
use crate::link::packet::packet_limit;
use crate::link::{Inbound, Outbound};

pub(crate) fn sender(ctx: &Ctx<'_>, addr: &UnixAddr) -> Result<Opened<Outbound>, Error> {
    let fd = connect_unix(UnixKind::Dgram, addr)?;
    let sends = ctx
        .hello
        .sends
        .as_ref()
        .expect("a sender's hello names what it sends");
    let writer = DatagramWriter::new(fd, sends, ctx.max_msg(), packet_limit(), ctx.label.clone());
    Ok(Opened::new(Outbound::Datagram(writer), ctx.ep.clone()))
}

pub(crate) fn receiver(ctx: &Ctx<'_>, addr: &UnixAddr) -> Result<Opened<Inbound>, Error> {
    let (fd, guard) = bind_unix(UnixKind::Dgram, addr, ctx.ep.options().mode)?;
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::empty())
        .map_err(|e| Error::io("fcntl failed", e.into()))?;
    let receives = ctx
        .hello
        .receives
        .clone()
        .expect("a receiver's hello names what it receives");
    let reader = DatagramReader::new(
        fd,
        receives,
        ctx.max_msg(),
        packet_limit(),
        ctx.label.clone(),
    );
    let mut opened = Opened::new(Inbound::Datagram(reader), ctx.ep.clone());
    opened.cleanup = guard;
    Ok(opened)
}
