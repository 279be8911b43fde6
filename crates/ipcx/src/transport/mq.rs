//! `mq:/name`: a POSIX message queue. The receiver creates it (mode,
//! `maxmsg`, `msgsize` from the endpoint) and removes it when done unless
//! `persist=true`; senders open an existing queue. Each message is one
//! queue message with the datagram header (docs/wire.md), sent with the
//! endpoint's `priority`; the receiver takes the highest priority first.
//! Messages larger than `msgsize` are refused, not split.
//!
//! A queue has no connection: a receiver learns that senders are done from
//! their byes, but a sender cannot tell that the receiver is gone.

use super::{Ctx, Opened, RemoveOnDrop};
use crate::error::{Error, ErrorKind};
use crate::link::carrier::Carrier;
use crate::link::{Inbound, Outbound};
use crate::sys::mqueue::{self, OpenMq, MSGSIZE_DEFAULT, MSGSIZE_MAX, MSG_DEFAULT, MSG_MAX};

pub(crate) fn receiver(ctx: &Ctx<'_>, name: &str) -> Result<Opened<Inbound>, Error> {
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
    let how = OpenMq {
        read: true,
        create: Some((o.mode, maxmsg as i64, msgsize as i64)),
    };
    let (mq, created) = mqueue::open(name, how).map_err(|e| open_error(e, name))?;
    let transport_max = mq.msgsize;
    let carrier = Carrier::PosixMq {
        mq,
        priority: 0,
        scratch: Vec::new(),
    };
    let mut opened = ctx.datagram_receiver(carrier, transport_max, ctx.ep.clone());
    if created && !o.persist {
        opened.cleanup = Some(RemoveOnDrop::PosixMq(name.to_owned()));
    }
    Ok(opened)
}

pub(crate) fn sender(ctx: &Ctx<'_>, name: &str) -> Result<Opened<Outbound>, Error> {
    let how = OpenMq {
        read: false,
        create: None,
    };
    let (mq, _) = mqueue::open(name, how).map_err(|e| open_error(e, name))?;
    let transport_max = mq.msgsize;
    let priority = ctx.ep.options().priority;
    Ok(ctx.datagram_sender(
        Carrier::PosixMq {
            mq,
            priority,
            scratch: Vec::new(),
        },
        transport_max,
    ))
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

fn open_error(e: std::io::Error, name: &str) -> Error {
    match e.raw_os_error() {
        Some(libc::ENOENT) => Error::new(
            ErrorKind::NoPeer,
            format!("no queue {name} (start the receiver first, or open with a timeout)"),
        ),
        Some(libc::EMFILE) => Error::io(
            "too many queues for this user (RLIMIT_MSGQUEUE, or /proc/sys/fs/mqueue/queues_max)",
            e,
        ),
        _ => Error::io(format!("cannot open queue {name}"), e),
    }
}
