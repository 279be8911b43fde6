//! The heavy half of an asymmetric barrier: `membarrier(2)` with
//! `MEMBARRIER_CMD_GLOBAL_EXPEDITED` makes every CPU that runs a
//! registered process execute a full memory barrier. The shared-memory
//! ring's hot path then needs no barrier at all to look for sleepers
//! (a plain load); only a side about to sleep pays (a few µs).
//!
//! # References
//! - [membarrier(2)](https://man7.org/linux/man-pages/man2/membarrier.2.html)

use std::sync::OnceLock;

use rustix::thread::{membarrier, MembarrierCommand};

/// Registers this process as a target of global expedited barriers, once.
/// False where the kernel lacks them: then use full barriers instead.
pub(crate) fn register() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok())
}

/// A full barrier on every CPU running a registered process. False if the
/// kernel refused (the caller must then not rely on it).
pub(crate) fn heavy() -> bool {
    membarrier(MembarrierCommand::GlobalExpedited).is_ok()
}
