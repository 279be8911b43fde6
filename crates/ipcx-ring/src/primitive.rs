//! The atomics the ring is built from: `std`'s, or loom's under `--cfg loom`
//! so that the model checker can explore every interleaving
//! (crossbeam-utils does the same in its `primitive` module).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
