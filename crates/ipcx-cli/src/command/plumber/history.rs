//! What the live view remembers between looks: the fill level over time
//! (the sparkline) and each end's bytes moved, for a rate.
//!
//! A rate is the change of the process's `rchar` (readers) or `wchar`
//! (writers) in `/proc/PID/io` between two looks: everything the process
//! read or wrote through any fd, so for a program that only moves this
//! pipe's data it is the pipe's rate. It needs the same rights as the
//! blocked states; without them it is unknown, not guessed. Queues move
//! messages with their own calls, which `/proc/PID/io` does not count:
//! their rates are unknown too.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use super::look::Look;

/// Looks remembered for the sparkline.
const KEPT: usize = 240;

#[derive(Debug, Default)]
pub(crate) struct History {
    /// Fill level of each look, in per mille of capacity.
    pub(crate) fill: VecDeque<u64>,
    /// Last (time, bytes) of each (pid, writing?).
    moved: HashMap<(i32, bool), (Instant, u64)>,
    /// Bytes per second of each (pid, writing?) at the last look.
    pub(crate) rates: HashMap<(i32, bool), f64>,
}

impl History {
    pub(crate) fn push(&mut self, look: &Look) {
        if let (Some(q), Some(c)) = (look.queued, look.capacity) {
            if self.fill.len() == KEPT {
                self.fill.pop_front();
            }
            self.fill.push_back((q * 1000).checked_div(c).unwrap_or(0));
        }
        let now = Instant::now();
        let ends = look
            .writers
            .iter()
            .map(|e| (e.pid, true))
            .chain(look.readers.iter().map(|e| (e.pid, false)));
        let mut rates = HashMap::new();
        let mut moved = HashMap::new();
        for key in ends {
            let Some(bytes) = (look.unit == "bytes")
                .then(|| io_bytes(key.0, key.1))
                .flatten()
            else {
                continue;
            };
            if let Some(&(then, before)) = self.moved.get(&key) {
                let dt = now.duration_since(then).as_secs_f64();
                if dt > 0.0 {
                    rates.insert(key, bytes.saturating_sub(before) as f64 / dt);
                }
            }
            moved.insert(key, (now, bytes));
        }
        self.moved = moved;
        self.rates = rates;
    }

    /// Bytes per second into the buffer (its writers) and out (its readers).
    pub(crate) fn through(&self) -> (Option<f64>, Option<f64>) {
        let sum = |writing: bool| {
            let mut it = self
                .rates
                .iter()
                .filter(|((_, w), _)| *w == writing)
                .peekable();
            it.peek().is_some().then(|| it.map(|(_, r)| r).sum())
        };
        (sum(true), sum(false))
    }
}

/// `wchar` (writing) or `rchar` of `/proc/PID/io`.
fn io_bytes(pid: i32, writing: bool) -> Option<u64> {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).ok()?;
    let key = if writing { "wchar:" } else { "rchar:" };
    io.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().parse().ok())
}
