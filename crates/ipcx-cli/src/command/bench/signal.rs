//! Signals as a messaging mechanism: a real-time signal queued with a
//! 4-byte value (`sigqueue`), one way per process. ipcx takes them with
//! [`ipcx::signal::SignalReceiver`] (a signalfd); the raw baseline with
//! `sigwaitinfo`, what a hand-written program would call.
//!
//! A signal carries exactly [`PAYLOAD`] bytes, so it is measured at that
//! size only, whatever `--sizes` says.

#![allow(unsafe_code)] // sigprocmask, sigwaitinfo, sigqueue; each block says why it is sound.

use std::io;
use std::time::Duration;

use ipcx::signal::{self, SignalReceiver};

use super::link::Link;

/// What one signal carries (`sival_int`).
pub(crate) const PAYLOAD: usize = 4;

/// The signal both sides are sent: real-time, so they queue and keep order.
pub(crate) fn number() -> io::Result<i32> {
    signal::rt(4).map_err(io::Error::other)
}

/// A full queue of pending signals (RLIMIT_SIGPENDING) is waited out.
const FULL_PAUSE: Duration = Duration::from_micros(20);

fn value_of(msg: &[u8]) -> i32 {
    let mut v = [0u8; PAYLOAD];
    let n = msg.len().min(PAYLOAD);
    v[..n].copy_from_slice(&msg[..n]);
    i32::from_le_bytes(v)
}

fn put_value(buf: &mut [u8], value: i32) -> usize {
    let bytes = value.to_le_bytes();
    let n = buf.len().min(PAYLOAD);
    buf[..n].copy_from_slice(&bytes[..n]);
    PAYLOAD
}

/// ipcx: `ipcx::signal::send` and a `SignalReceiver`.
pub(crate) struct IpcxSignalLink {
    peer: i32,
    signal: i32,
    rx: SignalReceiver,
}

impl IpcxSignalLink {
    /// Blocks the signal in this (single-threaded) process and starts
    /// taking it; call before the peer can send.
    pub(crate) fn new(signal: i32) -> io::Result<IpcxSignalLink> {
        Ok(IpcxSignalLink {
            peer: 0,
            signal,
            rx: SignalReceiver::new(&[signal]).map_err(io::Error::other)?,
        })
    }

    pub(crate) fn to(mut self, peer: i32) -> IpcxSignalLink {
        self.peer = peer;
        self
    }
}

impl Link for IpcxSignalLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        loop {
            match signal::send(self.peer, self.signal, value_of(msg)) {
                Ok(()) => return Ok(()),
                Err(e) if e.io_error().and_then(io::Error::raw_os_error) == Some(libc::EAGAIN) => {
                    std::thread::sleep(FULL_PAUSE)
                }
                Err(e) => return Err(io::Error::other(e)),
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let got = self.rx.recv().map_err(io::Error::other)?;
        Ok(put_value(buf, got.value))
    }

    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        match self.rx.recv_timeout(timeout).map_err(io::Error::other)? {
            Some(got) => Ok(Some(put_value(buf, got.value))),
            None => Ok(None),
        }
    }
}

/// The raw baseline: `sigqueue` and `sigwaitinfo`.
pub(crate) struct RawSignalLink {
    peer: i32,
    signal: i32,
    set: libc::sigset_t,
}

impl RawSignalLink {
    /// Blocks the signal in this (single-threaded) process, so that it
    /// waits in the queue for `sigwaitinfo`; call before the peer can send.
    pub(crate) fn new(signal: i32) -> io::Result<RawSignalLink> {
        // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t we
        // own; sigprocmask only changes this thread's mask.
        let set = unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(io::Error::last_os_error());
            }
            set
        };
        Ok(RawSignalLink {
            peer: 0,
            signal,
            set,
        })
    }

    pub(crate) fn to(mut self, peer: i32) -> RawSignalLink {
        self.peer = peer;
        self
    }
}

impl Link for RawSignalLink {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let value = libc::sigval {
            sival_ptr: value_of(msg) as usize as *mut libc::c_void,
        };
        loop {
            // SAFETY: sigqueue takes a pid, a signal number and a sigval by value.
            if unsafe { libc::sigqueue(self.peer, self.signal, value) } == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) => std::thread::sleep(FULL_PAUSE),
                Some(libc::EINTR) => {}
                _ => return Err(e),
            }
        }
    }

    fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.wait(None)
            .map(|got| got.expect("no timeout"))
            .map(|value| put_value(buf, value))
    }

    fn recv_timeout(&mut self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<usize>> {
        Ok(self.wait(Some(timeout))?.map(|value| put_value(buf, value)))
    }
}

impl RawSignalLink {
    /// `sigwaitinfo`, or `sigtimedwait` with a timeout: the value carried.
    fn wait(&self, timeout: Option<Duration>) -> io::Result<Option<i32>> {
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs() as libc::time_t,
            tv_nsec: t.subsec_nanos() as _,
        });
        loop {
            // SAFETY: `info` is a siginfo_t we own for the kernel to fill;
            // `self.set` is an initialised sigset_t; `ts` lives for the call.
            let (got, info) = unsafe {
                let mut info: libc::siginfo_t = std::mem::zeroed();
                let got = match &ts {
                    None => libc::sigwaitinfo(&self.set, &mut info),
                    Some(ts) => libc::sigtimedwait(&self.set, &mut info, ts),
                };
                (got, info)
            };
            if got == self.signal {
                // SAFETY: a queued real-time signal's siginfo carries a sigval.
                let value = unsafe { info.si_value() }.sival_ptr as usize as i32;
                return Ok(Some(value));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) if ts.is_some() => return Ok(None),
                Some(libc::EINTR) => {}
                _ if got >= 0 => {}
                _ => return Err(e),
            }
        }
    }
}
