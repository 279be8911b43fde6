//! What `ipcx bench` measured, as written by `--json` (and read back by
//! `ipcx advise --from`). The schema is these structs; times are in
//! nanoseconds, rates per second.

use serde::{Deserialize, Serialize};

/// Layout version of the JSON.
pub(crate) const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Results {
    pub(crate) version: u32,
    /// Seconds since the Unix epoch when the run started.
    pub(crate) started: u64,
    pub(crate) quick: bool,
    pub(crate) machine: Machine,
    pub(crate) latency: Vec<LatencyPoint>,
    pub(crate) throughput: Vec<ThroughputPoint>,
    /// Points not measured, and why (e.g. above a kernel's message size).
    pub(crate) skipped: Vec<Skipped>,
    /// How cost grows with peers (`--scaling`); absent in older results.
    #[serde(default)]
    pub(crate) scaling: Vec<ScalingPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    /// The two CPUs the pair was pinned to; `null` when only one was allowed.
    pub(crate) pinned: Option<(usize, usize)>,
    /// One-way cache-line transfer between the two CPUs (the floor for any
    /// shared-memory latency).
    pub(crate) cache_line_ns: f64,
    /// Single-core memcpy bandwidth (the ceiling for copying transports).
    pub(crate) memcpy_gbps: f64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub(crate) struct Percentiles {
    pub(crate) p50: f64,
    pub(crate) p90: f64,
    pub(crate) p99: f64,
    pub(crate) p999: f64,
    pub(crate) max: f64,
}

impl Percentiles {
    /// Of `samples` (sorted here); outliers stay in.
    pub(crate) fn of(samples: &mut [f64]) -> Percentiles {
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            p999: at(0.999),
            max: samples[samples.len() - 1],
        }
    }

    /// The larger of each percentile.
    pub(crate) fn worst(self, other: Percentiles) -> Percentiles {
        Percentiles {
            p50: self.p50.max(other.p50),
            p90: self.p90.max(other.p90),
            p99: self.p99.max(other.p99),
            p999: self.p999.max(other.p999),
            max: self.max.max(other.max),
        }
    }

    pub(crate) fn halved(self) -> Percentiles {
        Percentiles {
            p50: self.p50 / 2.0,
            p90: self.p90 / 2.0,
            p99: self.p99 / 2.0,
            p999: self.p999 / 2.0,
            max: self.max / 2.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LatencyPoint {
    pub(crate) mechanism: String,
    /// "ipcx" (`wait=adaptive`), "ipcx+block" (`wait=block`), "raw"
    /// (blocking syscalls), "raw+poll" (syscalls that poll 20 µs before
    /// the blocking one) or "call".
    pub(crate) implementation: String,
    pub(crate) size: usize,
    pub(crate) samples: usize,
    pub(crate) round_trip: Percentiles,
    pub(crate) one_way: Percentiles,
    /// CPU time per round trip, both processes together (what waiting by
    /// polling costs shows here); absent in older results.
    #[serde(default)]
    pub(crate) cpu_per_message_ns: Option<f64>,
    /// Share of the machine's CPU time used by other processes meanwhile.
    pub(crate) others_load: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ThroughputPoint {
    pub(crate) mechanism: String,
    pub(crate) implementation: String,
    pub(crate) size: usize,
    /// Messages sent, over all the streams.
    pub(crate) messages: usize,
    /// Messages sent but never received (UDP drops under load).
    pub(crate) lost: usize,
    /// The median of `runs`.
    pub(crate) messages_per_s: f64,
    /// Messages/s of each stream, in the order they ran (older results
    /// have none).
    #[serde(default)]
    pub(crate) runs: Vec<f64>,
    pub(crate) bytes_per_s: f64,
    /// CPU time per message, both processes together, in the median
    /// stream; absent in older results.
    #[serde(default)]
    pub(crate) cpu_per_message_ns: Option<f64>,
    pub(crate) others_load: f64,
}

/// One point of a curve of `--scaling`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ScalingPoint {
    /// "fan-in" (`peers` senders into one receiver) or "broadcast" (one
    /// sender, `peers` readers of one ring, each reading every message).
    pub(crate) test: String,
    pub(crate) mechanism: String,
    pub(crate) size: usize,
    pub(crate) peers: usize,
    /// Messages received in all (fan-in), or by each reader (broadcast).
    pub(crate) messages: usize,
    /// Messages/s received: by the one receiver (fan-in), or by all the
    /// readers together (broadcast).
    pub(crate) aggregate_per_s: f64,
    /// Messages/s of each peer: each sender's as received (fan-in), each
    /// reader's (broadcast).
    pub(crate) per_peer: Vec<f64>,
    /// Send-to-receive delay of each message, stamped with the sender's
    /// clock; the streams are saturated, so this includes time queued.
    /// Broadcast: the worst reader's percentiles.
    pub(crate) delay: Percentiles,
    /// CPU time of every process of the point per message sent.
    pub(crate) cpu_per_message_ns: Option<f64>,
    /// The figure (see [`ScalingPoint::figure`]) of each run, in the
    /// order they ran; the point is the run of the median.
    pub(crate) runs: Vec<f64>,
    pub(crate) others_load: f64,
}

impl ScalingPoint {
    /// Messages/s per peer, averaged.
    pub(crate) fn mean_per_peer(&self) -> f64 {
        self.per_peer.iter().sum::<f64>() / self.per_peer.len().max(1) as f64
    }

    /// What the curve is about: the one receiver's rate (fan-in), or a
    /// reader's, averaged over the readers (broadcast).
    pub(crate) fn figure(&self) -> f64 {
        if self.test == "fan-in" {
            self.aggregate_per_s
        } else {
            self.mean_per_peer()
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Skipped {
    pub(crate) mechanism: String,
    pub(crate) size: usize,
    pub(crate) why: String,
}

/// Above this share of CPU time used by others, a point is marked noisy.
pub(crate) const NOISY: f64 = 0.10;

impl Results {
    /// The payload sizes latency was measured at, ascending.
    pub(crate) fn latency_sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.latency.iter().map(|p| p.size).collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    pub(crate) fn latency_of(
        &self,
        mechanism: &str,
        imp: &str,
        size: usize,
    ) -> Option<&LatencyPoint> {
        self.latency
            .iter()
            .find(|p| p.mechanism == mechanism && p.implementation == imp && p.size == size)
    }

    pub(crate) fn throughput_of(
        &self,
        mechanism: &str,
        imp: &str,
        size: usize,
    ) -> Option<&ThroughputPoint> {
        self.throughput
            .iter()
            .find(|p| p.mechanism == mechanism && p.implementation == imp && p.size == size)
    }
}

/// The raw baseline an implementation is compared with: the one at the
/// same waiting policy (ipcx's default polls, so its baseline polls too).
pub(crate) fn baseline_of(implementation: &str) -> &'static [&'static str] {
    match implementation {
        // Calls wait as ipcx's default does. Older results have no
        // raw+poll: the blocking raw loop then.
        "ipcx" | "call" => &["raw+poll", "raw"],
        "ipcx+block" => &["raw"],
        _ => &[],
    }
}
