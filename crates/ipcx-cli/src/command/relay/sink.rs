//! Where a relay direction writes: an ipcx sender, or a plain fd.
//! Writes block while the target is full, which is what slows the source
//! down: a relay holds one message per direction, never a growing queue.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};

use ipcx::{ByteSender, ErrorKind, SendError};
use rustix::event::{PollFd, PollFlags};
use rustix::io::Errno;
use rustix::net::{SendFlags, Shutdown};

use super::source::{is_socket, Cut};

/// Why a message did not go out.
#[derive(Debug)]
pub(crate) enum PutError {
    /// This message cannot be delivered (too large for the target, or the
    /// target refused it); the next one may be.
    Refused(String),
    /// The target is gone: nothing more can be written.
    Gone(String),
    /// Any other failure; the direction ends.
    Failed(anyhow::Error),
}

/// One direction's output.
pub(crate) trait Sink: Send {
    /// Writes one message, waiting while the target is full.
    fn put(&mut self, msg: &[u8]) -> Result<(), PutError>;

    /// No more messages: close or half-close so the peer sees the end.
    fn finish(&mut self);

    /// The largest message `put` takes, when the target has a limit.
    fn max_message(&self) -> Option<usize> {
        None
    }
}

/// Messages to an ipcx sender (any transport).
pub(crate) struct IpcxSink(pub(crate) Option<ByteSender>);

impl Sink for IpcxSink {
    fn max_message(&self) -> Option<usize> {
        self.0.as_ref().map(|tx| tx.max_message_len())
    }

    fn put(&mut self, msg: &[u8]) -> Result<(), PutError> {
        let Some(tx) = &self.0 else {
            return Err(PutError::Gone("already closed".into()));
        };
        tx.send_bytes(msg).map_err(|e| match e {
            SendError::Disconnected(_) => {
                PutError::Gone(format!("{}: the receiver is gone", tx.endpoint()))
            }
            SendError::Failed(_, err) if err.kind() == ErrorKind::TooLarge => {
                PutError::Refused(err.to_string())
            }
            SendError::Failed(_, err) => PutError::Failed(err.into()),
        })
    }

    fn finish(&mut self) {
        self.0 = None;
    }
}

/// Messages to a plain fd: bytes as they are, a newline after each, or one
/// packet each.
pub(crate) struct FdSink {
    fd: Option<Arc<OwnedFd>>,
    cut: Cut,
    socket: bool,
    max_packet: Option<usize>,
    line: Vec<u8>,
}

impl FdSink {
    pub(crate) fn new(fd: Arc<OwnedFd>, cut: Cut, max_packet: Option<usize>) -> FdSink {
        FdSink {
            socket: is_socket(&*fd),
            fd: Some(fd),
            cut,
            max_packet,
            line: Vec::new(),
        }
    }
}

fn write_all(fd: &OwnedFd, socket: bool, mut bytes: &[u8]) -> Result<(), Errno> {
    while !bytes.is_empty() {
        let wrote = if socket {
            rustix::net::send(fd, bytes, SendFlags::NOSIGNAL)
        } else {
            rustix::io::write(fd, bytes)
        };
        match wrote {
            Ok(n) => bytes = &bytes[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => {
                let mut fds = [PollFd::new(fd, PollFlags::OUT)];
                let _ = rustix::event::poll(&mut fds, None);
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn gone_or_failed(e: Errno) -> PutError {
    match e {
        Errno::PIPE | Errno::CONNRESET | Errno::NOTCONN => {
            PutError::Gone(format!("the reader is gone ({e})"))
        }
        e => PutError::Failed(std::io::Error::from(e).into()),
    }
}

impl Sink for FdSink {
    fn put(&mut self, msg: &[u8]) -> Result<(), PutError> {
        let Some(fd) = &self.fd else {
            return Err(PutError::Gone("already closed".into()));
        };
        match self.cut {
            Cut::Reads => write_all(fd, self.socket, msg).map_err(gone_or_failed),
            Cut::Lines => {
                self.line.clear();
                self.line.extend_from_slice(msg);
                self.line.push(b'\n');
                write_all(fd, self.socket, &self.line).map_err(gone_or_failed)
            }
            Cut::Packets => {
                if let Some(max) = self.max_packet.filter(|max| msg.len() > *max) {
                    return Err(PutError::Refused(format!(
                        "a {}-byte message is larger than the target's datagrams ({max} bytes)",
                        msg.len()
                    )));
                }
                loop {
                    return match rustix::net::send(&**fd, msg, SendFlags::NOSIGNAL) {
                        Ok(_) => Ok(()),
                        Err(Errno::INTR) => continue,
                        Err(Errno::MSGSIZE) => Err(PutError::Refused(format!(
                            "a {}-byte message is larger than the target's packets carry",
                            msg.len()
                        ))),
                        // A datagram's earlier send came back "port
                        // unreachable": nobody there right now.
                        Err(Errno::CONNREFUSED) => Err(PutError::Refused(
                            "nobody is receiving at the target (connection refused)".into(),
                        )),
                        Err(e) => Err(gone_or_failed(e)),
                    };
                }
            }
        }
    }

    fn finish(&mut self) {
        if let Some(fd) = self.fd.take() {
            if self.socket {
                let _ = rustix::net::shutdown(&*fd, Shutdown::Write);
            }
        }
    }
}

/// One sink written by every client of a listener: whole messages from
/// each, one at a time. Closed when the relay ends, not by a session.
#[derive(Clone)]
pub(crate) struct SharedSink(pub(crate) Arc<Mutex<Box<dyn Sink>>>);

impl Sink for SharedSink {
    fn max_message(&self) -> Option<usize> {
        self.0.lock().ok().and_then(|sink| sink.max_message())
    }

    fn put(&mut self, msg: &[u8]) -> Result<(), PutError> {
        match self.0.lock() {
            Ok(mut sink) => sink.put(msg),
            Err(_) => Err(PutError::Gone("a session writing here panicked".into())),
        }
    }

    fn finish(&mut self) {}
}
