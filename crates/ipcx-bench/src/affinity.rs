//! Pinning the two processes of a pair to different CPUs.

use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// The CPUs this process may run on.
pub fn allowed() -> Vec<usize> {
    let set = sched_getaffinity(None).expect("sched_getaffinity");
    (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect()
}

/// Pins this process to `cpu`.
pub fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu);
    sched_setaffinity(None, &set).expect("sched_setaffinity");
}
