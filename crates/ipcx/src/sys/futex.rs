//! Process-shared futexes: sleep while a word in shared memory holds a
//! value, and wake the sleepers. The word lives in a `MAP_SHARED` mapping,
//! so the futex is the shared (not `PRIVATE`) kind. A sleeper can also
//! watch a [`Stop`](crate::Stop)'s private word in the same sleep
//! (`futex_waitv`, Linux 5.16).
//!
//! # References
//! - [futex(2)](https://man7.org/linux/man-pages/man2/futex.2.html)
//! - [futex_waitv(2)](https://docs.kernel.org/userspace-api/futex2.html)

#![allow(unsafe_code)] // futex_waitv has no wrapper in rustix; the block says why it is sound.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

use crate::stop::Core as StopCore;

/// Sleeps while `word` holds `seen`, at most `timeout`. Returns on a wake,
/// a changed value, a signal or the timeout alike: callers re-check.
pub(crate) fn wait(word: &AtomicU32, seen: u32, timeout: Duration) {
    let ts = futex::Timespec {
        tv_sec: timeout.as_secs() as i64,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    let _timer = super::BlockedTimer::start();
    match futex::wait(word, futex::Flags::empty(), seen, Some(&ts)) {
        Ok(()) | Err(Errno::AGAIN | Errno::TIMEDOUT | Errno::INTR) => {}
        // EFAULT/EINVAL cannot happen for a mapped, aligned word; the caller
        // re-checks either way.
        Err(_) => {}
    }
}

/// Like [`wait`], and also returns when `stop` is triggered. Without
/// `futex_waitv` (kernels before 5.16) the sleep is cut to 1 ms and the
/// stop is seen at the next look.
pub(crate) fn wait_or_stop(
    word: &AtomicU32,
    seen: u32,
    stop: Option<&StopCore>,
    timeout: Duration,
) {
    let Some(stop) = stop else {
        return wait(word, seen, timeout);
    };
    // Read the stop's word before looking at its flag: a stop that comes
    // after the look changes the word, so the sleep below returns at once.
    let stop_seen = stop.word().load(Ordering::SeqCst);
    if stop.is_stopped() {
        return;
    }
    static NO_WAITV: AtomicBool = AtomicBool::new(false);
    if NO_WAITV.load(Ordering::Relaxed) {
        return wait(word, seen, timeout.min(Duration::from_millis(1)));
    }
    let _timer = super::BlockedTimer::start();
    match waitv(
        &[(word, seen, false), (stop.word(), stop_seen, true)],
        timeout,
    ) {
        Ok(()) | Err(Errno::AGAIN | Errno::TIMEDOUT | Errno::INTR) => {}
        Err(Errno::NOSYS) => NO_WAITV.store(true, Ordering::Relaxed),
        Err(_) => {}
    }
}

/// The kernel's `struct futex_waitv`.
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

const FUTEX2_SIZE_U32: u32 = 0x02;
const FUTEX2_PRIVATE: u32 = 128;

/// Sleeps until one of `words` (word, expected value, private) changes or
/// is woken, or `timeout` passes.
fn waitv(words: &[(&AtomicU32, u32, bool); 2], timeout: Duration) -> Result<(), Errno> {
    let waiters = words.map(|(word, val, private)| FutexWaitv {
        val: u64::from(val),
        uaddr: word.as_ptr() as u64,
        flags: FUTEX2_SIZE_U32 | if private { FUTEX2_PRIVATE } else { 0 },
        reserved: 0,
    });
    // futex_waitv takes an absolute CLOCK_MONOTONIC time.
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec for the call to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let mut at = libc::timespec {
        tv_sec: now.tv_sec.saturating_add(timeout.as_secs() as i64),
        tv_nsec: now.tv_nsec as _,
    };
    at.tv_nsec += timeout.subsec_nanos() as libc::c_long;
    if at.tv_nsec >= 1_000_000_000 {
        at.tv_nsec -= 1_000_000_000;
        at.tv_sec += 1;
    }
    // SAFETY: `waiters` is an array of two initialised futex_waitv records
    // whose addresses point at live, aligned 32-bit atomics (borrowed for
    // the call), and `at` is a valid timespec; the kernel only reads them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            waiters.as_ptr(),
            waiters.len() as libc::c_uint,
            0 as libc::c_uint,
            &at as *const libc::timespec,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r < 0 {
        return Err(Errno::from_raw_os_error(
            std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
        ));
    }
    Ok(())
}

/// Wakes every process sleeping on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}
