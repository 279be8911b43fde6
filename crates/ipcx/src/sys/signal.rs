//! Queued signals with a payload: `sigqueue` to send, a `signalfd` to
//! receive synchronously.
//!
//! # References
//! - [sigqueue(3)](https://man7.org/linux/man-pages/man3/sigqueue.3.html)
//! - [signalfd(2)](https://man7.org/linux/man-pages/man2/signalfd.2.html)

#![allow(unsafe_code)] // libc calls with no safe wrapper in rustix; each block says why it is sound.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Sends `signal` to `pid` carrying `value` (the `sival_int` of a sigval).
pub(crate) fn queue(pid: i32, signal: i32, value: i32) -> io::Result<()> {
    // libc declares sigval by its pointer member only; the int member of the
    // C union overlaps the pointer's low bytes on little-endian targets. A
    // big-endian build fails here on purpose instead of sending garbage.
    #[cfg(target_endian = "little")]
    let sv = libc::sigval {
        sival_ptr: value as isize as *mut libc::c_void,
    };
    // SAFETY: sigqueue takes plain values; `sv` is passed by value.
    if unsafe { libc::sigqueue(pid, signal, sv) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Blocks `signals` in the calling thread and opens a signalfd for them.
pub(crate) fn signalfd(signals: &[i32]) -> io::Result<OwnedFd> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t for both calls.
    unsafe { libc::sigemptyset(&mut set) };
    for &s in signals {
        // SAFETY: as above; an invalid signal number makes sigaddset fail.
        if unsafe { libc::sigaddset(&mut set, s) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: `set` is initialised; a null old-set pointer is allowed.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 {
        return Err(io::Error::from_raw_os_error(r));
    }
    // SAFETY: -1 asks for a new fd; `set` is initialised and read during the call.
    let fd = unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: signalfd returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// One signal read from a signalfd.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawSignal {
    pub(crate) signo: u32,
    pub(crate) code: i32,
    pub(crate) pid: u32,
    pub(crate) uid: u32,
    pub(crate) value: i32,
}

/// Reads one pending signal without blocking (`WouldBlock` if none).
pub(crate) fn read(fd: BorrowedFd<'_>) -> io::Result<RawSignal> {
    // SAFETY: signalfd_siginfo is plain data; all-zero is valid.
    let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::signalfd_siginfo>();
    // SAFETY: `info` is valid for writes of `size` bytes during the call.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&mut info as *mut libc::signalfd_siginfo).cast(),
            size,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    if n as usize != size {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "short read from signalfd",
        ));
    }
    Ok(RawSignal {
        signo: info.ssi_signo,
        code: info.ssi_code,
        pid: info.ssi_pid,
        uid: info.ssi_uid,
        value: info.ssi_int,
    })
}

/// The first real-time signal number (glibc reserves a few below it).
pub(crate) fn rtmin() -> i32 {
    libc::SIGRTMIN()
}

/// The last real-time signal number.
pub(crate) fn rtmax() -> i32 {
    libc::SIGRTMAX()
}
