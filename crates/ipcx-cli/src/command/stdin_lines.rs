//! Lines of stdin that a [`Stop`] can interrupt: a read waits in `poll` on
//! stdin and the stop, so `ipcx send` on an idle terminal or pipe stops
//! at the first SIGTERM.

use std::io;
use std::os::fd::AsFd;

use ipcx::Stop;
use rustix::event::{poll, PollFd, PollFlags};

/// Reads stdin line by line (without the newline; a last line without
/// one counts).
pub(crate) struct StdinLines<'a> {
    stop: &'a Stop,
    buf: Vec<u8>,
    start: usize,
    /// Where the line being returned ends (its newline excluded).
    taken: usize,
    eof: bool,
}

impl<'a> StdinLines<'a> {
    pub(crate) fn new(stop: &'a Stop) -> Self {
        StdinLines {
            stop,
            buf: Vec::with_capacity(64 * 1024),
            start: 0,
            taken: 0,
            eof: false,
        }
    }

    /// The next line, or `None` at the end of stdin or once stopped.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        self.start = self.taken;
        loop {
            if let Some(nl) = self.buf[self.start..].iter().position(|&b| b == b'\n') {
                let end = self.start + nl;
                self.taken = end + 1;
                return Ok(Some(&self.buf[self.start..end]));
            }
            if self.eof {
                if self.start < self.buf.len() {
                    self.taken = self.buf.len();
                    return Ok(Some(&self.buf[self.start..]));
                }
                return Ok(None);
            }
            if self.stop.is_stopped() || !self.read_more()? {
                return Ok(None);
            }
        }
    }

    /// Waits for stdin or the stop, then reads once. `Ok(false)`: stopped.
    fn read_more(&mut self) -> io::Result<bool> {
        self.buf.drain(..self.start);
        self.taken -= self.start.min(self.taken);
        self.start = 0;
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        loop {
            let mut fds = [
                PollFd::new(&fd, PollFlags::IN),
                PollFd::new(self.stop, PollFlags::IN),
            ];
            match poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
            if self.stop.is_stopped() {
                return Ok(false);
            }
            if fds[0].revents().is_empty() {
                continue;
            }
            let len = self.buf.len();
            self.buf.resize(len + 64 * 1024, 0);
            match rustix::io::read(fd, &mut self.buf[len..]) {
                Ok(n) => {
                    self.buf.truncate(len + n);
                    self.eof = n == 0;
                    return Ok(true);
                }
                Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {
                    self.buf.truncate(len);
                }
                Err(e) => {
                    self.buf.truncate(len);
                    return Err(e.into());
                }
            }
        }
    }
}
