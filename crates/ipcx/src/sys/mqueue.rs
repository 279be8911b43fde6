//! POSIX message queues (`mq_overview(7)`). On Linux a queue descriptor is
//! a file descriptor: it is polled like any other, so deadlines work as on
//! sockets (non-blocking call, then `poll`). Opening does not need
//! `/dev/mqueue` to be mounted.
//!
//! # References
//! - [mq_open(3)](https://man7.org/linux/man-pages/man3/mq_open.3.html)
//! - [mq_send(3)](https://man7.org/linux/man-pages/man3/mq_send.3.html)

#![allow(unsafe_code)] // libc calls with no safe wrapper in rustix; each block says why it is sound.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};

use super::Deadline;

/// Where the kernel's limits for POSIX queues are set.
pub(crate) const MSG_MAX: &str = "/proc/sys/fs/mqueue/msg_max";
pub(crate) const MSGSIZE_MAX: &str = "/proc/sys/fs/mqueue/msgsize_max";
pub(crate) const MSG_DEFAULT: &str = "/proc/sys/fs/mqueue/msg_default";
pub(crate) const MSGSIZE_DEFAULT: &str = "/proc/sys/fs/mqueue/msgsize_default";

/// Reads one of the limits above (`None` if unreadable).
pub(crate) fn limit(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// An open, non-blocking queue descriptor.
#[derive(Debug)]
pub(crate) struct PosixMq {
    fd: std::sync::Arc<OwnedFd>,
    /// The queue's largest message, as the kernel reports it.
    pub(crate) msgsize: usize,
    /// How many messages it holds at most.
    pub(crate) maxmsg: usize,
}

/// How to open: for reading or writing, and the attributes to create with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OpenMq {
    pub(crate) read: bool,
    /// `Some((mode, maxmsg, msgsize))`: create the queue if it does not exist.
    pub(crate) create: Option<(u32, i64, i64)>,
}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "queue name holds NUL"))
}

/// Opens (and maybe creates) queue `name`. Returns whether this call created it.
pub(crate) fn open(name: &str, how: OpenMq) -> io::Result<(PosixMq, bool)> {
    let cname = c_name(name)?;
    let access = if how.read {
        libc::O_RDONLY
    } else {
        libc::O_WRONLY
    };
    // Blocking: a wait is one mq_timedreceive / mq_timedsend, not a try,
    // a poll and a second try.
    let flags = access | libc::O_CLOEXEC;
    let mut created = false;
    let raw = match how.create {
        Some((mode, maxmsg, msgsize)) => {
            // SAFETY: mq_attr is a plain C struct for which all-zero is valid.
            let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
            attr.mq_maxmsg = maxmsg;
            attr.mq_msgsize = msgsize;
            // SAFETY: `cname` is a valid NUL-terminated string that outlives
            // the call; with O_CREAT, mq_open reads the two variadic arguments
            // (mode_t, *mq_attr), both passed with their C types, and `attr`
            // outlives the call.
            let fd = unsafe {
                libc::mq_open(
                    cname.as_ptr(),
                    flags | libc::O_CREAT | libc::O_EXCL,
                    mode as libc::mode_t,
                    &mut attr as *mut libc::mq_attr,
                )
            };
            if fd >= 0 {
                created = true;
                fd
            } else if io::Error::last_os_error().raw_os_error() == Some(libc::EEXIST) {
                open_existing(&cname, flags)?
            } else {
                return Err(io::Error::last_os_error());
            }
        }
        None => open_existing(&cname, flags)?,
    };
    // SAFETY: mq_open returned a new descriptor (checked ≥ 0), which on Linux
    // is a file descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    if let (true, Some((mode, _, _))) = (created, how.create) {
        // The mode given to mq_open went through the umask: set it exactly.
        rustix::fs::fchmod(&fd, rustix::fs::Mode::from_raw_mode(mode))?;
    }
    // SAFETY: as above for the zeroed struct; `fd` is an open queue
    // descriptor and `attr` a valid, writable mq_attr for the call's duration.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: see the line above.
    if unsafe { libc::mq_getattr(raw, &mut attr) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((
        PosixMq {
            fd: std::sync::Arc::new(fd),
            msgsize: attr.mq_msgsize as usize,
            maxmsg: attr.mq_maxmsg as usize,
        },
        created,
    ))
}

/// How many messages queue `name` holds now (opened and closed again).
pub(crate) fn queued_in(name: &str) -> io::Result<usize> {
    let how = OpenMq {
        read: true,
        create: None,
    };
    open(name, how)?.0.queued()
}

impl PosixMq {
    /// How many messages the queue holds now (`mq_curmsgs`).
    pub(crate) fn queued(&self) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        // SAFETY: mq_attr is plain data; all-zero is a valid value.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        // SAFETY: the descriptor is an open queue; `attr` is writable.
        if unsafe { libc::mq_getattr(self.fd.as_raw_fd(), &mut attr) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(attr.mq_curmsgs as usize)
    }
}

fn open_existing(name: &CString, flags: i32) -> io::Result<i32> {
    // SAFETY: `name` is a valid C string; without O_CREAT no variadic
    // arguments are read.
    let fd = unsafe { libc::mq_open(name.as_ptr(), flags) };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(fd)
    }
}

/// Removes queue `name` (existing descriptors keep working).
pub(crate) fn unlink(name: &str) -> io::Result<()> {
    let cname = c_name(name)?;
    // SAFETY: `cname` is a valid C string for the duration of the call.
    if unsafe { libc::mq_unlink(cname.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A deadline long past: a timed queue call with it returns at once.
const EPOCH: libc::timespec = libc::timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// `deadline` as the absolute CLOCK_REALTIME time the timed queue calls take.
fn abs_timeout(deadline: std::time::Instant) -> libc::timespec {
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let at = now + left;
    libc::timespec {
        tv_sec: at.as_secs() as libc::time_t,
        tv_nsec: at.subsec_nanos() as _,
    }
}

/// The timeout a queue call gets: a try when there is a stop to watch
/// (the caller then waits in `poll` on the queue's fd and the stop).
fn kernel_timeout(deadline: Deadline<'_>) -> Option<libc::timespec> {
    if deadline.stop().is_some() {
        Some(EPOCH)
    } else {
        deadline.instant().map(abs_timeout)
    }
}

/// Retries on EINTR; ETIMEDOUT (the deadline passed) reads as WouldBlock.
fn retry(mut call: impl FnMut() -> isize) -> io::Result<usize> {
    loop {
        let r = call();
        if r >= 0 {
            return Ok(r as usize);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::ETIMEDOUT) => return Err(io::ErrorKind::WouldBlock.into()),
            _ => return Err(e),
        }
    }
}

impl PosixMq {
    /// Sends one message, waiting for room until `deadline` (`None`: as
    /// long as it takes; `WouldBlock` once it passes).
    /// With a stop to watch it only tries (the caller polls the queue's fd).
    pub(crate) fn send(&self, msg: &[u8], priority: u32, deadline: Deadline<'_>) -> io::Result<()> {
        self.send_until(msg, priority, kernel_timeout(deadline))
    }

    /// Sends one message if there is room now (`WouldBlock` if not),
    /// without reading the clock.
    pub(crate) fn try_send(&self, msg: &[u8], priority: u32) -> io::Result<()> {
        self.send_until(msg, priority, Some(EPOCH))
    }

    fn send_until(
        &self,
        msg: &[u8],
        priority: u32,
        timeout: Option<libc::timespec>,
    ) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        let fd = self.fd.as_raw_fd();
        retry(|| {
            // SAFETY: `msg` is valid for reads of `msg.len()` bytes and the
            // timeout for one timespec during the call; the descriptor is open.
            (unsafe {
                match &timeout {
                    None => libc::mq_send(fd, msg.as_ptr().cast(), msg.len(), priority),
                    Some(t) => libc::mq_timedsend(fd, msg.as_ptr().cast(), msg.len(), priority, t),
                }
            }) as isize
        })
        .map(|_| ())
    }

    /// Receives one message into `buf` (at least `msgsize` long), waiting
    /// until `deadline` as `send` does; returns its length and priority.
    pub(crate) fn receive(
        &self,
        buf: &mut [u8],
        deadline: Deadline<'_>,
    ) -> io::Result<(usize, u32)> {
        self.receive_until(buf, kernel_timeout(deadline))
    }

    /// Takes a message if one is waiting (`WouldBlock` if not), without
    /// reading the clock: the deadline given is the epoch, long past.
    pub(crate) fn try_receive(&self, buf: &mut [u8]) -> io::Result<(usize, u32)> {
        self.receive_until(buf, Some(EPOCH))
    }

    /// `receive` with the deadline as the kernel takes it (`None`: none).
    fn receive_until(
        &self,
        buf: &mut [u8],
        timeout: Option<libc::timespec>,
    ) -> io::Result<(usize, u32)> {
        use std::os::fd::AsRawFd;
        let fd = self.fd.as_raw_fd();
        let mut priority = 0;
        let n = retry(|| {
            // SAFETY: `buf` is valid for writes of `buf.len()` bytes, and
            // `priority` and the timeout for one value each, during the
            // call; the descriptor is open.
            unsafe {
                match &timeout {
                    None => libc::mq_receive(fd, buf.as_mut_ptr().cast(), buf.len(), &mut priority),
                    Some(t) => libc::mq_timedreceive(
                        fd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        &mut priority,
                        t,
                    ),
                }
            }
        })?;
        Ok((n, priority))
    }
}

impl PosixMq {
    /// The queue's descriptor, shared (for a readiness wait).
    pub(crate) fn shared_fd(&self) -> &std::sync::Arc<OwnedFd> {
        &self.fd
    }

    /// The queue's device and inode: which queue this is (one removed and
    /// made again under the same name is another).
    pub(crate) fn identity(&self) -> io::Result<(u64, u64)> {
        let st = rustix::fs::fstat(&*self.fd)?;
        Ok((st.st_dev, st.st_ino))
    }
}

impl AsFd for PosixMq {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}
