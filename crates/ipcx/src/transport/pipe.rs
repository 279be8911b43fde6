//! `pipe:N`: an anonymous pipe end inherited from the parent process.
//! Creating a pipe and handing an end to a child is in [`crate::pipe`].

use std::os::fd::OwnedFd;
use std::sync::Arc;

use super::{Ctx, Opened};
use crate::endpoint::Key;
use crate::error::{Error, ErrorKind, Fail};
use crate::link::stream::{StreamReader, StreamWriter, FIFO_ATOMIC_MAX};
use crate::link::{Inbound, Outbound};
use crate::sys::{inherit, FdKind};

pub(crate) fn adopt(fd: Option<i32>) -> Result<OwnedFd, Error> {
    let Some(fd) = fd else {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "`pipe:` alone makes a new pipe, which only a parent process can hand to a child \
             (ipcx::pipe::to_child / from_child); a child opens the end it inherited as `pipe:N`",
        ));
    };
    inherit::adopt_pipe_fd(fd).map_err(|e| Error::io(format!("cannot use inherited fd {fd}"), e))
}

pub(crate) fn sender(ctx: &Ctx<'_>, fd: Option<i32>) -> Result<Opened<Outbound>, Error> {
    let fd = adopt(fd)?;
    Ok(Opened::new(
        Outbound::Stream(writer(ctx, fd)?),
        ctx.ep.clone(),
    ))
}

pub(crate) fn receiver(ctx: &Ctx<'_>, fd: Option<i32>) -> Result<Opened<Inbound>, Error> {
    let fd = adopt(fd)?;
    Ok(Opened::new(
        Inbound::Stream(reader(ctx, fd)),
        ctx.ep.clone(),
    ))
}

/// The writing end of a pipe, after sending this end's hello.
pub(crate) fn writer(ctx: &Ctx<'_>, fd: OwnedFd) -> Result<StreamWriter, Error> {
    hello_then(
        ctx,
        StreamWriter::new(Arc::new(fd), FdKind::Pipe, ctx.max_msg(), ctx.label.clone()),
    )
}

/// The writing end of a FIFO, which other processes may write too.
///
/// Unless the endpoint sets `max_msg` (to a size other than the default),
/// a message is at most
/// [`FIFO_ATOMIC_MAX`] bytes, so each frame is one atomic write and no lock
/// is taken. With a larger `max_msg` every frame is written under `flock`
/// (two more syscalls per message: 0.74 × a raw FIFO's rate at 64 B).
pub(crate) fn writer_for_fifo(ctx: &Ctx<'_>, fd: OwnedFd) -> Result<StreamWriter, Error> {
    let chosen = ctx.ep.options().is_set(Key::MaxMsg);
    let max_msg = if chosen {
        ctx.max_msg()
    } else {
        FIFO_ATOMIC_MAX
    };
    let w = StreamWriter::new(Arc::new(fd), FdKind::Pipe, max_msg, ctx.label.clone());
    let w = if chosen {
        w
    } else {
        w.with_limit_note(
            "a FIFO writer sends at most 4092 bytes unless the endpoint sets max_msg, so that \
             each message is one atomic write (PIPE_BUF) among many writers; give max_msg= a \
             size other than the 16 MiB default to send larger ones (each is then written \
             under a lock)",
        )
    };
    hello_then(ctx, w.lock_frames_if_large())
}

fn hello_then(ctx: &Ctx<'_>, mut w: StreamWriter) -> Result<StreamWriter, Error> {
    w.send_hello(&ctx.hello, ctx.deadline)
        .map_err(|f| match f {
            Fail::Error(e) => e,
            _ => Error::new(ErrorKind::NoPeer, "the reading end of the pipe is closed")
                .at(&ctx.label),
        })?;
    Ok(w)
}

pub(crate) fn reader(ctx: &Ctx<'_>, fd: OwnedFd) -> StreamReader {
    StreamReader::new(
        Arc::new(fd),
        FdKind::Pipe,
        ctx.hello.clone(),
        ctx.label.clone(),
    )
}
