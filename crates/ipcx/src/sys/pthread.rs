//! Process-shared, robust pthread mutexes and condition variables living in
//! shared memory.
//!
//! # References
//! - [pthread_mutexattr_setrobust(3)](https://man7.org/linux/man-pages/man3/pthread_mutexattr_setrobust.3.html)
//! - [pthread_mutex_consistent(3)](https://man7.org/linux/man-pages/man3/pthread_mutex_consistent.3.html)

#![allow(unsafe_code)] // pthread calls on objects in shared memory; each block says why it is sound.

use std::io;
use std::time::Duration;

fn check(r: libc::c_int) -> io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(r))
    }
}

/// How a lock was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    Normally,
    /// The previous owner died holding it; the mutex was made consistent again.
    OwnerDied,
}

/// Initialises a robust, process-shared mutex and a process-shared condvar
/// (on the monotonic clock) in place.
///
/// # Safety
/// `m` and `c` must point to writable, suitably aligned memory that no other
/// process or thread uses until this returns.
pub(crate) unsafe fn init(
    m: *mut libc::pthread_mutex_t,
    c: *mut libc::pthread_cond_t,
) -> io::Result<()> {
    // SAFETY: attribute objects are plain data, initialised by *_init before
    // use and destroyed after; `m` and `c` are valid per this function's contract.
    unsafe {
        let mut ma: libc::pthread_mutexattr_t = std::mem::zeroed();
        check(libc::pthread_mutexattr_init(&mut ma))?;
        check(libc::pthread_mutexattr_setpshared(
            &mut ma,
            libc::PTHREAD_PROCESS_SHARED,
        ))?;
        check(libc::pthread_mutexattr_setrobust(
            &mut ma,
            libc::PTHREAD_MUTEX_ROBUST,
        ))?;
        let r = libc::pthread_mutex_init(m, &ma);
        libc::pthread_mutexattr_destroy(&mut ma);
        check(r)?;
        let mut ca: libc::pthread_condattr_t = std::mem::zeroed();
        check(libc::pthread_condattr_init(&mut ca))?;
        check(libc::pthread_condattr_setpshared(
            &mut ca,
            libc::PTHREAD_PROCESS_SHARED,
        ))?;
        check(libc::pthread_condattr_setclock(
            &mut ca,
            libc::CLOCK_MONOTONIC,
        ))?;
        let r = libc::pthread_cond_init(c, &ca);
        libc::pthread_condattr_destroy(&mut ca);
        check(r)
    }
}

/// Interprets a lock-like return code: EOWNERDEAD is a success that needs
/// `pthread_mutex_consistent`.
///
/// # Safety
/// `m` must be an initialised robust mutex that this thread now holds if
/// `r` is 0 or EOWNERDEAD.
unsafe fn locked(m: *mut libc::pthread_mutex_t, r: libc::c_int) -> io::Result<Locked> {
    match r {
        0 => Ok(Locked::Normally),
        libc::EOWNERDEAD => {
            // SAFETY: per the contract, this thread holds `m`.
            check(unsafe { libc::pthread_mutex_consistent(m) })?;
            Ok(Locked::OwnerDied)
        }
        e => Err(io::Error::from_raw_os_error(e)),
    }
}

/// Locks `m`; `Ok(None)` from `try_lock` when another holds it.
///
/// # Safety
/// `m` must point to an initialised robust mutex in memory that stays mapped.
pub(crate) unsafe fn lock(m: *mut libc::pthread_mutex_t, wait: bool) -> io::Result<Option<Locked>> {
    // SAFETY: per the contract `m` is an initialised mutex.
    let r = unsafe {
        if wait {
            libc::pthread_mutex_lock(m)
        } else {
            libc::pthread_mutex_trylock(m)
        }
    };
    if r == libc::EBUSY {
        return Ok(None);
    }
    // SAFETY: r is 0 or EOWNERDEAD only if this thread now holds `m`.
    unsafe { locked(m, r) }.map(Some)
}

/// # Safety
/// `m` must be an initialised mutex held by this thread.
pub(crate) unsafe fn unlock(m: *mut libc::pthread_mutex_t) {
    // SAFETY: per the contract.
    unsafe { libc::pthread_mutex_unlock(m) };
}

/// Waits on `c` (releasing `m` meanwhile); `Ok(None)` on timeout. The mutex
/// is held again on return in every case.
///
/// # Safety
/// `m` must be held by this thread; `m` and `c` initialised and mapped.
pub(crate) unsafe fn wait(
    m: *mut libc::pthread_mutex_t,
    c: *mut libc::pthread_cond_t,
    timeout: Option<Duration>,
) -> io::Result<Option<Locked>> {
    let r = match timeout {
        // SAFETY: per the contract.
        None => unsafe { libc::pthread_cond_wait(c, m) },
        Some(t) => {
            let mut now: libc::timespec = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            // SAFETY: `now` is valid for one write.
            unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
            let total = Duration::new(now.tv_sec as u64, now.tv_nsec as u32) + t;
            let at = libc::timespec {
                tv_sec: total.as_secs() as libc::time_t,
                tv_nsec: total.subsec_nanos() as libc::c_long,
            };
            // SAFETY: per the contract; `at` is valid for the call.
            unsafe { libc::pthread_cond_timedwait(c, m, &at) }
        }
    };
    if r == libc::ETIMEDOUT {
        return Ok(None);
    }
    // SAFETY: after cond_wait returns 0 or EOWNERDEAD this thread holds `m`.
    unsafe { locked(m, r) }.map(Some)
}

/// # Safety
/// `c` must be an initialised condvar in mapped memory.
pub(crate) unsafe fn notify(c: *mut libc::pthread_cond_t, all: bool) {
    // SAFETY: per the contract.
    unsafe {
        if all {
            libc::pthread_cond_broadcast(c);
        } else {
            libc::pthread_cond_signal(c);
        }
    }
}
