//! System V message queues (`svipc(7)`): typed messages, selective receive.
//! They are not file descriptors and cannot be polled, so a deadline is kept
//! by retrying with `IPC_NOWAIT` after short pauses; without one the call
//! blocks in the kernel. A queue outlives every process: its creator removes it.
//!
//! # References
//! - [msgop(2)](https://man7.org/linux/man-pages/man2/msgop.2.html)
//! - [msgctl(2)](https://man7.org/linux/man-pages/man2/msgctl.2.html)

#![allow(unsafe_code)] // libc calls with no safe wrapper in rustix; each block says why it is sound.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Where the kernel's limit on one message's size is set.
pub(crate) const MSGMAX: &str = "/proc/sys/kernel/msgmax";

/// The mtype field in front of every message, as `msgsnd` wants it.
const MTYPE: usize = std::mem::size_of::<libc::c_long>();

/// An open System V queue id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SysvQueue {
    pub(crate) id: i32,
}

/// What `IPC_STAT` says of a queue's fill.
#[derive(Debug, Clone, Copy)]
pub(crate) struct QueueStat {
    pub(crate) messages: usize,
    pub(crate) bytes: usize,
    pub(crate) limit: usize,
    /// The last `msgsnd` and `msgrcv` callers (0: none yet).
    pub(crate) last_sender: u32,
    pub(crate) last_receiver: u32,
}

/// `ftok(path, proj)`: the key a path names.
pub(crate) fn ftok(path: &Path, proj: u8) -> io::Result<i32> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path holds NUL"))?;
    // SAFETY: `c` is a valid C string for the duration of the call.
    let key = unsafe { libc::ftok(c.as_ptr(), libc::c_int::from(proj)) };
    if key == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(key)
}

/// Opens the queue with `key`, creating it with `mode` if asked and missing.
/// Returns whether this call created it.
pub(crate) fn get(key: i32, create_mode: Option<u32>) -> io::Result<(SysvQueue, bool)> {
    if let Some(mode) = create_mode {
        // SAFETY: msgget takes plain integers.
        let id = unsafe { libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | mode as i32) };
        if id >= 0 {
            return Ok((SysvQueue { id }, true));
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(e);
        }
    }
    // SAFETY: msgget takes plain integers.
    let id = unsafe { libc::msgget(key, 0) };
    if id < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((SysvQueue { id }, false))
}

impl SysvQueue {
    /// Sends `parts` as one message of type `mtype` (> 0). `scratch` is
    /// reused to lay the message out contiguously behind its type.
    pub(crate) fn send(
        &self,
        mtype: i64,
        parts: &[&[u8]],
        scratch: &mut Vec<u8>,
        nowait: bool,
    ) -> io::Result<()> {
        scratch.clear();
        scratch.extend_from_slice(&(mtype as libc::c_long).to_ne_bytes());
        for p in parts {
            scratch.extend_from_slice(p);
        }
        let flags = if nowait { libc::IPC_NOWAIT } else { 0 };
        loop {
            // SAFETY: `scratch` holds a c_long mtype followed by the
            // `len - MTYPE` bytes msgsnd is told to read; it is valid for
            // the call. msgsnd does not require alignment beyond bytes on Linux
            // (it copies from user memory).
            let r = unsafe {
                libc::msgsnd(
                    self.id,
                    scratch.as_ptr().cast(),
                    scratch.len() - MTYPE,
                    flags,
                )
            };
            if r == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Receives one message selected by `msgtyp` (0 any, > 0 exactly, < 0
    /// lowest ≤ |msgtyp|) into `buf` (which must have room for the mtype
    /// plus `max` bytes). Returns (mtype, payload range in `buf`).
    pub(crate) fn recv(
        &self,
        buf: &mut [u8],
        msgtyp: i64,
        nowait: bool,
    ) -> io::Result<(i64, std::ops::Range<usize>)> {
        let flags = if nowait { libc::IPC_NOWAIT } else { 0 };
        let max = buf.len().saturating_sub(MTYPE);
        loop {
            // SAFETY: `buf` is valid for writes of MTYPE + `max` bytes, which
            // is what msgrcv may write (the type, then at most `max` bytes).
            let r = unsafe {
                libc::msgrcv(
                    self.id,
                    buf.as_mut_ptr().cast(),
                    max,
                    msgtyp as libc::c_long,
                    flags,
                )
            };
            if r >= 0 {
                let mut t = [0u8; MTYPE];
                t.copy_from_slice(&buf[..MTYPE]);
                #[allow(clippy::useless_conversion, reason = "c_long is i32 on 32-bit targets")]
                let mtype = i64::from(libc::c_long::from_ne_bytes(t));
                return Ok((mtype, MTYPE..MTYPE + r as usize));
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// How many messages the queue holds now (`msg_qnum` from `IPC_STAT`).
    pub(crate) fn queued(&self) -> io::Result<usize> {
        self.stat().map(|s| s.messages)
    }

    /// The queue's fill, from `IPC_STAT`.
    pub(crate) fn stat(&self) -> io::Result<QueueStat> {
        // SAFETY: msqid_ds is plain data; all-zero is a valid value.
        let mut ds: libc::msqid_ds = unsafe { std::mem::zeroed() };
        // SAFETY: IPC_STAT writes one msqid_ds into `ds`, valid and writable.
        if unsafe { libc::msgctl(self.id, libc::IPC_STAT, &mut ds) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(QueueStat {
            messages: ds.msg_qnum as usize,
            bytes: ds.__msg_cbytes as usize,
            limit: ds.msg_qbytes as usize,
            last_sender: ds.msg_lspid as u32,
            last_receiver: ds.msg_lrpid as u32,
        })
    }

    /// Removes the queue (`IPC_RMID`): blocked and later callers get `EIDRM`/`EINVAL`.
    pub(crate) fn remove(&self) -> io::Result<()> {
        // SAFETY: IPC_RMID ignores the buffer argument; null is allowed.
        if unsafe { libc::msgctl(self.id, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The three kinds of System V object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SysvKind {
    /// A message queue (`msgget`).
    Queue,
    /// A shared-memory segment (`shmget`).
    Segment,
    /// A semaphore set (`semget`).
    Semaphores,
}

/// Removes the System V object `id` of `kind` (`IPC_RMID`).
pub(crate) fn remove_object(kind: SysvKind, id: i32) -> io::Result<()> {
    // SAFETY: IPC_RMID takes no buffer (null is allowed) and touches only
    // the object named by id.
    let rc = unsafe {
        match kind {
            SysvKind::Queue => libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()),
            SysvKind::Segment => libc::shmctl(id, libc::IPC_RMID, std::ptr::null_mut()),
            SysvKind::Semaphores => libc::semctl(id, 0, libc::IPC_RMID),
        }
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Room needed in a receive buffer for messages of up to `max` bytes.
pub(crate) fn buffer_len(max: usize) -> usize {
    MTYPE + max
}

/// A System V semaphore set of one, used with `SEM_UNDO` so that the kernel
/// gives back the units of a process that dies holding them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SysvSem {
    pub(crate) id: i32,
}

/// Opens the semaphore with `key`; with `create = Some((mode, value))`
/// creates it exclusively and sets its value.
pub(crate) fn sem_get(key: i32, create: Option<(u32, u32)>) -> io::Result<SysvSem> {
    let id = match create {
        // SAFETY: semget takes plain integers.
        Some((mode, _)) => unsafe {
            libc::semget(key, 1, libc::IPC_CREAT | libc::IPC_EXCL | mode as i32)
        },
        // SAFETY: semget takes plain integers.
        None => unsafe { libc::semget(key, 1, 0) },
    };
    if id < 0 {
        return Err(io::Error::last_os_error());
    }
    let sem = SysvSem { id };
    if let Some((_, value)) = create {
        // SAFETY: SETVAL reads its fourth argument as an int (the union's
        // `val` member, passed by value as glibc expects on Linux).
        if unsafe { libc::semctl(id, 0, libc::SETVAL, value as libc::c_int) } < 0 {
            let e = io::Error::last_os_error();
            let _ = sem.remove();
            return Err(e);
        }
    }
    Ok(sem)
}

impl SysvSem {
    /// Adds `delta` to the value with `SEM_UNDO`, waiting while it would go
    /// below zero: forever (`None`), not at all (zero), or up to the timeout.
    /// `Ok(false)` when it did not happen in time.
    pub(crate) fn op(&self, delta: i16, timeout: Option<std::time::Duration>) -> io::Result<bool> {
        let mut flags = libc::SEM_UNDO as libc::c_short;
        if timeout.is_some_and(|t| t.is_zero()) {
            flags |= libc::IPC_NOWAIT as libc::c_short;
        }
        let mut sop = libc::sembuf {
            sem_num: 0,
            sem_op: delta,
            sem_flg: flags,
        };
        loop {
            let r = match timeout {
                Some(t) if !t.is_zero() => {
                    let ts = libc::timespec {
                        tv_sec: t.as_secs() as libc::time_t,
                        tv_nsec: t.subsec_nanos() as libc::c_long,
                    };
                    // SAFETY: semtimedop(2) takes the id, a pointer to one
                    // sembuf valid for the call, the count 1, and a relative
                    // timespec valid for the call; libc has no wrapper for it.
                    unsafe {
                        libc::syscall(
                            libc::SYS_semtimedop,
                            self.id,
                            &mut sop as *mut libc::sembuf,
                            1usize,
                            &ts as *const libc::timespec,
                        ) as libc::c_int
                    }
                }
                // SAFETY: `sop` is one valid sembuf for the duration of the call.
                _ => unsafe { libc::semop(self.id, &mut sop, 1) },
            };
            if r == 0 {
                return Ok(true);
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) => continue,
                Some(libc::EAGAIN) => return Ok(false),
                _ => return Err(e),
            }
        }
    }

    pub(crate) fn value(&self) -> io::Result<u32> {
        // SAFETY: GETVAL takes no fourth argument.
        let v = unsafe { libc::semctl(self.id, 0, libc::GETVAL) };
        if v < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(v as u32)
    }

    pub(crate) fn remove(&self) -> io::Result<()> {
        // SAFETY: IPC_RMID takes no fourth argument.
        if unsafe { libc::semctl(self.id, 0, libc::IPC_RMID) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}
