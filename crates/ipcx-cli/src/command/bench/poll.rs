//! `raw+poll`: a raw link that polls before it sleeps, as ipcx's default
//! `wait=adaptive` does (for 20 µs, never sleeping), so that ipcx's code
//! is compared with raw syscalls at the same waiting policy.

use std::io;
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};

use super::link::Link;

/// How long `wait=adaptive` polls before it sleeps (ipcx's default).
pub(crate) const ADAPTIVE_SPIN: Duration = Duration::from_micros(20);

/// Polls `fd` without sleeping (a `poll` with a zero timeout, again and
/// again) until it is readable or `spin` has passed.
pub(crate) fn readable_for(fd: BorrowedFd<'_>, spin: Duration) -> io::Result<bool> {
    let start = Instant::now();
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    loop {
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        if rustix::event::poll(&mut fds, Some(&zero))? > 0 {
            return Ok(true);
        }
        if start.elapsed() >= spin {
            return Ok(false);
        }
        std::hint::spin_loop();
    }
}

/// A raw link whose receives poll for [`ADAPTIVE_SPIN`] before the
/// blocking call.
pub(crate) struct Polling(pub(crate) Box<dyn Link>);

impl Link for Polling {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.0.send(msg)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.poll_for(ADAPTIVE_SPIN)?;
        self.0.recv(buf)
    }

    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        self.0.poll_for(ADAPTIVE_SPIN)?;
        self.0.recv_timeout(buf, timeout)
    }
}
