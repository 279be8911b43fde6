//! Process-shared futexes: sleep while a word in shared memory holds a
//! value, and wake the sleepers. The word lives in a `MAP_SHARED` mapping,
//! so the futex is the shared (not `PRIVATE`) kind.
//!
//! # References
//! - [futex(2)](https://man7.org/linux/man-pages/man2/futex.2.html)

use std::sync::atomic::AtomicU32;
use std::time::Duration;

use rustix::io::Errno;
use rustix::thread::futex;

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

/// Wakes every process sleeping on `word`.
pub(crate) fn wake_all(word: &AtomicU32) {
    let _ = futex::wake(word, futex::Flags::empty(), i32::MAX as u32);
}
