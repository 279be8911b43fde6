//! The machine: which CPUs the pair runs on, how busy the rest of the
//! machine was, and the hardware floors (cache-line round trip, memcpy).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use rustix::thread::{sched_getaffinity, sched_setaffinity, CpuSet};

/// The CPUs this process may run on.
pub(crate) fn cpus() -> Vec<usize> {
    match sched_getaffinity(None) {
        Ok(set) => (0..CpuSet::MAX_CPU).filter(|&c| set.is_set(c)).collect(),
        Err(_) => Vec::new(),
    }
}

/// Pins the calling thread (and so a single-threaded process) to `cpu`.
pub(crate) fn pin(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu);
    let _ = sched_setaffinity(None, &set);
}

/// CPU time counters, to tell how much of the machine others used.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Load {
    busy: u64,
    total: u64,
    ours: u64,
}

impl Load {
    pub(crate) fn now() -> Load {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let cpu: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        let total: u64 = cpu.iter().sum();
        let idle = cpu.get(3).copied().unwrap_or(0) + cpu.get(4).copied().unwrap_or(0);
        Load {
            busy: total.saturating_sub(idle),
            total,
            ours: own_ticks(),
        }
    }

    /// The share of the machine's CPU time that others used since `self`.
    pub(crate) fn others_since(&self) -> f64 {
        let now = Load::now();
        let total = now.total.saturating_sub(self.total);
        if total == 0 {
            return 0.0;
        }
        let others = now
            .busy
            .saturating_sub(self.busy)
            .saturating_sub(now.ours.saturating_sub(self.ours));
        others as f64 / total as f64
    }
}

/// utime + stime of this process and its reaped children, in ticks.
fn own_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    // After the command: state is field 3; utime..cstime are fields 14..17.
    rest.split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|v| v.parse::<u64>().ok())
        .sum()
}

/// One-way time for a cache line to move between `a` and `b` (ns): two
/// threads pinned there bounce a counter.
pub(crate) fn cache_line_one_way(a: usize, b: usize, rounds: u64) -> f64 {
    #[repr(align(128))]
    struct Line(AtomicU64);
    let line = Arc::new(Line(AtomicU64::new(0)));
    let other = line.clone();
    let peer = std::thread::spawn(move || {
        pin(b);
        for i in 0..rounds {
            while other.0.load(Ordering::Acquire) != 2 * i + 1 {
                std::hint::spin_loop();
            }
            other.0.store(2 * i + 2, Ordering::Release);
        }
    });
    pin(a);
    let start = Instant::now();
    for i in 0..rounds {
        line.0.store(2 * i + 1, Ordering::Release);
        while line.0.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let elapsed = start.elapsed();
    let _ = peer.join();
    elapsed.as_nanos() as f64 / rounds as f64 / 2.0
}

/// Single-core memcpy bandwidth in GB/s (64 MiB buffers, beyond the caches).
pub(crate) fn memcpy_gbps(rounds: usize) -> f64 {
    let src = vec![1u8; 64 << 20];
    let mut dst = vec![0u8; 64 << 20];
    dst.copy_from_slice(&src); // fault the pages in first
    let start = Instant::now();
    for _ in 0..rounds {
        dst.copy_from_slice(std::hint::black_box(&src));
    }
    std::hint::black_box(&dst);
    (rounds * src.len()) as f64 / start.elapsed().as_secs_f64() / 1e9
}

/// CPU time used so far by this thread and by the peer process, in ns
/// (their CPU-time clocks: exact even while a thread is running, where
/// `/proc/…/schedstat` lags up to a scheduler tick); `None` if the peer's
/// clock cannot be read.
pub(crate) fn pair_cpu_ns(peer: u32) -> Option<u64> {
    Some(clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)? + process_cpu_ns(peer)?)
}

/// CPU time used so far by process `pid`, in ns.
pub(crate) fn process_cpu_ns(pid: u32) -> Option<u64> {
    clock_ns(process_clock(pid)?)
}

/// The CPU-time clock of process `pid`.
#[allow(unsafe_code)]
fn process_clock(pid: u32) -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: writes only `clock`, which lives on this stack frame.
    (unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) } == 0).then_some(clock)
}

/// The now of `clock` in ns.
#[allow(unsafe_code)]
pub(crate) fn clock_ns(clock: libc::clockid_t) -> Option<u64> {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes only `t`, which lives on this stack frame.
    (unsafe { libc::clock_gettime(clock, &mut t) } == 0)
        .then(|| t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64)
}
