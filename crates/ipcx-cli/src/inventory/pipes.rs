//! Anonymous pipes and FIFOs, found through the fds of every process and
//! matched by inode: the readers and writers on each, and how many bytes
//! wait in it (a copy of one end's fd through `pidfd_getfd`, then
//! `FIONREAD` and `F_GETPIPE_SZ`; that needs ptrace rights over a holder).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use rustix::process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};

use super::procs::{FdTarget, ProcessTable};
use super::{Kind, Object};

/// One pipe or FIFO found: what it is, and one (pid, fd) to measure through.
type Found = (Kind, String, FdTarget, i32, i32);

pub(crate) fn collect(procs: &ProcessTable, out: &mut Vec<Object>) {
    // (device, inode) → what was found first
    let mut seen: BTreeMap<(u64, u64), Found> = BTreeMap::new();
    for fd in &procs.fds {
        match &fd.target {
            FdTarget::Pipe(ino) => {
                seen.entry((0, *ino)).or_insert_with(|| {
                    (
                        Kind::Pipe,
                        format!("pipe:[{ino}]"),
                        fd.target.clone(),
                        fd.pid,
                        fd.fd,
                    )
                });
            }
            FdTarget::Path(path) => {
                let Ok(meta) = std::fs::metadata(format!("/proc/{}/fd/{}", fd.pid, fd.fd)) else {
                    continue;
                };
                if !std::os::unix::fs::FileTypeExt::is_fifo(&meta.file_type()) {
                    continue;
                }
                seen.entry((meta.dev(), meta.ino())).or_insert_with(|| {
                    (
                        Kind::Fifo,
                        path.display().to_string(),
                        fd.target.clone(),
                        fd.pid,
                        fd.fd,
                    )
                });
            }
            FdTarget::Socket(_) => {}
        }
    }
    for ((_, inode), (kind, name, target, pid, fd)) in seen {
        let mut object = Object::new(kind, name.clone());
        object.inode = Some(inode);
        object.processes = procs.holders(&target);
        if kind == Kind::Fifo {
            if let Ok(meta) = std::fs::symlink_metadata(&name) {
                object = object.owned_by(meta.uid(), Some(meta.mode()));
            } else {
                object.restrict("the FIFO's path is gone (removed while open)");
            }
        } else if let Some(uid) = procs.uids.get(&pid) {
            object.uid = Some(*uid);
            object.user = Some(crate::users::user_name(*uid));
        }
        match measure(pid, fd) {
            Ok((queued, capacity)) => {
                object.queued_bytes = Some(queued);
                object.capacity = Some(capacity);
            }
            Err(e) => object.restrict(format!("queue depth unknown: {e}")),
        }
        out.push(object);
    }
}

/// Bytes waiting in the pipe behind `pid`'s `fd`, and the pipe's size.
pub(crate) fn measure(pid: i32, fd: i32) -> std::io::Result<(u64, u64)> {
    let copy = copy_of(pid, fd)?;
    let queued = rustix::io::ioctl_fionread(&copy)?;
    let capacity = rustix::pipe::fcntl_getpipe_size(&copy)?;
    Ok((queued, capacity as u64))
}

/// Sets the size of the pipe behind `pid`'s `fd` (`F_SETPIPE_SZ` through a
/// copy of the fd: the same pipe); returns the size the kernel chose (a
/// power of two of pages, at least `bytes`). Above `pipe-max-size` it
/// needs CAP_SYS_RESOURCE; below what the pipe holds it is `EBUSY`.
pub(crate) fn resize(pid: i32, fd: i32, bytes: usize) -> std::io::Result<u64> {
    let copy = copy_of(pid, fd)?;
    Ok(rustix::pipe::fcntl_setpipe_size(&copy, bytes)? as u64)
}

/// A copy of `pid`'s `fd` (`pidfd_getfd`: ptrace rights over `pid`).
pub(crate) fn copy_of(pid: i32, fd: i32) -> std::io::Result<std::os::fd::OwnedFd> {
    let pid = Pid::from_raw(pid).ok_or(std::io::ErrorKind::InvalidInput)?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    Ok(pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty())?)
}
