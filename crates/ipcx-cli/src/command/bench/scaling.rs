//! How cost grows with peers, each peer a process of its own:
//!
//! * **fan-in**: 1, 2, 4 … senders streaming into one ipcx receiver (a
//!   listener's connections, or one queue every sender writes);
//! * **broadcast**: one ipcx sender into a ring that 1, 2, 4 … readers
//!   each read whole (`shm:` with `readers=N`).
//!
//! Every message carries the time it was sent (`CLOCK_MONOTONIC`, the
//! same clock in every process) and its sender's number, so the receiving
//! side measures each sender's rate and each message's delay. The streams
//! are saturated: a delay includes the time the message spent queued.
//!
//! The one side (the fan-in's receiver, the broadcast's sender) runs on
//! the first of the pinned CPUs and every peer on the second: on a
//! two-CPU machine the peers share one CPU, which the report says.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use ipcx::{Bytes, Receiver, Sender};

use super::machine;
use super::mechanism::Mechanism;
use super::results::{Percentiles, ScalingPoint};

/// Senders into one receiver when `--scaling` gives no list.
pub(crate) const SENDERS: [usize; 5] = [1, 2, 4, 8, 16];
/// Readers of one ring when `--scaling` gives no list.
pub(crate) const READERS: [usize; 4] = [1, 2, 4, 8];
/// The bytes each message starts with: the send time (ns), the sender's number.
const STAMP: usize = 12;
/// How long a receiving side waits for the next message before it calls
/// the run stalled.
const STALL: Duration = Duration::from_secs(20);

/// The two tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Test {
    FanIn,
    Broadcast,
}

impl Test {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Test::FanIn => "fan-in",
            Test::Broadcast => "broadcast",
        }
    }

    /// The mechanisms the test applies to. A ring has one sender at a
    /// time, so it has no fan-in; only a ring has readers that each get
    /// every message. Spinning readers are left out of broadcast: N of
    /// them on fewer CPUs would measure the scheduler's time slice.
    pub(crate) fn applies_to(self, m: Mechanism) -> bool {
        match self {
            Test::FanIn => matches!(
                m,
                Mechanism::Fifo
                    | Mechanism::Unix
                    | Mechanism::SeqPacket
                    | Mechanism::Dgram
                    | Mechanism::Tcp
                    | Mechanism::Mq
                    | Mechanism::SysvMq
            ),
            Test::Broadcast => matches!(m, Mechanism::Shm | Mechanism::ShmBlock),
        }
    }
}

/// One point of a curve to measure.
#[derive(Debug, Clone)]
pub(crate) struct Point {
    pub(crate) test: Test,
    pub(crate) mechanism: Mechanism,
    pub(crate) size: usize,
    pub(crate) peers: usize,
    /// Messages in all (fan-in), or to each reader (broadcast).
    pub(crate) messages: usize,
    pub(crate) dir: String,
    pub(crate) tag: String,
    /// The CPUs of the one side and of the peers.
    pub(crate) cpus: Option<(usize, usize)>,
}

/// The now of `CLOCK_MONOTONIC` in ns: comparable across processes.
fn now_ns() -> u64 {
    machine::clock_ns(libc::CLOCK_MONOTONIC).unwrap_or(0)
}

/// A message of `size` bytes stamped with the time and sender `index`.
fn stamp(msg: &mut [u8], index: u32) {
    msg[..8].copy_from_slice(&now_ns().to_ne_bytes());
    msg[8..STAMP].copy_from_slice(&index.to_ne_bytes());
}

/// The stamp of a received message: (sent at, sender), if it has one.
fn read_stamp(m: &[u8]) -> Option<(u64, u32)> {
    let sent = u64::from_ne_bytes(m.get(..8)?.try_into().ok()?);
    let index = u32::from_ne_bytes(m.get(8..STAMP)?.try_into().ok()?);
    Some((sent, index))
}

/// What one receiving side saw: per sender, its count and its first and
/// last arrival; every message's delay.
struct Arrivals {
    per_sender: Vec<(usize, u64, u64)>,
    delays: Vec<f64>,
}

impl Arrivals {
    fn new(senders: usize, expected: usize) -> Arrivals {
        Arrivals {
            per_sender: vec![(0, u64::MAX, 0); senders],
            delays: Vec::with_capacity(expected),
        }
    }

    fn take(&mut self, m: &[u8]) -> Result<()> {
        let now = now_ns();
        let (sent, index) = read_stamp(m).context("a message without its stamp")?;
        let slot = self
            .per_sender
            .get_mut(index as usize)
            .with_context(|| format!("a message from sender {index}, who does not exist"))?;
        slot.0 += 1;
        slot.1 = slot.1.min(now);
        slot.2 = now;
        self.delays.push(now.saturating_sub(sent) as f64);
        Ok(())
    }

    /// Messages/s of each sender, first to last arrival.
    fn rates(&self) -> Vec<f64> {
        self.per_sender
            .iter()
            .map(|&(n, first, last)| rate(n, first, last))
            .collect()
    }

    /// All messages/s, from the first arrival of any to the last.
    fn aggregate(&self) -> f64 {
        let n = self.per_sender.iter().map(|s| s.0).sum();
        let first = self.per_sender.iter().map(|s| s.1).min().unwrap_or(0);
        let last = self.per_sender.iter().map(|s| s.2).max().unwrap_or(0);
        rate(n, first, last)
    }
}

/// `n` messages between the first and the last arrival: n − 1 intervals.
fn rate(n: usize, first: u64, last: u64) -> f64 {
    if n < 2 || last <= first {
        return 0.0;
    }
    (n - 1) as f64 / ((last - first) as f64 * 1e-9)
}

/// The peers of a point, started and each waiting for its word.
struct Peers {
    children: Vec<Child>,
    stdins: Vec<ChildStdin>,
    stdouts: Vec<BufReader<ChildStdout>>,
}

impl Peers {
    fn start(point: &Point, role: &str, ep: &str, per_peer: usize) -> Result<Peers> {
        let mut peers = Peers {
            children: Vec::new(),
            stdins: Vec::new(),
            stdouts: Vec::new(),
        };
        for index in 0..point.peers {
            let mut cmd = Command::new(std::env::current_exe()?);
            cmd.arg("bench-peer")
                .env("IPCX_BENCH_SCALING", role)
                .env("IPCX_BENCH_EP", ep)
                .env("IPCX_BENCH_INDEX", index.to_string())
                .env("IPCX_BENCH_SIZE", point.size.to_string())
                .env("IPCX_BENCH_COUNT", per_peer.to_string())
                .env(
                    "IPCX_BENCH_CPU",
                    point.cpus.map_or(String::new(), |(_, b)| b.to_string()),
                )
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit());
            let mut child = cmd.spawn().context("start a peer")?;
            peers.stdins.push(child.stdin.take().expect("piped"));
            peers
                .stdouts
                .push(BufReader::new(child.stdout.take().expect("piped")));
            peers.children.push(child);
        }
        for out in &mut peers.stdouts {
            let line = read_line(out)?;
            if line != "READY" {
                bail!("a peer did not start: `{line}`");
            }
        }
        Ok(peers)
    }

    /// Tells every peer a word: `go`, or `done`.
    fn tell(&mut self, word: &str) -> Result<()> {
        for input in &mut self.stdins {
            writeln!(input, "{word}").context("tell a peer")?;
        }
        Ok(())
    }

    /// CPU ns used so far by the peers and this thread.
    fn cpu_ns(&self) -> Option<u64> {
        let mut total = machine::pair_cpu_ns(self.children.first()?.id())?;
        for child in &self.children[1..] {
            total += machine::process_cpu_ns(child.id())?;
        }
        Some(total)
    }

    fn finish(mut self) -> Result<()> {
        drop(std::mem::take(&mut self.stdins));
        for child in &mut self.children {
            super::finish(child)?;
        }
        Ok(())
    }
}

impl Drop for Peers {
    fn drop(&mut self) {
        for child in &mut self.children {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn read_line(out: &mut BufReader<ChildStdout>) -> Result<String> {
    let mut line = String::new();
    out.read_line(&mut line).context("read a peer's line")?;
    Ok(line.trim().to_owned())
}

/// Measures one point: [`super::STREAMS`] runs, each with fresh peers
/// and channel, and keeps the run whose figure is the median (streams
/// settle in a fast or a slow regime, as in the pair's throughput).
pub(crate) fn measure(point: &Point, renew: impl Fn() -> Result<()>) -> Result<ScalingPoint> {
    let load = machine::Load::now();
    let mut runs = Vec::with_capacity(super::STREAMS);
    for k in 0..super::STREAMS {
        renew()?;
        let run = Point {
            tag: format!("{}-{k}", point.tag),
            ..point.clone()
        };
        runs.push(match point.test {
            Test::FanIn => fan_in(&run),
            Test::Broadcast => broadcast(&run),
        }?);
    }
    let figures: Vec<f64> = runs.iter().map(ScalingPoint::figure).collect();
    let median = super::median(&figures);
    let mut kept = runs
        .into_iter()
        .min_by(|a, b| {
            (a.figure() - median)
                .abs()
                .total_cmp(&(b.figure() - median).abs())
        })
        .context("no run")?;
    kept.runs = figures;
    kept.others_load = load.others_since();
    Ok(kept)
}

/// The ring's endpoint for `readers` readers.
fn ring_endpoint(point: &Point) -> String {
    let ep = point
        .mechanism
        .endpoint(&point.dir, &point.tag, "bcast", point.size);
    format!("{ep}&readers={}", point.peers)
}

/// The fan-in receiver's endpoint: it serves, so that a sender that
/// finishes early does not end the channel for the others.
fn fan_in_endpoint(point: &Point) -> String {
    let ep = point
        .mechanism
        .endpoint(&point.dir, &point.tag, "fanin", point.size);
    let sep = if ep.contains('?') { '&' } else { '?' };
    format!("{ep}{sep}serve=true")
}

fn fan_in(point: &Point) -> Result<ScalingPoint> {
    let rx = Receiver::<Bytes>::open(fan_in_endpoint(point))?;
    let ep = rx.endpoint().to_string();
    let per_sender = (point.messages / point.peers).max(20);
    let total = per_sender * point.peers;
    let mut peers = Peers::start(point, "sender", &ep, per_sender)?;
    let mut arrivals = Arrivals::new(point.peers, total);
    peers.tell("go")?;
    let mut cpu_at_start = None;
    for got in 0..total {
        let taken = rx
            .recv_bytes_with(Some(STALL), |m| arrivals.take(m))
            .map_err(|e| anyhow!("after {got} of {total} messages: {e}"))?;
        taken?;
        if got == 0 {
            cpu_at_start = peers.cpu_ns();
        }
    }
    let cpu = cpu_per(cpu_at_start, peers.cpu_ns(), total - 1);
    peers.tell("done")?;
    peers.finish()?;
    Ok(ScalingPoint {
        test: Test::FanIn.name().into(),
        mechanism: point.mechanism.name().into(),
        size: point.size,
        peers: point.peers,
        messages: total,
        aggregate_per_s: arrivals.aggregate(),
        per_peer: arrivals.rates(),
        delay: Percentiles::of(&mut arrivals.delays),
        cpu_per_message_ns: cpu,
        runs: Vec::new(),
        others_load: 0.0,
    })
}

fn broadcast(point: &Point) -> Result<ScalingPoint> {
    let ep = ring_endpoint(point);
    let count = point.messages.max(20);
    let mut peers = Peers::start(point, "reader", &ep, count)?;
    let tx = Sender::<Bytes>::open_timeout(ep.as_str(), Duration::from_secs(20))?;
    let cpu_at_start = peers.cpu_ns();
    let mut msg = vec![0u8; point.size.max(STAMP)];
    for _ in 0..count {
        stamp(&mut msg, 0);
        tx.send_bytes(&msg[..]).map_err(|e| anyhow!("{e}"))?;
    }
    let mut per_peer = Vec::with_capacity(point.peers);
    let mut worst: Option<Percentiles> = None;
    for out in &mut peers.stdouts {
        let line = read_line(out)?;
        let result = ReaderResult::parse(&line)
            .with_context(|| format!("a reader's result was `{line}`"))?;
        per_peer.push(result.rate);
        worst = Some(worst.map_or(result.delay, |w| w.worst(result.delay)));
    }
    let cpu = cpu_per(cpu_at_start, peers.cpu_ns(), count);
    drop(tx);
    peers.finish()?;
    let aggregate = per_peer.iter().sum();
    Ok(ScalingPoint {
        test: Test::Broadcast.name().into(),
        mechanism: point.mechanism.name().into(),
        size: point.size,
        peers: point.peers,
        messages: count,
        aggregate_per_s: aggregate,
        per_peer,
        delay: worst.context("no reader")?,
        cpu_per_message_ns: cpu,
        runs: Vec::new(),
        others_load: 0.0,
    })
}

fn cpu_per(start: Option<u64>, end: Option<u64>, messages: usize) -> Option<f64> {
    Some(end?.saturating_sub(start?) as f64 / messages.max(1) as f64)
}

/// What a broadcast reader reports on its last line.
struct ReaderResult {
    rate: f64,
    delay: Percentiles,
}

impl ReaderResult {
    fn line(rate: f64, d: &Percentiles) -> String {
        format!(
            "RESULT {rate} {} {} {} {} {}",
            d.p50, d.p90, d.p99, d.p999, d.max
        )
    }

    fn parse(line: &str) -> Option<ReaderResult> {
        let v: Vec<f64> = line
            .strip_prefix("RESULT ")?
            .split(' ')
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        let [rate, p50, p90, p99, p999, max] = v[..] else {
            return None;
        };
        Some(ReaderResult {
            rate,
            delay: Percentiles {
                p50,
                p90,
                p99,
                p999,
                max,
            },
        })
    }
}

/// The role of a `bench-peer` started by this module, if it was.
pub(crate) fn peer_role() -> Option<String> {
    std::env::var("IPCX_BENCH_SCALING").ok()
}

fn env(key: &str) -> Result<String> {
    std::env::var(format!("IPCX_BENCH_{key}")).with_context(|| format!("IPCX_BENCH_{key}"))
}

/// A peer process: one of the fan-in's senders or of the ring's readers.
pub(crate) fn peer_main(role: &str) -> Result<()> {
    if let Ok(cpu) = env("CPU")?.parse::<usize>() {
        machine::pin(cpu);
    }
    let ep = env("EP")?;
    let size: usize = env("SIZE")?.parse()?;
    let count: usize = env("COUNT")?.parse()?;
    let mut words = std::io::stdin().lock().lines();
    let mut wait_for = |word: &str| -> Result<()> {
        match words.next() {
            Some(Ok(line)) if line == word => Ok(()),
            other => bail!("expected `{word}`, got {other:?}"),
        }
    };
    match role {
        "sender" => {
            let index: u32 = env("INDEX")?.parse()?;
            let tx = Sender::<Bytes>::open_timeout(ep.as_str(), Duration::from_secs(20))?;
            println!("READY");
            wait_for("go")?;
            let mut msg = vec![0u8; size.max(STAMP)];
            for _ in 0..count {
                stamp(&mut msg, index);
                tx.send_bytes(&msg[..]).map_err(|e| anyhow!("{e}"))?;
            }
            // Stay until everything is read: some transports take the last
            // sender's leaving for the end of the channel.
            wait_for("done")?;
            Ok(())
        }
        "reader" => {
            let rx = Receiver::<Bytes>::open(ep.as_str())?;
            println!("READY");
            let mut arrivals = Arrivals::new(1, count);
            for got in 0..count {
                rx.recv_bytes_with(Some(STALL), |m| arrivals.take(m))
                    .map_err(|e| anyhow!("reader: after {got} of {count} messages: {e}"))??;
            }
            let rate = arrivals.aggregate();
            println!(
                "{}",
                ReaderResult::line(rate, &Percentiles::of(&mut arrivals.delays))
            );
            Ok(())
        }
        other => bail!("unknown scaling role `{other}`"),
    }
}
