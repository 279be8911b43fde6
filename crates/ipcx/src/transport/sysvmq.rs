//! `sysvmq:KEY` or `sysvmq:/path?proj=N`: a System V message queue.
//! Either side creates it when it is missing (mode from the endpoint,
//! default 0600), so a producer can start first. A receiver that created
//! it removes it when done unless `persist=true` — System V objects outlive
//! processes — and never while it holds messages (they wait for the next
//! receiver); a sender never removes it. Senders send with `type=N` (default 1); a receiver takes any
//! type, exactly one, or the lowest ≤ |N| first (`msgrcv`'s rule). Each
//! message carries the datagram header (docs/wire.md); messages larger
//! than `kernel.msgmax` are refused, not split. A sender sees the removal
//! of the queue as the receiver being gone, and, waiting for room, a dead
//! receiver too (its presence mark is gone: `link::queue_peers`).

use super::cleanup::Leftover;
use super::{Ctx, Opened, RemoveOnDrop};
use crate::endpoint::SysvKey;
use crate::error::{Error, ErrorKind};
use crate::link::carrier::Carrier;
use crate::link::queue_peers::{QueueId, QueuePeers};
use crate::link::{Inbound, Outbound};
use crate::sys::mqueue::limit;
use crate::sys::sysv::{self, MSGMAX};

fn key_of(ctx: &Ctx<'_>, key: &SysvKey) -> Result<i32, Error> {
    match key {
        SysvKey::Key(k) => Ok(*k as i32),
        SysvKey::Path(path) => {
            let proj = ctx.ep.options().proj.unwrap_or(1);
            sysv::ftok(path, proj).map_err(|e| {
                Error::io(
                    format!(
                        "ftok needs an existing path; {} cannot be used",
                        path.display()
                    ),
                    e,
                )
            })
        }
    }
}

fn msgmax() -> usize {
    limit(MSGMAX).unwrap_or(8192) as usize
}

pub(crate) fn receiver(ctx: &Ctx<'_>, key: &SysvKey) -> Result<Opened<Inbound>, Error> {
    let o = ctx.ep.options();
    let (queue, created) = sysv::get(key_of(ctx, key)?, Some(o.mode))
        .map_err(|e| Error::io("cannot create or open the queue", e))?;
    let carrier = Carrier::SysvMq {
        peers: QueuePeers::receiver(QueueId::Sysv(queue.id)),
        queue,
        mtype: o.msg_type,
        max: msgmax(),
        scratch: Vec::new(),
    };
    let mut opened = ctx.datagram_receiver(carrier, msgmax(), ctx.ep.clone());
    if created && !o.persist {
        let left = Leftover::default();
        if let Inbound::Datagram(reader) = &mut opened.link {
            reader.report_unread_byes(left.0.clone());
        }
        opened.cleanup = Some(RemoveOnDrop::SysvMq(queue, left));
    }
    Ok(opened)
}

pub(crate) fn sender(ctx: &Ctx<'_>, key: &SysvKey) -> Result<Opened<Outbound>, Error> {
    let mtype = match ctx.ep.options().msg_type {
        0 => 1,
        t if t > 0 => t,
        t => {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                format!("a sender's type must be > 0 (type={t} selects on receive only)"),
            ))
        }
    };
    let (queue, _) = sysv::get(key_of(ctx, key)?, Some(ctx.ep.options().mode))
        .map_err(|e| Error::io("cannot create or open the queue", e))?;
    let carrier = Carrier::SysvMq {
        peers: QueuePeers::sender(QueueId::Sysv(queue.id)),
        queue,
        mtype,
        max: msgmax(),
        scratch: Vec::new(),
    };
    Ok(ctx.datagram_sender(carrier, msgmax()))
}
