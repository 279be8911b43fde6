//! Handing pipe ends to child processes and adopting them in the child: the
//! two places where ipcx must deal in raw fd numbers.

// The crate denies unsafe code; this module is the exception because taking
// ownership of an inherited fd number and clearing CLOEXEC between fork and
// exec cannot be done through a safe API.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::fs::FileType;
use rustix::io::FdFlags;

/// Arranges for `fd` to stay open, under the same number, in the child that
/// `command` spawns. The returned fd must outlive the spawn.
pub(crate) fn keep_across_exec(command: &mut Command, fd: RawFd) {
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed; it makes one fcntl(F_GETFD) and one
    // fcntl(F_SETFD) through rustix, which are raw syscalls with no allocation
    // and no locks. The fd number is valid in the child because fork copied
    // the parent's fd table and the parent keeps `fd` open until spawn returns.
    unsafe {
        command.pre_exec(move || {
            let fd = rustix::fd::BorrowedFd::borrow_raw(fd);
            let flags = rustix::io::fcntl_getfd(fd)?;
            rustix::io::fcntl_setfd(fd, flags - FdFlags::CLOEXEC)?;
            Ok(())
        });
    }
}

/// Takes ownership of inherited fd `fd` after checking that it is an open
/// pipe or FIFO. It is marked close-on-exec so it does not leak further.
///
/// Adopting an fd that something else in the process already owns would
/// close it twice; ipcx only does this for an fd named by the user in a
/// `pipe:N` endpoint, whose meaning is "this process inherited fd N for me".
pub(crate) fn adopt_pipe_fd(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: borrowing for the duration of the checks only; fcntl(F_GETFD)
    // fails with EBADF (and we return) if the number is not an open fd.
    let borrowed = unsafe { rustix::fd::BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(borrowed)?;
    let stat = rustix::fs::fstat(borrowed)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::Fifo {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "fd {fd} is not a pipe (it is a {:?})",
                FileType::from_raw_mode(stat.st_mode)
            ),
        ));
    }
    rustix::io::fcntl_setfd(borrowed, FdFlags::CLOEXEC)?;
    // SAFETY: the fd is open (checked above) and, per this function's
    // contract, was handed to this process for ipcx to own; from here on the
    // OwnedFd is its only owner and closes it once.
    Ok(unsafe { OwnedFd::from_raw_fd(borrowed.as_raw_fd()) })
}
