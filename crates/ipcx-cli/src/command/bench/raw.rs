//! The raw baselines: each mechanism driven by the plain syscalls a careful
//! hand-written program would make, with no ipcx code in the path.

#![allow(unsafe_code)] // libc's queue calls; each block says why it is sound.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::net::{RecvFlags, SendFlags};

use super::link::Link;

/// A connected packet or datagram socket: one message per send/recv.
pub(crate) struct PacketLink(pub(crate) OwnedFd);

impl Link for PacketLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        rustix::net::send(&self.0, msg, SendFlags::empty())?;
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (n, _) = rustix::net::recv(&self.0, buf, RecvFlags::empty())?;
        Ok(n)
    }

    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        if !readable_within(&self.0, timeout)? {
            return Ok(None);
        }
        self.recv(buf).map(Some)
    }

    fn poll_for(&mut self, spin: Duration) -> io::Result<bool> {
        super::poll::readable_for(self.0.as_fd(), spin)
    }
}

/// Unix datagrams sent with `sendto` to the peer's path, from a socket
/// that is not connected: the shape an ipcx `unix+dgram:` receiver has
/// (it takes any number of senders). A pair of sockets connected to each
/// other would be exempt from `net.unix.max_dgram_qlen` (the kernel lets a
/// sender past a full queue when the receiver is connected back to it),
/// which no many-to-one receiver can be.
pub(crate) struct DgramLink {
    pub(crate) fd: OwnedFd,
    pub(crate) peer: rustix::net::SocketAddrUnix,
}

impl Link for DgramLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        rustix::net::sendto(&self.fd, msg, SendFlags::empty(), &self.peer)?;
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let (n, _) = rustix::net::recv(&self.fd, buf, RecvFlags::empty())?;
        Ok(n)
    }

    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        if !readable_within(&self.fd, timeout)? {
            return Ok(None);
        }
        self.recv(buf).map(Some)
    }

    fn poll_for(&mut self, spin: Duration) -> io::Result<bool> {
        super::poll::readable_for(self.fd.as_fd(), spin)
    }
}

/// Whether `fd` becomes readable within `timeout`.
fn readable_within(fd: &OwnedFd, timeout: Duration) -> io::Result<bool> {
    let mut fds = [rustix::event::PollFd::new(fd, rustix::event::PollFlags::IN)];
    let ts = rustix::event::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    Ok(rustix::event::poll(&mut fds, Some(&ts))? > 0)
}

/// A key of our own for System V queues (`which`: ping or pong).
pub(crate) fn sysv_key(tag: &str, which: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in tag.bytes().chain(which.bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h | 0x4000_0000
}

/// Two POSIX queues, one each way.
pub(crate) struct MqLink {
    tx: libc::mqd_t,
    rx: libc::mqd_t,
    names: Option<[CString; 2]>,
}

fn mq_open(name: &CString, create: bool) -> io::Result<libc::mqd_t> {
    let mut attr: libc::mq_attr = unsafe_zeroed_attr();
    attr.mq_maxmsg = 10;
    attr.mq_msgsize = 8192;
    let flags = libc::O_RDWR
        | if create {
            libc::O_CREAT | libc::O_EXCL
        } else {
            0
        };
    // SAFETY: a NUL-terminated name and a valid attr; mq_open reads them only.
    let mqd = unsafe { libc::mq_open(name.as_ptr(), flags, 0o600 as libc::mode_t, &attr) };
    if mqd == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(mqd)
}

fn unsafe_zeroed_attr() -> libc::mq_attr {
    // SAFETY: mq_attr is plain integers; all zeros is a valid value.
    unsafe { std::mem::zeroed() }
}

impl MqLink {
    /// Creates `/tag-ping` and `/tag-pong` (the parent, who removes them).
    pub(crate) fn create(tag: &str) -> io::Result<MqLink> {
        let ping = CString::new(format!("/{tag}-ping")).map_err(io::Error::other)?;
        let pong = CString::new(format!("/{tag}-pong")).map_err(io::Error::other)?;
        Ok(MqLink {
            tx: mq_open(&ping, true)?,
            rx: mq_open(&pong, true)?,
            names: Some([ping, pong]),
        })
    }

    /// Opens them from the other side.
    pub(crate) fn open(tag: &str) -> io::Result<MqLink> {
        let ping = CString::new(format!("/{tag}-ping")).map_err(io::Error::other)?;
        let pong = CString::new(format!("/{tag}-pong")).map_err(io::Error::other)?;
        Ok(MqLink {
            tx: mq_open(&pong, false)?,
            rx: mq_open(&ping, false)?,
            names: None,
        })
    }
}

impl Link for MqLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        // SAFETY: `msg` is valid for its length; the descriptor is open.
        let r = unsafe { libc::mq_send(self.tx, msg.as_ptr().cast(), msg.len(), 0) };
        if r == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.len() < 8192 {
            return Err(io::Error::other("mq receive buffer below msgsize"));
        }
        // SAFETY: `buf` is writable for its length (≥ msgsize); open descriptor.
        let n = unsafe {
            libc::mq_receive(
                self.rx,
                buf.as_mut_ptr().cast(),
                buf.len(),
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    fn recv_timeout(&mut self, buf: &mut [u8], _: Duration) -> io::Result<Option<usize>> {
        self.recv(buf).map(Some) // queues lose nothing
    }

    fn poll_for(&mut self, spin: Duration) -> io::Result<bool> {
        // SAFETY: on Linux a message queue descriptor is an fd, open for
        // as long as this link.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.rx) };
        super::poll::readable_for(fd, spin)
    }
}

impl Drop for MqLink {
    fn drop(&mut self) {
        // SAFETY: descriptors this link opened, closed once; names we made.
        unsafe {
            libc::mq_close(self.tx);
            libc::mq_close(self.rx);
            if let Some(names) = &self.names {
                for n in names {
                    libc::mq_unlink(n.as_ptr());
                }
            }
        }
    }
}

/// One System V queue: the parent sends type 1 and receives type 2.
pub(crate) struct SysvLink {
    id: i32,
    send_type: libc::c_long,
    recv_type: libc::c_long,
    owner: bool,
    buf: Vec<u8>,
    /// A message `poll_for` took, waiting in `buf` for the next `recv`.
    pending: Option<usize>,
}

const LONG: usize = std::mem::size_of::<libc::c_long>();

impl SysvLink {
    pub(crate) fn create() -> io::Result<SysvLink> {
        // SAFETY: plain syscall with constant arguments.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
        if id == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(SysvLink {
            id,
            send_type: 1,
            recv_type: 2,
            owner: true,
            buf: Vec::new(),
            pending: None,
        })
    }

    pub(crate) fn open(id: i32) -> SysvLink {
        SysvLink {
            id,
            send_type: 2,
            recv_type: 1,
            owner: false,
            buf: Vec::new(),
            pending: None,
        }
    }

    pub(crate) fn id(&self) -> i32 {
        self.id
    }
}

impl Link for SysvLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.buf.clear();
        self.buf.extend_from_slice(&self.send_type.to_ne_bytes());
        self.buf.extend_from_slice(msg);
        // SAFETY: buf holds a c_long type then `msg.len()` bytes, as msgsnd reads.
        let r = unsafe { libc::msgsnd(self.id, self.buf.as_ptr().cast(), msg.len(), 0) };
        if r == -1 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match self.pending.take() {
            Some(n) => n,
            None => self.receive(buf.len(), 0)?.unwrap_or(0),
        };
        buf[..n].copy_from_slice(&self.buf[LONG..LONG + n]);
        Ok(n)
    }

    fn recv_timeout(&mut self, buf: &mut [u8], _: Duration) -> io::Result<Option<usize>> {
        self.recv(buf).map(Some) // queues lose nothing
    }

    /// No fd to poll: `msgrcv` with `IPC_NOWAIT` until one is taken.
    fn poll_for(&mut self, spin: Duration) -> io::Result<bool> {
        if self.pending.is_some() {
            return Ok(true);
        }
        let start = std::time::Instant::now();
        loop {
            if let Some(n) = self.receive(8192, libc::IPC_NOWAIT)? {
                self.pending = Some(n);
                return Ok(true);
            }
            if start.elapsed() >= spin {
                return Ok(false);
            }
            std::hint::spin_loop();
        }
    }
}

impl SysvLink {
    /// One `msgrcv` of up to `len` bytes into `buf`; `None` when
    /// `IPC_NOWAIT` found nothing.
    fn receive(&mut self, len: usize, flags: libc::c_int) -> io::Result<Option<usize>> {
        self.buf.resize(LONG + len, 0);
        // SAFETY: self.buf has room for the type and `len` bytes.
        let n = unsafe {
            libc::msgrcv(
                self.id,
                self.buf.as_mut_ptr().cast(),
                len,
                self.recv_type,
                flags,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOMSG) if flags & libc::IPC_NOWAIT != 0 => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(n as usize))
    }
}

impl Drop for SysvLink {
    fn drop(&mut self) {
        if self.owner {
            // SAFETY: removing the queue this process created.
            unsafe { libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) };
        }
    }
}
