//! Where a relay direction reads: an ipcx receiver, or a plain fd (a
//! stream cut by reads or lines, or a packet socket).

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use ipcx::{ByteReceiver, RecvTimeoutError, Stop};
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::RecvFlags;

/// What one read gave.
#[derive(Debug)]
pub(crate) enum Next {
    /// A message is in the buffer.
    Message,
    /// Nothing came within the wait.
    Idle,
    /// The source has ended (end of file, every sender gone).
    End,
    /// A message was lost on the way in (a bad frame from one sender); the
    /// source goes on.
    Lost(String),
}

/// One direction's input.
pub(crate) trait Source: Send {
    /// Waits up to `wait` for the next message, put in `buf` (cleared first).
    fn next(&mut self, buf: &mut Vec<u8>, wait: Duration) -> anyhow::Result<Next>;

    /// Take no new senders from now on (what is queued still comes).
    fn stop(&mut self) {}

    /// Where the source cuts a stream into messages by reads, cut them no
    /// longer than `max` (what the sink takes: a FIFO's atomic write, a
    /// UDP datagram, a queue's message size).
    fn cut_reads_to(&mut self, _max: usize) {}

    /// A wait in `next` also ends when `stop` is triggered (it then
    /// returns `Idle`, or what is there).
    fn watch_stop(&mut self, _stop: &Stop) {}

    /// The fd that becomes readable when `next` may have something, for a
    /// caller's own poll loop (call `next` until `Idle` first).
    fn readiness(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        None
    }

    /// Messages lost before they reached the source, so far (see
    /// `Receiver::missed`).
    fn missed(&self) -> u64 {
        0
    }
}

/// Reads of a plain stream are at most this long (one message each).
pub(crate) const CHUNK: usize = 64 * 1024;

/// A line longer than this without a newline is an error, not unbounded
/// memory.
pub(crate) const MAX_LINE: usize = 16 * 1024 * 1024;

/// Messages from an ipcx receiver (any transport, framing checked by ipcx).
pub(crate) struct IpcxSource(pub(crate) ByteReceiver);

impl Source for IpcxSource {
    fn watch_stop(&mut self, stop: &Stop) {
        self.0.set_stop(stop);
    }

    fn missed(&self) -> u64 {
        self.0.missed()
    }

    fn next(&mut self, buf: &mut Vec<u8>, wait: Duration) -> anyhow::Result<Next> {
        buf.clear();
        Ok(
            match self
                .0
                .recv_bytes_with(Some(wait), |msg| buf.extend_from_slice(msg))
            {
                Ok(()) => Next::Message,
                Err(RecvTimeoutError::Timeout) => Next::Idle,
                Err(RecvTimeoutError::Disconnected) => Next::End,
                Err(RecvTimeoutError::Failed(err)) => Next::Lost(err.to_string()),
            },
        )
    }

    fn stop(&mut self) {
        self.0.shutdown();
    }
}

/// How a plain fd is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Each read (up to [`CHUNK`]) is a message.
    Reads,
    /// Each line is a message.
    Lines,
    /// Each packet or datagram is a message (never truncated).
    Packets,
}

/// Messages from a plain fd: a socket, pipe, FIFO, file or terminal.
pub(crate) struct FdSource {
    fd: Arc<OwnedFd>,
    cut: Cut,
    socket: bool,
    /// Bytes read but not yet handed out (lines).
    pending: Vec<u8>,
    /// Where lines are read before they join `pending`.
    scratch: Vec<u8>,
    ended: bool,
    /// The longest read with [`Cut::Reads`]: [`CHUNK`], or less for a sink
    /// that takes less.
    chunk: usize,
    /// Ends a wait early (until it is triggered: then only what is there).
    stop: Option<Stop>,
}

impl FdSource {
    pub(crate) fn new(fd: Arc<OwnedFd>, cut: Cut) -> FdSource {
        FdSource {
            socket: is_socket(&*fd),
            fd,
            cut,
            pending: Vec::new(),
            scratch: Vec::new(),
            ended: false,
            chunk: CHUNK,
            stop: None,
        }
    }

    /// Waits until the fd is readable (or hung up); `Ok(None)` on timeout.
    fn ready(&self, wait: Duration) -> anyhow::Result<Option<PollFlags>> {
        let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let stop = self.stop.as_ref().filter(|s| !s.is_stopped());
        // Woken by the stop, the fd's own events say what is there.
        let polled = match stop {
            Some(stop) => {
                let mut both = [
                    PollFd::new(&*self.fd, PollFlags::IN),
                    PollFd::new(stop, PollFlags::IN),
                ];
                rustix::event::poll(&mut both, Some(&timeout)).map(|_| both[0].revents())
            }
            None => {
                let mut fds = [PollFd::new(&*self.fd, PollFlags::IN)];
                rustix::event::poll(&mut fds, Some(&timeout)).map(|_| fds[0].revents())
            }
        };
        match polled {
            Ok(events) if events.is_empty() => Ok(None),
            Ok(events) => Ok(Some(events)),
            Err(Errno::INTR) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// One `read`/`recv` into `into`: `Ok(None)` when nothing is there
    /// after all (a non-blocking FIFO), `Ok(Some(0))` at the end.
    fn read_into(&self, into: &mut [u8]) -> anyhow::Result<Option<usize>> {
        let read = |buf: &mut [u8]| {
            if self.socket {
                rustix::net::recv(&*self.fd, buf, RecvFlags::DONTWAIT).map(|(n, _)| n)
            } else {
                rustix::io::read(&*self.fd, buf)
            }
        };
        loop {
            return match read(&mut *into) {
                Ok(n) => Ok(Some(n)),
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => Ok(None),
                // A Unix peer that closed with our unread input reports a
                // reset once, before the data it sent: read that too.
                Err(Errno::CONNRESET) => match read(&mut *into) {
                    Ok(n) => Ok(Some(n)),
                    Err(_) => Ok(Some(0)),
                },
                Err(e) => Err(e.into()),
            };
        }
    }

    fn next_packet(&mut self, buf: &mut Vec<u8>, hung_up: bool) -> anyhow::Result<Next> {
        // Peek for the real length first, so nothing is ever truncated.
        let full = loop {
            match rustix::net::recv(
                &*self.fd,
                &mut [0u8; 1][..],
                RecvFlags::PEEK | RecvFlags::TRUNC | RecvFlags::DONTWAIT,
            ) {
                Ok((_, full)) => break full,
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(Next::Idle),
                Err(Errno::CONNRESET) => return Ok(Next::End),
                Err(e) => return Err(e.into()),
            }
        };
        buf.resize(full, 0);
        let got = loop {
            match rustix::net::recv(&*self.fd, &mut buf[..], RecvFlags::DONTWAIT) {
                Ok((n, _)) => break n,
                Err(Errno::INTR) => continue,
                Err(Errno::AGAIN) => return Ok(Next::Idle),
                Err(e) => return Err(e.into()),
            }
        };
        buf.truncate(got);
        // A zero-length read on a hung-up seqpacket socket is its end; on
        // a datagram socket it is an empty datagram.
        if got == 0 && hung_up {
            return Ok(Next::End);
        }
        Ok(Next::Message)
    }

    /// Hands out the next whole line in `pending`, if there is one.
    fn take_line(&mut self, buf: &mut Vec<u8>) -> bool {
        match self.pending.iter().position(|b| *b == b'\n') {
            Some(at) => {
                buf.clear();
                buf.extend_from_slice(&self.pending[..at]);
                self.pending.drain(..=at);
                true
            }
            None => false,
        }
    }
}

impl Source for FdSource {
    fn cut_reads_to(&mut self, max: usize) {
        self.chunk = max.min(CHUNK);
    }

    fn watch_stop(&mut self, stop: &Stop) {
        self.stop = Some(stop.clone());
    }

    fn readiness(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        Some(self.fd.as_fd())
    }

    fn next(&mut self, buf: &mut Vec<u8>, wait: Duration) -> anyhow::Result<Next> {
        buf.clear();
        if self.cut == Cut::Lines && self.take_line(buf) {
            return Ok(Next::Message);
        }
        if self.ended {
            // The last line may lack its newline; it is still a message.
            if !self.pending.is_empty() {
                buf.append(&mut self.pending);
                return Ok(Next::Message);
            }
            return Ok(Next::End);
        }
        let Some(events) = self.ready(wait)? else {
            return Ok(Next::Idle);
        };
        let hung_up = events.intersects(PollFlags::HUP | PollFlags::ERR);
        match self.cut {
            Cut::Packets => self.next_packet(buf, hung_up),
            Cut::Reads => {
                buf.resize(self.chunk, 0);
                match self.read_into(buf)? {
                    None => Ok(Next::Idle),
                    Some(0) => {
                        self.ended = true;
                        buf.clear();
                        Ok(Next::End)
                    }
                    Some(n) => {
                        buf.truncate(n);
                        Ok(Next::Message)
                    }
                }
            }
            Cut::Lines => {
                self.scratch.resize(CHUNK, 0);
                let mut scratch = std::mem::take(&mut self.scratch);
                let got = self.read_into(&mut scratch);
                match got? {
                    None => {}
                    Some(0) => self.ended = true,
                    Some(n) => self.pending.extend_from_slice(&scratch[..n]),
                }
                self.scratch = scratch;
                if self.take_line(buf) {
                    return Ok(Next::Message);
                }
                if self.pending.len() > MAX_LINE {
                    bail!("a line longer than {MAX_LINE} bytes without a newline");
                }
                if self.ended && !self.pending.is_empty() {
                    buf.append(&mut self.pending);
                    return Ok(Next::Message);
                }
                Ok(if self.ended { Next::End } else { Next::Idle })
            }
        }
    }
}

/// The fd of `conn`, shared by a connection's two directions.
pub(crate) fn shared(fd: impl Into<OwnedFd>) -> Arc<OwnedFd> {
    Arc::new(fd.into())
}

/// Whether `fd` is a socket (shut down rather than closed at the end).
pub(crate) fn is_socket(fd: &impl AsFd) -> bool {
    rustix::fs::fstat(fd)
        .map(|st| rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Socket)
        .unwrap_or(false)
}
