//! What `ipcx top` shows: the counters every ipcx process publishes
//! (`ipcx::stats`), read twice to get rates, joined with the kernel's view
//! of each endpoint's object (`ipcx ls`'s inventory) for queue depth and
//! peers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ipcx::stats::{ProcessStats, Role};
use serde::Serialize;

use crate::inventory::{Inventory, Kind, Object};

/// One reading of every process's counters.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) at: Instant,
    pub(crate) procs: Vec<ProcessStats>,
}

impl Sample {
    pub(crate) fn take() -> Sample {
        Sample {
            at: Instant::now(),
            procs: ipcx::stats::read_all(),
        }
    }
}

/// One endpoint of one process, with rates over the last interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct EndpointRow {
    pub(crate) pid: u32,
    pub(crate) command: String,
    pub(crate) role: Role,
    pub(crate) endpoint: String,
    pub(crate) messages: u64,
    pub(crate) bytes: u64,
    pub(crate) errors: u64,
    pub(crate) blocked_ns: u64,
    pub(crate) messages_per_s: f64,
    pub(crate) bytes_per_s: f64,
    /// Share of the interval a sender spent waiting for room (0..1).
    pub(crate) blocked_fraction: f64,
    /// What waits in the channel, as the kernel (or the ring) says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) queue: Option<String>,
    /// The other processes on the same object.
    pub(crate) peers: Vec<u32>,
}

/// Rows for `cur`, with rates against `prev` (an endpoint new since
/// `prev` is measured from zero).
pub(crate) fn rows(prev: &Sample, cur: &Sample, inventory: Option<&Inventory>) -> Vec<EndpointRow> {
    let secs = cur
        .at
        .duration_since(prev.at)
        .max(Duration::from_millis(1))
        .as_secs_f64();
    let before: HashMap<(u32, &str, Role), (u64, u64, u64)> = prev
        .procs
        .iter()
        .flat_map(|p| {
            p.endpoints.iter().map(move |e| {
                (
                    (p.pid, e.endpoint.as_str(), e.role),
                    (e.messages, e.bytes, e.blocked_ns),
                )
            })
        })
        .collect();
    let mut rows = Vec::new();
    for p in cur.procs.iter().filter(|p| p.alive) {
        let command = std::fs::read_to_string(format!("/proc/{}/comm", p.pid))
            .map(|c| c.trim_end().to_owned())
            .unwrap_or_default();
        for e in &p.endpoints {
            let (m0, b0, blk0) = before
                .get(&(p.pid, e.endpoint.as_str(), e.role))
                .copied()
                .unwrap_or((0, 0, 0));
            let objects = inventory.map_or_else(Vec::new, |inv| on_endpoint(inv, &e.endpoint));
            // This process's own object first (its queue is the one it sees).
            let own = objects
                .iter()
                .find(|o| o.processes.iter().any(|h| h.pid as u32 == p.pid))
                .or(objects.first());
            let mut peers: Vec<u32> = objects
                .iter()
                .flat_map(|o| o.processes.iter().map(|h| h.pid as u32))
                .filter(|pid| *pid != p.pid)
                .collect();
            peers.sort_unstable();
            peers.dedup();
            rows.push(EndpointRow {
                pid: p.pid,
                command: command.clone(),
                role: e.role,
                endpoint: e.endpoint.clone(),
                messages: e.messages,
                bytes: e.bytes,
                errors: e.errors,
                blocked_ns: e.blocked_ns,
                messages_per_s: e.messages.saturating_sub(m0) as f64 / secs,
                bytes_per_s: e.bytes.saturating_sub(b0) as f64 / secs,
                blocked_fraction: (e.blocked_ns.saturating_sub(blk0) as f64 / 1e9 / secs).min(1.0),
                queue: own.and_then(|o| queue_of(o)),
                peers,
            });
        }
    }
    rows.sort_by(|a, b| {
        b.messages_per_s
            .total_cmp(&a.messages_per_s)
            .then(a.endpoint.cmp(&b.endpoint))
            .then(a.pid.cmp(&b.pid))
    });
    rows
}

/// Every kernel object marked with `endpoint`: a listener, its accepted
/// connections and its clients' sockets, or the one queue or ring.
fn on_endpoint<'a>(inv: &'a Inventory, endpoint: &str) -> Vec<&'a Object> {
    inv.objects
        .iter()
        .filter(|o| o.ipcx.as_deref() == Some(endpoint))
        .collect()
}

fn queue_of(o: &Object) -> Option<String> {
    let size = ipcx::endpoint::format_size;
    match o.kind() {
        Kind::Mq | Kind::SysvMsg => o.messages.map(|m| format!("{m} msg")),
        Kind::Unix | Kind::Tcp | Kind::Udp if o.state.as_deref() != Some("listen") => {
            o.recv_queue.map(size)
        }
        _ => o.queued_bytes.map(size),
    }
}

/// `1.2M`, `35k`, `900`: short rates for the table.
pub(crate) fn short(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.1}G", n / 1e9),
        n if n >= 1e6 => format!("{:.1}M", n / 1e6),
        n if n >= 1e4 => format!("{:.0}k", n / 1e3),
        n if n >= 1e3 => format!("{:.1}k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipcx::stats::EndpointStats;

    fn sample(at: Instant, messages: u64) -> Sample {
        Sample {
            at,
            procs: vec![ProcessStats {
                pid: std::process::id(),
                alive: true,
                endpoints: vec![EndpointStats {
                    endpoint: "mq:/x".into(),
                    role: Role::Sender,
                    messages,
                    bytes: messages * 10,
                    errors: 0,
                    blocked_ns: messages * 1_000_000,
                }],
            }],
        }
    }

    #[test]
    fn rates_are_differences_over_the_interval() {
        let t0 = Instant::now();
        let rows = rows(
            &sample(t0, 100),
            &sample(t0 + Duration::from_secs(2), 300),
            None,
        );
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].messages_per_s, 100.0);
        assert_eq!(rows[0].bytes_per_s, 1000.0);
        assert!((rows[0].blocked_fraction - 0.1).abs() < 1e-9);
        assert_eq!(short(1_234_567.0), "1.2M");
        assert_eq!(short(35_000.0), "35k");
    }
}
