//! `fifo:/path`: a named pipe. Either side creates it when missing (mode
//! from the endpoint, default 0600) and the creator removes it when done.
//! Opening never follows a symlink and refuses anything that is not a FIFO.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{openat, FileType, Mode, OFlags, CWD};
use rustix::io::Errno;

use super::cleanup::RemoveOnDrop;
use super::{Ctx, Opened};
use crate::error::{Error, ErrorKind};
use crate::link::{Inbound, Outbound};

/// Creates the FIFO if it does not exist. `Some(guard)` if this call made it.
pub(crate) fn create_if_missing(path: &Path, mode: u32) -> Result<Option<RemoveOnDrop>, Error> {
    match rustix::fs::mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(mode), 0) {
        Ok(()) => Ok(Some(
            RemoveOnDrop::new(path).map_err(|e| Error::io("FIFO vanished", e))?,
        )),
        Err(Errno::EXIST) => Ok(None),
        Err(e) => Err(Error::io(
            format!("cannot create FIFO {}", path.display()),
            e.into(),
        )),
    }
}

pub(crate) fn open(path: &Path, flags: OFlags) -> Result<OwnedFd, Error> {
    let fd = openat(
        CWD,
        path,
        flags | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        Errno::LOOP => Error::new(
            ErrorKind::PermissionDenied,
            format!("refusing to open {}: it is a symbolic link", path.display()),
        ),
        Errno::NXIO => Error::new(
            ErrorKind::NoPeer,
            "no process has the FIFO open for reading",
        ),
        e => Error::io(format!("cannot open {}", path.display()), e.into()),
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| Error::io("fstat failed", e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Fifo {
        return Err(Error::new(
            ErrorKind::Unsupported,
            format!(
                "{} is not a FIFO (it is a {:?})",
                path.display(),
                FileType::from_raw_mode(st.st_mode)
            ),
        ));
    }
    // From here on the fd blocks; deadlines poll first (see link::stream).
    rustix::fs::fcntl_setfl(&fd, OFlags::empty())
        .map_err(|e| Error::io("fcntl failed", e.into()))?;
    Ok(fd)
}

/// The umask narrowed the mode `mknod` used: set it exactly, through the fd.
pub(crate) fn set_mode(fd: &OwnedFd, mode: u32) -> Result<(), Error> {
    rustix::fs::fchmod(fd, Mode::from_raw_mode(mode))
        .map_err(|e| Error::io("cannot set the FIFO's mode", e.into()))
}

pub(crate) fn receiver(ctx: &Ctx<'_>, path: &Path) -> Result<Opened<Inbound>, Error> {
    let mode = ctx.ep.options().mode;
    let created = create_if_missing(path, mode)?;
    let fd = open(path, OFlags::RDONLY)?;
    if created.is_some() {
        set_mode(&fd, mode)?;
    }
    // Reopen the same inode (not the path, which could have been swapped)
    // for writing: held until the first writer's hello, it makes reads wait
    // for a writer instead of returning end-of-file.
    let keepalive = openat(
        CWD,
        format!("/proc/self/fd/{}", fd.as_raw_fd()),
        OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("cannot reopen the FIFO", e.into()))?;
    let mut reader = super::pipe::reader(ctx, fd);
    reader.keep_open_until_hello(keepalive);
    let mut opened = Opened::new(Inbound::Stream(reader), ctx.ep.clone());
    opened.cleanup = created;
    Ok(opened)
}

pub(crate) fn sender(ctx: &Ctx<'_>, path: &Path) -> Result<Opened<Outbound>, Error> {
    let mode = ctx.ep.options().mode;
    let created = create_if_missing(path, mode)?;
    let fd = open(path, OFlags::WRONLY)?;
    if created.is_some() {
        set_mode(&fd, mode)?;
    }
    let writer = super::pipe::writer_for_fifo(ctx, fd)?;
    let mut opened = Opened::new(Outbound::Stream(writer), ctx.ep.clone());
    opened.cleanup = created;
    Ok(opened)
}
