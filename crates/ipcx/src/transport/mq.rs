//! `mq:/name`: a POSIX message queue. Either side creates it when it is
//! missing (mode, `maxmsg`, `msgsize` from the endpoint), so a producer can
//! start before its workers; an existing queue whose size differs from one
//! the endpoint asks for explicitly is an error. A receiver that created
//! the queue removes it when done, unless `persist=true` — and never while
//! it holds messages: those were accepted and wait for the next receiver
//! (a queue is data, not litter). A sender never removes it. Each message is one
//! queue message with the datagram header (docs/wire.md), sent with the
//! endpoint's `priority`; the receiver takes the highest priority first.
//! Messages larger than `msgsize` are refused, not split.
//!
//! A queue has no connection: a receiver learns that senders are done from
//! their byes; a sender that waits for room learns that the receiver it
//! worked with is gone from the receiver's presence mark
//! (`link::queue_peers`): within about a second, the send fails as
//! disconnected and what the queue holds stays for the next receiver.

use super::cleanup::Leftover;
use super::{Ctx, Opened, RemoveOnDrop};
use crate::error::{Error, ErrorKind};
use crate::link::carrier::Carrier;
use crate::link::queue_peers::{QueueId, QueuePeers};
use crate::link::{Inbound, Outbound};
use crate::sys::mqueue::{
    self, OpenMq, PosixMq, MSGSIZE_DEFAULT, MSGSIZE_MAX, MSG_DEFAULT, MSG_MAX,
};

/// The queue this endpoint asks for: mode, depth and message size.
fn attributes(ctx: &Ctx<'_>) -> Result<(u32, i64, i64), Error> {
    let o = ctx.ep.options();
    let maxmsg = o
        .maxmsg
        .map(u64::from)
        .or_else(|| mqueue::limit(MSG_DEFAULT))
        .unwrap_or(10);
    let default_size = mqueue::limit(MSGSIZE_DEFAULT).unwrap_or(8192);
    let msgsize = o
        .msgsize
        .map(u64::from)
        .unwrap_or_else(|| default_size.min(u64::from(o.max_msg) + 16));
    check_limit("maxmsg", maxmsg, MSG_MAX)?;
    check_limit("msgsize", msgsize, MSGSIZE_MAX)?;
    Ok((o.mode, maxmsg as i64, msgsize as i64))
}

/// Opens (or creates) the queue; one that exists must match the sizes the
/// endpoint sets explicitly.
fn open_queue(ctx: &Ctx<'_>, name: &str, read: bool) -> Result<(PosixMq, bool), Error> {
    let how = OpenMq {
        read,
        create: Some(attributes(ctx)?),
    };
    let (mq, created) = mqueue::open(name, how).map_err(|e| open_error(e, name, ctx))?;
    let o = ctx.ep.options();
    let depth_differs = o.maxmsg.is_some_and(|m| u64::from(m) != mq.maxmsg as u64);
    let size_differs = o.msgsize.is_some_and(|m| m as usize != mq.msgsize);
    if !created && (depth_differs || size_differs) {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            format!(
                "queue {name} exists with maxmsg={} msgsize={}, not what this endpoint asks; \
                 leave maxmsg=/msgsize= out to use it as it is, or remove it (ipcx rm {name})",
                mq.maxmsg, mq.msgsize
            ),
        ));
    }
    Ok((mq, created))
}

pub(crate) fn receiver(ctx: &Ctx<'_>, name: &str) -> Result<Opened<Inbound>, Error> {
    let o = ctx.ep.options();
    let (mq, created) = open_queue(ctx, name, true)?;
    let transport_max = mq.msgsize;
    let carrier = Carrier::PosixMq {
        peers: QueuePeers::receiver(queue_id(&mq, name)?),
        mq,
        priority: 0,
        scratch: Vec::new(),
    };
    let mut opened = ctx.datagram_receiver(carrier, transport_max, ctx.ep.clone());
    if created && !o.persist {
        let left = Leftover::default();
        if let Inbound::Datagram(reader) = &mut opened.link {
            reader.report_unread_byes(left.0.clone());
        }
        opened.cleanup = Some(RemoveOnDrop::PosixMq(name.to_owned(), left));
    }
    Ok(opened)
}

pub(crate) fn sender(ctx: &Ctx<'_>, name: &str) -> Result<Opened<Outbound>, Error> {
    let (mq, _) = open_queue(ctx, name, false)?;
    let transport_max = mq.msgsize;
    let priority = ctx.ep.options().priority;
    Ok(ctx.datagram_sender(
        Carrier::PosixMq {
            peers: QueuePeers::sender(queue_id(&mq, name)?),
            mq,
            priority,
            scratch: Vec::new(),
        },
        transport_max,
    ))
}

fn queue_id(mq: &PosixMq, name: &str) -> Result<QueueId, Error> {
    let (dev, ino) = mq
        .identity()
        .map_err(|e| Error::io(format!("cannot stat queue {name}"), e))?;
    Ok(QueueId::Posix { dev, ino })
}

/// A request above the system's limit fails here, naming the limit and
/// where it is set (root without CAP_SYS_RESOURCE cannot exceed it).
fn check_limit(what: &str, asked: u64, limit_file: &str) -> Result<(), Error> {
    match mqueue::limit(limit_file) {
        Some(limit) if asked > limit => Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "POSIX queue {what} {asked} exceeds {limit_file} = {limit} \
                 (raise the sysctl, or ask for less)"
            ),
        )),
        _ => Ok(()),
    }
}

fn open_error(e: std::io::Error, name: &str, ctx: &Ctx<'_>) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT) => Error::new(
            ErrorKind::NoPeer,
            format!("no queue {name} (start the receiver first, or wait for it: Sender::open_timeout, ipcx send --wait)"),
        ),
        Some(libc::EMFILE) => {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Msgqueue).current;
            let needs = attributes(ctx).map_or(0, |(_, maxmsg, msgsize)| maxmsg * msgsize);
            Error::io(
                format!(
                    "queue {name} does not fit this user's RLIMIT_MSGQUEUE \
                     (its {needs} bytes of messages, with the user's other queues, pass {}); \
                     ask for a smaller one (maxmsg=, msgsize=), remove unused queues (ipcx rm), \
                     or raise the limit (ulimit -q)",
                    limit.map_or("no limit".to_owned(), |l| format!("{l} bytes"))
                ),
                e,
            )
        }
        _ => Error::io(format!("cannot open queue {name}"), e),
    }
}
