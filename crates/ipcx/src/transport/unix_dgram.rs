//! `unix+dgram:`: connectionless Unix datagrams. The receiver binds (file
//! mode, stale-file and symlink rules as for `unix:`); senders connect.
//! A full receiver queue blocks the sender, as on every transport.

use super::socket::{bind_unix, connect_unix};
use super::{Ctx, Opened};
use crate::endpoint::{UnixAddr, UnixKind};
use crate::error::Error;
use crate::link::carrier::Carrier;
use crate::link::packet::packet_limit;
use crate::link::{Inbound, Outbound};

pub(crate) fn sender(ctx: &Ctx<'_>, addr: &UnixAddr) -> Result<Opened<Outbound>, Error> {
    let fd = connect_unix(UnixKind::Dgram, addr)?;
    Ok(ctx.datagram_sender(Carrier::Socket(std::sync::Arc::new(fd)), packet_limit()))
}

pub(crate) fn receiver(ctx: &Ctx<'_>, addr: &UnixAddr) -> Result<Opened<Inbound>, Error> {
    let (fd, guard) = bind_unix(UnixKind::Dgram, addr, ctx.ep.options().mode)?;
    // bind_unix leaves the fd non-blocking (for listeners); a datagram
    // receiver blocks and uses MSG_DONTWAIT for deadlines.
    rustix::fs::fcntl_setfl(&fd, rustix::fs::OFlags::empty())
        .map_err(|e| Error::io("fcntl failed", e.into()))?;
    let mut opened = ctx.datagram_receiver(
        Carrier::Socket(std::sync::Arc::new(fd)),
        packet_limit(),
        ctx.ep.clone(),
    );
    opened.cleanup = guard;
    Ok(opened)
}
