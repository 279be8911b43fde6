//! One end of a two-way path between the bench and its peer: ipcx's
//! channels, or the same mechanism driven by raw syscalls.

use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::Duration;

use ipcx::{Bytes, Receiver, Sender};

/// Sends and receives whole messages.
pub(crate) trait Link {
    fn send(&mut self, msg: &[u8]) -> io::Result<()>;
    /// Receives one message, returning its length. Where the payload
    /// lands is the link's business: a raw `read` leaves it in `buf`; ipcx
    /// lends it where it arrived and the link reads it there.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    /// Like `recv`, but `None` after `timeout` without a message (for
    /// lossy mechanisms, where waiting for every message may never end).
    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>>;
    /// Polls, never sleeping, for up to `spin` until a message is there
    /// (`raw+poll`); true if one is. Links that cannot tell say false.
    fn poll_for(&mut self, _spin: Duration) -> io::Result<bool> {
        Ok(false)
    }
    /// Receives one message and sends it back (the ping-pong peer).
    fn echo(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let n = self.recv(buf)?;
        self.send(&buf[..n])
    }
}

/// ipcx: one channel each way.
///
/// A received message is lent where it arrived (`recv_bytes_with`), as a
/// raw `read` leaves it in the caller's buffer; it is not copied again.
/// On a kernel transport the kernel's copy into ipcx's buffer is the read,
/// as it is into a raw loop's. On a ring nothing copies it on the way, so
/// the receiver reads every word of it where it lies (`read_in_place`).
pub(crate) struct IpcxLink {
    pub(crate) tx: Sender<Bytes>,
    pub(crate) rx: Receiver<Bytes>,
    /// Read each message where it lies (shared memory).
    pub(crate) read_in_place: bool,
    /// Write each payload straight into the ring (`Sender::send_with`,
    /// `shm+loan`) instead of copying it from a buffer made beforehand.
    pub(crate) loan: bool,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// Reads every byte of `m` (8 at a time), so that a lent message is read.
fn read_all(m: &[u8]) -> u64 {
    let words = m.chunks_exact(8);
    let tail = words.remainder().iter().map(|&b| u64::from(b)).sum::<u64>();
    words.fold(tail, |acc, w| {
        acc.wrapping_add(u64::from_ne_bytes(w.try_into().expect("8 bytes")))
    })
}

/// Takes a lent message: its length, after reading it if asked.
fn take(m: &[u8], read_in_place: bool) -> usize {
    if read_in_place {
        std::hint::black_box(read_all(m));
    }
    m.len()
}

impl Link for IpcxLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        if !self.loan {
            return self.tx.send_bytes(msg).map_err(io_err);
        }
        // Generated in place, as a loan is meant to be used; the first
        // byte stands for what a producer would write.
        let first = msg.first().copied().unwrap_or(0);
        self.tx
            .send_with(msg.len(), |slot| {
                slot.fill(first);
                slot.len()
            })
            .map(|_| ())
            .map_err(io_err)
    }

    fn recv(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        // No deadline, like the raw calls: a deadline makes some links poll
        // (System V queues cannot be waited on with a timeout).
        let read_in_place = self.read_in_place;
        self.rx
            .recv_bytes_with(None, |m| take(m, read_in_place))
            .map_err(io_err)
    }

    fn recv_timeout(&mut self, _buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        let read_in_place = self.read_in_place;
        match self
            .rx
            .recv_bytes_with(Some(timeout), |m| take(m, read_in_place))
        {
            Ok(n) => Ok(Some(n)),
            Err(ipcx::RecvTimeoutError::Timeout) => Ok(None),
            Err(e) => Err(io_err(e)),
        }
    }

    /// Sends the message back from where it was lent: no copy in between.
    fn echo(&mut self, _buf: &mut [u8]) -> io::Result<()> {
        let (tx, loan) = (&self.tx, self.loan);
        self.rx
            .recv_bytes_with(None, |m| {
                if loan {
                    tx.send_with(m.len(), |slot| {
                        slot.copy_from_slice(m);
                        m.len()
                    })
                    .map(|_| ())
                    .map_err(io_err)
                } else {
                    tx.send_bytes(m).map_err(io_err)
                }
            })
            .map_err(io_err)?
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

impl<R: Read + AsFd, W: Write> Link for StreamLink<R, W> {
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

    fn poll_for(&mut self, spin: Duration) -> io::Result<bool> {
        super::poll::readable_for(self.r.as_fd(), spin)
    }
}

/// ipcx calls: `send` makes the call (request out, reply back), `recv`
/// hands over the reply's length. A latency round is one call.
pub(crate) struct CallLink {
    client: ipcx::rpc::Client<Bytes, Bytes>,
    reply: Vec<u8>,
}

impl CallLink {
    pub(crate) fn new(client: ipcx::rpc::Client<Bytes, Bytes>) -> CallLink {
        CallLink {
            client,
            reply: Vec::new(),
        }
    }
}

impl Link for CallLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.reply = self.client.call_bytes(msg, None).map_err(io_err)?;
        Ok(())
    }

    fn recv(&mut self, _buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.reply.len())
    }

    fn recv_timeout(&mut self, buf: &mut [u8], _timeout: Duration) -> io::Result<Option<usize>> {
        self.recv(buf).map(Some)
    }
}
