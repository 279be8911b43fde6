//! POSIX named semaphores (`sem_overview(7)`).
//!
//! # References
//! - [sem_open(3)](https://man7.org/linux/man-pages/man3/sem_open.3.html)
//! - [sem_wait(3)](https://man7.org/linux/man-pages/man3/sem_wait.3.html)

#![allow(unsafe_code)] // libc calls with no safe wrapper in rustix; each block says why it is sound.

use std::ffi::CString;
use std::io;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// An open named semaphore. `sem_t*` from `sem_open` stays valid until
/// `sem_close`, which `Drop` calls; the kernel object lives on until unlinked.
#[derive(Debug)]
pub(crate) struct NamedSem {
    sem: *mut libc::sem_t,
}

// SAFETY: a sem_t from sem_open is a process-shared object designed for
// concurrent use from any thread; the pointer is only passed to sem_* calls.
unsafe impl Send for NamedSem {}
// SAFETY: as above: every sem_* operation is thread-safe.
unsafe impl Sync for NamedSem {}

fn c_name(name: &str) -> io::Result<CString> {
    CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name holds NUL"))
}

/// Opens `name`; with `create = Some((mode, value))` creates it exclusively.
pub(crate) fn open(name: &str, create: Option<(u32, u32)>) -> io::Result<NamedSem> {
    let c = c_name(name)?;
    let sem = match create {
        // SAFETY: `c` is a valid C string; with O_CREAT sem_open reads the
        // variadic mode_t and unsigned int, passed with those C types.
        Some((mode, value)) => unsafe {
            libc::sem_open(
                c.as_ptr(),
                libc::O_CREAT | libc::O_EXCL,
                mode as libc::c_uint,
                value as libc::c_uint,
            )
        },
        // SAFETY: `c` is a valid C string; without O_CREAT no variadic argument is read.
        None => unsafe { libc::sem_open(c.as_ptr(), 0) },
    };
    if sem.is_null() || sem == libc::SEM_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(NamedSem { sem })
}

pub(crate) fn unlink(name: &str) -> io::Result<()> {
    let c = c_name(name)?;
    // SAFETY: `c` is a valid C string.
    if unsafe { libc::sem_unlink(c.as_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

impl NamedSem {
    /// P: waits for a unit. `Ok(false)` when the timeout passed (or, with a
    /// zero timeout, when no unit is free).
    pub(crate) fn wait(&self, timeout: Option<Duration>) -> io::Result<bool> {
        loop {
            let r = match timeout {
                // SAFETY: `self.sem` is open (closed only in Drop).
                None => unsafe { libc::sem_wait(self.sem) },
                // SAFETY: as above.
                Some(t) if t.is_zero() => unsafe { libc::sem_trywait(self.sem) },
                Some(t) => {
                    // sem_timedwait takes an absolute CLOCK_REALTIME time.
                    let at = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default()
                        + t;
                    let ts = libc::timespec {
                        tv_sec: at.as_secs() as libc::time_t,
                        tv_nsec: at.subsec_nanos() as libc::c_long,
                    };
                    // SAFETY: `self.sem` is open; `ts` is valid for the call.
                    unsafe { libc::sem_timedwait(self.sem, &ts) }
                }
            };
            match check(r) {
                Ok(()) => return Ok(true),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::ETIMEDOUT)) => {
                    return Ok(false)
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// V: gives a unit back.
    pub(crate) fn post(&self) -> io::Result<()> {
        // SAFETY: `self.sem` is open.
        check(unsafe { libc::sem_post(self.sem) })
    }

    pub(crate) fn value(&self) -> io::Result<u32> {
        let mut v: libc::c_int = 0;
        // SAFETY: `self.sem` is open and `v` is valid for one write.
        check(unsafe { libc::sem_getvalue(self.sem, &mut v) })?;
        Ok(v.max(0) as u32)
    }
}

impl Drop for NamedSem {
    fn drop(&mut self) {
        // SAFETY: `self.sem` came from sem_open and is closed exactly once, here.
        unsafe { libc::sem_close(self.sem) };
    }
}
