//! The atomics the ring is built from: `std`'s, or loom's under `--cfg loom`
//! so that the model checker can explore every interleaving
//! (crossbeam-utils does the same in its `primitive` module).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

/// Whether a side that may have to wake a sleeper looks for it with a
/// full barrier, or leaves the barrier to the sleeper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Barrier {
    /// Portable: the look for sleepers is a read-modify-write (a full
    /// barrier on every commit and release): correct anywhere, and what
    /// loom checks.
    #[default]
    Symmetric,
    /// The look for sleepers is a plain load (no barrier on the hot path);
    /// whoever goes to sleep must, after `begin_wait` and before looking
    /// again, run a barrier on every CPU of the processes involved
    /// (Linux `membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`, with both
    /// processes registered). Without it, wake-ups can be lost.
    Asymmetric,
}

/// Is anyone sleeping on `waiters`? (The other half of `begin_wait`.)
#[inline]
pub(crate) fn sleepers(waiters: &AtomicU32, barrier: Barrier) -> bool {
    match barrier {
        Barrier::Symmetric => waiters.fetch_add(0, Ordering::SeqCst) != 0,
        Barrier::Asymmetric => {
            #[cfg(not(loom))]
            std::sync::atomic::compiler_fence(Ordering::SeqCst);
            waiters.load(Ordering::Relaxed) != 0
        }
    }
}
