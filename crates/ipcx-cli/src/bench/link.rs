//! One end of a two-way path between the bench and its peer: ipcx's
//! channels, or the same mechanism driven by raw syscalls.

use std::io::{self, Read, Write};
use std::time::Duration;

use ipcx::{Bytes, Receiver, Sender};

/// Sends and receives whole messages.
pub(crate) trait Link {
    fn send(&mut self, msg: &[u8]) -> io::Result<()>;
    /// Receives one message into `buf`, returning its length.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Like `recv`, but `None` after `timeout` without a message (for
    /// lossy mechanisms, where waiting for every message may never end).
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>>;
}

/// ipcx: one channel each way.
pub(crate) struct IpcxLink {
    pub(crate) tx: Sender<Bytes>,
    pub(crate) rx: Receiver<Bytes>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl Link for IpcxLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.tx.send_bytes(msg).map_err(io_err)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // No deadline, like the raw calls: a deadline makes some links poll
        // (System V queues cannot be waited on with a timeout).
        self.rx
            .recv_bytes_with(None, |m| {
                buf[..m.len()].copy_from_slice(m);
                m.len()
            })
            .map_err(io_err)
    }

    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        match self.rx.recv_bytes_with(Some(timeout), |m| {
            buf[..m.len()].copy_from_slice(m);
            m.len()
        }) {
            Ok(n) => Ok(Some(n)),
            Err(ipcx::RecvTimeoutError::Timeout) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }
}

/// `shm+loan`: the sender writes the payload straight into the ring
/// (`Sender::send_with`) and the receiver reads it where it lies
/// (`recv_bytes_with`), summing its words instead of copying it out. The
/// payload is still written and read once each, as in every other link.
pub(crate) struct LoanLink {
    pub(crate) tx: Sender<Bytes>,
    pub(crate) rx: Receiver<Bytes>,
}

/// Reads every byte of `m` (8 at a time) so that a lent message is really read.
fn touch(m: &[u8]) -> u64 {
    let words = m.chunks_exact(8);
    let tail = words.remainder().iter().map(|&b| u64::from(b)).sum::<u64>();
    words.fold(tail, |acc, w| {
        acc.wrapping_add(u64::from_ne_bytes(w.try_into().expect("8 bytes")))
    })
}

impl Link for LoanLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        // The payload is generated in place, as a loan is meant to be used;
        // its first byte stands for what a producer would write.
        let first = msg.first().copied().unwrap_or(0);
        self.tx
            .send_with(msg.len(), |slot| {
                slot.fill(first);
                slot.len()
            })
            .map(|_| ())
            .map_err(io_err)
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.rx
            .recv_bytes_with(None, |m| {
                std::hint::black_box(touch(m));
                if let (Some(b), Some(&first)) = (buf.first_mut(), m.first()) {
                    *b = first; // an echo sends back what it got
                }
                m.len()
            })
            .map_err(io_err)
    }

    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        match self.rx.recv_bytes_with(Some(timeout), |m| {
            std::hint::black_box(touch(m));
            if let (Some(b), Some(&first)) = (buf.first_mut(), m.first()) {
                *b = first;
            }
            m.len()
        }) {
            Ok(n) => Ok(Some(n)),
            Err(ipcx::RecvTimeoutError::Timeout) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }
}

/// A byte stream with a 4-byte length in front of each message: what a
/// careful hand-written program does over a pipe, FIFO or stream socket.
pub(crate) struct StreamLink<R, W> {
    pub(crate) r: R,
    pub(crate) w: W,
    pub(crate) out: Vec<u8>,
}

impl<R: Read, W: Write> StreamLink<R, W> {
    pub(crate) fn new(r: R, w: W) -> Self {
        StreamLink {
            r,
            w,
            out: Vec::new(),
        }
    }
}

impl<R: Read, W: Write> Link for StreamLink<R, W> {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.out.clear();
        self.out
            .extend_from_slice(&(msg.len() as u32).to_le_bytes());
        self.out.extend_from_slice(msg);
        self.w.write_all(&self.out)?;
        // A no-op on files and sockets; stdout (the raw pipe peer) buffers.
        self.w.flush()
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut len = [0u8; 4];
        self.r.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len) as usize;
        self.r.read_exact(&mut buf[..len])?;
        Ok(len)
    }

    fn recv_timeout(&mut self, buf: &mut [u8], _: Duration) -> io::Result<Option<usize>> {
        self.recv(buf).map(Some) // streams lose nothing: no timeout needed
    }
}
