//! `ipcx bench`: every mechanism measured between two real processes on
//! this machine, ipcx next to the same mechanism driven by raw syscalls,
//! with the hardware floors, in one run.
//!
//! Each point is a fresh pair of processes (`ipcx bench-peer`), pinned to
//! two different CPUs when the machine allows. Latency is a ping-pong
//! (the payload written and read on both sides; one-way = round trip / 2,
//! a tenth of the rounds as warm-up, outliers kept); throughput is one
//! side streaming to the other, [`STREAMS`] times with a third of the
//! messages each, and the median kept: a stream can settle in a slow or a
//! fast regime (loopback TCP does, raw or not), and one stream per point
//! made the ipcx/raw ratio a coin toss.

mod link;
pub(crate) mod machine;
pub(crate) mod mechanism;
mod pair;
mod plots;
mod poll;
mod raw;
pub(crate) mod report;
pub(crate) mod results;
mod scaling;
mod scaling_report;
mod signal;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use clap::Args;

use crate::duration::parse_duration;
use mechanism::Mechanism;
use pair::{Implementation, Role, Spec};
use results::{
    LatencyPoint, Machine, Percentiles, Results, ScalingPoint, Skipped, ThroughputPoint,
};

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A short run (a few seconds per mechanism, under 30 s in all on 2 cores).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Print every figure as JSON (the schema: docs/bench.md).
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write an HTML page with plots to this file.
    #[arg(long, value_name = "FILE.html")]
    pub(crate) report: Option<std::path::PathBuf>,
    /// Which mechanisms, comma-separated (default: all): pipe, fifo, unix,
    /// unix+seqpacket, unix+dgram, tcp, udp, mq, sysvmq, shm, shm+spin,
    /// shm+block, shm+loan (the payload written and read in the ring).
    #[arg(long, value_name = "LIST")]
    pub(crate) mechanisms: Option<String>,
    /// Payload sizes, comma-separated (default 64,4KiB,64KiB,1MiB; --quick 64,64KiB).
    #[arg(long, value_name = "LIST")]
    pub(crate) sizes: Option<String>,
    /// Multiply the number of rounds and messages (e.g. 0.1 or 5).
    #[arg(long, value_name = "FACTOR")]
    pub(crate) scale: Option<f64>,
    /// Exactly this many ping-pong rounds and streamed messages per point.
    #[arg(long, value_name = "N", conflicts_with = "scale")]
    pub(crate) count: Option<usize>,
    /// About this long per point and test (e.g. 200ms, 2s): each point is
    /// first timed on a short run, then its counts are set to fill it.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", conflicts_with_all = ["scale", "count"])]
    pub(crate) duration: Option<std::time::Duration>,
    /// Also measure how cost grows with peers, at the smallest size: 1, 2,
    /// 4, 8 and 16 senders into one receiver (fan-in: fifo, unix,
    /// unix+seqpacket, unix+dgram, tcp, mq, sysvmq) and 1, 2, 4 and 8
    /// readers of one ring (broadcast: shm, shm+block).
    #[arg(long)]
    pub(crate) scaling: bool,
    /// Measure only the curves of --scaling, none of the pairs.
    #[arg(long)]
    pub(crate) scaling_only: bool,
    /// The fan-in's numbers of senders, comma-separated (implies --scaling).
    #[arg(long, value_name = "LIST")]
    pub(crate) senders: Option<String>,
    /// The broadcast's numbers of readers, comma-separated, each 1 to 64
    /// (implies --scaling).
    #[arg(long, value_name = "LIST")]
    pub(crate) readers: Option<String>,
}

pub(crate) use pair::peer_main;

/// What to measure.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub(crate) mechanisms: Vec<Mechanism>,
    pub(crate) sizes: Vec<usize>,
    pub(crate) quick: bool,
    /// Multiplies the default message counts.
    pub(crate) scale: f64,
    /// Overrides them.
    pub(crate) count: Option<usize>,
    /// Sizes the counts of each point to take about this long.
    pub(crate) duration: Option<Duration>,
    /// Fan-in senders per point (empty: no fan-in curves).
    pub(crate) senders: Vec<usize>,
    /// Broadcast readers per point (empty: no broadcast curves).
    pub(crate) readers: Vec<usize>,
    /// Measure the pairs (false: the scaling curves only).
    pub(crate) pairs: bool,
}

/// A comma-separated list of peer counts, each in `range`.
fn peer_counts(list: &str, range: std::ops::RangeInclusive<usize>) -> Result<Vec<usize>> {
    list.split(',')
        .map(|n| {
            n.trim()
                .parse()
                .ok()
                .filter(|n| range.contains(n))
                .with_context(|| {
                    format!(
                        "`{n}` is not a number of peers from {} to {}",
                        range.start(),
                        range.end()
                    )
                })
        })
        .collect()
}

impl Plan {
    pub(crate) fn from_args(args: &BenchArgs) -> Result<Plan> {
        let mechanisms = match &args.mechanisms {
            None => Mechanism::ALL.to_vec(),
            Some(list) => list
                .split(',')
                .map(|m| {
                    Mechanism::parse(m.trim()).with_context(|| {
                        let names: Vec<_> = Mechanism::ALL.iter().map(|m| m.name()).collect();
                        format!("unknown mechanism `{m}` (known: {})", names.join(", "))
                    })
                })
                .collect::<Result<_>>()?,
        };
        let sizes = match &args.sizes {
            Some(list) => list
                .split(',')
                .map(|s| {
                    ipcx::endpoint::parse_size(s.trim())
                        .map(|n| n as usize)
                        .filter(|n| (1..=64 << 20).contains(n))
                        .with_context(|| format!("`{s}` is not a size from 1 byte to 64MiB"))
                })
                .collect::<Result<_>>()?,
            None if args.quick => vec![64, 64 << 10],
            None => vec![64, 4 << 10, 64 << 10, 1 << 20],
        };
        let scaling =
            args.scaling || args.scaling_only || args.senders.is_some() || args.readers.is_some();
        let senders = match &args.senders {
            Some(list) => peer_counts(list, 1..=256)?,
            None if scaling => scaling::SENDERS.to_vec(),
            None => Vec::new(),
        };
        let readers = match &args.readers {
            Some(list) => peer_counts(list, 1..=64)?,
            None if scaling => scaling::READERS.to_vec(),
            None => Vec::new(),
        };
        Ok(Plan {
            mechanisms,
            sizes,
            quick: args.quick,
            scale: args.scale.unwrap_or(1.0),
            count: args.count.map(|n| n.max(20)),
            duration: args.duration,
            senders,
            readers,
            pairs: !args.scaling_only,
        })
    }

    fn rounds(&self, size: usize) -> usize {
        if let Some(n) = self.count {
            return n;
        }
        let base = if self.quick { 2_000.0 } else { 20_000.0 };
        let by_size = if size > 64 << 10 { 0.1 } else { 1.0 };
        ((base * by_size * self.scale) as usize).max(50)
    }

    fn stream_count(&self, size: usize) -> usize {
        if let Some(n) = self.count {
            return n;
        }
        let bytes = if self.quick { 32e6 } else { 512e6 };
        ((bytes * self.scale / size as f64) as usize)
            .clamp(100, if self.quick { 100_000 } else { 2_000_000 })
    }
}

pub(crate) fn run(args: BenchArgs) -> Result<ExitCode> {
    let plan = Plan::from_args(&args)?;
    let results = measure(&plan, !args.json && std::io::stderr().is_terminal())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        report::print_table(&results);
    }
    if let Some(path) = &args.report {
        std::fs::write(path, report::html(&results))
            .with_context(|| format!("cannot write the report to {}", path.display()))?;
        if !args.json {
            println!("\nreport written to {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs the plan.
pub(crate) fn measure(plan: &Plan, progress: bool) -> Result<Results> {
    let started = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cpus = machine::cpus();
    let pinned = match cpus.as_slice() {
        [a, b, ..] => Some((*a, *b)),
        _ => None,
    };
    if pinned.is_none() && progress {
        eprintln!("ipcx bench: one CPU allowed: both processes share it");
    }
    let (a, b) = pinned.unwrap_or((0, 0));
    let machine = Machine {
        cpus: cpus.len(),
        pinned,
        cache_line_ns: if pinned.is_some() {
            machine::cache_line_one_way(a, b, if plan.quick { 200_000 } else { 2_000_000 })
        } else {
            f64::NAN
        },
        memcpy_gbps: machine::memcpy_gbps(if plan.quick { 4 } else { 20 }),
    };
    if pinned.is_some() {
        machine::pin(a);
    }
    let scratch = Scratch::new()?;
    let dir = scratch.0.clone();
    let mut results = Results {
        version: results::VERSION,
        started,
        quick: plan.quick,
        machine,
        latency: Vec::new(),
        throughput: Vec::new(),
        skipped: Vec::new(),
        scaling: Vec::new(),
    };
    let mut points = Vec::new();
    for &m in plan.mechanisms.iter().filter(|_| plan.pairs) {
        // A signal carries one fixed-size value: measured at that size only.
        let sizes = match m.fixed_size() {
            Some(size) => vec![size],
            None => plan.sizes.clone(),
        };
        for size in sizes {
            if let Some((limit, why)) = m.limit().filter(|&(l, _)| size > l) {
                results.skipped.push(Skipped {
                    mechanism: m.name().into(),
                    size,
                    why: format!("{size} bytes is above {limit}: {why}"),
                });
                continue;
            }
            points.push((m, size, Implementation::Ipcx));
            if m.has_raw() {
                points.push((m, size, Implementation::Raw));
            }
            if m.has_policies() {
                points.push((m, size, Implementation::RawPoll));
                points.push((m, size, Implementation::IpcxBlock));
            }
            if m.has_calls() {
                points.push((m, size, Implementation::Call));
            }
        }
    }
    // Calls: latency only (one caller's calls per second are 1 / latency).
    let total: usize = points.iter().map(|&(_, _, imp)| tests_of(imp).len()).sum();
    let mut done = 0;
    let run_started = Instant::now();
    for (n, (m, size, imp)) in points.into_iter().enumerate() {
        let spec = Spec {
            mechanism: m,
            imp,
            role: Role::Echo,
            size,
            count: plan.rounds(size),
            dir: dir.to_str().context("temp dir")?.to_owned(),
            tag: format!("ipcx-bench-{}-{n}", std::process::id()),
            cpu: pinned.map(|(_, b)| b),
        };
        let imp = imp.name();
        for &test in tests_of(spec.imp) {
            done += 1;
            if progress {
                eprint!(
                    "\r\x1b[K[{done}/{total}] {:>5.1}s  {} {imp} {test} {size} B",
                    run_started.elapsed().as_secs_f64(),
                    m.name()
                );
            }
            let what = format!("{} ({imp}) {test} at {size} bytes", m.name());
            let spec = Spec {
                role: if test == "latency" {
                    Role::Echo
                } else {
                    Role::Source
                },
                count: if test == "latency" {
                    spec.count
                } else {
                    plan.stream_count(size)
                },
                tag: format!("{}-{}", spec.tag, &test[..1]),
                ..spec.clone()
            };
            scratch.renew()?;
            let spec = match plan.duration {
                Some(d) => {
                    let sized = fill(&spec, d).with_context(|| what.clone())?;
                    scratch.renew()?;
                    sized
                }
                None => spec,
            };
            let load = machine::Load::now();
            if test == "latency" {
                let (mut rtts, cpu) = latency(&spec).with_context(|| what.clone())?;
                let round_trip = Percentiles::of(&mut rtts);
                results.latency.push(LatencyPoint {
                    mechanism: m.name().into(),
                    implementation: imp.into(),
                    size,
                    samples: rtts.len(),
                    round_trip,
                    one_way: round_trip.halved(),
                    cpu_per_message_ns: cpu,
                    others_load: load.others_since(),
                });
            } else {
                let per_stream = (spec.count / STREAMS).max(20);
                let mut runs = Vec::with_capacity(STREAMS);
                let mut cpus = Vec::with_capacity(STREAMS);
                let mut lost = 0;
                for k in 0..STREAMS {
                    if k > 0 {
                        // A fresh directory per pair (raw sockets are bound there).
                        scratch.renew()?;
                    }
                    let stream = Spec {
                        count: per_stream,
                        tag: format!("{}{k}", spec.tag),
                        ..spec.clone()
                    };
                    let (rate, lost_here, cpu) =
                        throughput(&stream).with_context(|| what.clone())?;
                    runs.push(rate);
                    cpus.push((rate, cpu));
                    lost += lost_here;
                }
                let rate = median(&runs);
                // The CPU figure of the stream whose rate is the median.
                let cpu = cpus.iter().find(|(r, _)| *r == rate).and_then(|(_, c)| *c);
                results.throughput.push(ThroughputPoint {
                    mechanism: m.name().into(),
                    implementation: imp.into(),
                    size,
                    messages: per_stream * STREAMS,
                    lost,
                    messages_per_s: rate,
                    runs,
                    bytes_per_s: rate * size as f64,
                    cpu_per_message_ns: cpu,
                    others_load: load.others_since(),
                });
            }
        }
    }
    results.scaling = measure_scaling(plan, &scratch, pinned, progress, run_started)?;
    if progress {
        eprintln!(
            "\r\x1b[Kdone in {:.1}s",
            run_started.elapsed().as_secs_f64()
        );
    }
    Ok(results)
}

/// The curves of `--scaling`, at the plan's smallest size.
fn measure_scaling(
    plan: &Plan,
    scratch: &Scratch,
    cpus: Option<(usize, usize)>,
    progress: bool,
    run_started: Instant,
) -> Result<Vec<ScalingPoint>> {
    let size = plan.sizes.iter().copied().min().unwrap_or(64);
    let mut curves = Vec::new();
    for (test, peers) in [
        (scaling::Test::FanIn, &plan.senders),
        (scaling::Test::Broadcast, &plan.readers),
    ] {
        for &m in plan.mechanisms.iter().filter(|&&m| test.applies_to(m)) {
            if !peers.is_empty() {
                curves.push((test, m, peers));
            }
        }
    }
    let renew = || scratch.renew();
    let mut points = Vec::new();
    for (n, (test, m, peers)) in curves.into_iter().enumerate() {
        let point = |peers, messages| scaling::Point {
            test,
            mechanism: m,
            size,
            peers,
            messages,
            dir: scratch.0.to_string_lossy().into_owned(),
            tag: format!("ipcx-bench-{}-s{n}-{peers}", std::process::id()),
            cpus,
        };
        let what = |peers| format!("{} of {} with {peers} peer(s)", test.name(), m.name());
        let messages = match (plan.count, plan.duration) {
            (Some(count), _) => count,
            (None, Some(d)) => {
                let trial = scaling::measure(&point(1, 20_000), renew).with_context(|| what(1))?;
                (trial.aggregate_per_s * d.as_secs_f64()).clamp(1_000.0, 50e6) as usize
            }
            (None, None) => match test {
                scaling::Test::FanIn => plan.stream_count(size),
                scaling::Test::Broadcast => plan.stream_count(size) / 4,
            },
        };
        for &peers in peers {
            if progress {
                eprint!(
                    "\r\x1b[K{:>5.1}s  {}",
                    run_started.elapsed().as_secs_f64(),
                    what(peers)
                );
            }
            points.push(
                scaling::measure(&point(peers, messages), renew).with_context(|| what(peers))?,
            );
        }
    }
    Ok(points)
}

/// The tests a point runs: calls are measured for latency only.
fn tests_of(imp: Implementation) -> &'static [&'static str] {
    match imp {
        Implementation::Call => &["latency"],
        _ => &["latency", "throughput"],
    }
}

/// `spec` with its count set so that the test takes about `d`: timed
/// first on a short run (a tenth of a quick run's messages).
fn fill(spec: &Spec, d: Duration) -> Result<Spec> {
    let trial = Spec {
        count: (spec.count / 10).clamp(50, 10_000),
        tag: format!("{}c", spec.tag),
        ..spec.clone()
    };
    let per_message = if spec.role == Role::Echo {
        let (rtts, _) = latency(&trial)?;
        rtts.iter().sum::<f64>() / rtts.len().max(1) as f64 * 1e-9
    } else {
        1.0 / throughput(&trial)?.0.max(1.0)
    };
    let count = (d.as_secs_f64() / per_message.max(1e-9)) as usize;
    Ok(Spec {
        count: count.clamp(100, 50_000_000),
        ..spec.clone()
    })
}

/// The directory the pairs put their FIFOs and socket files in, emptied
/// for each pair and removed when the run ends, failed or not.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("ipcx-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    fn renew(&self) -> Result<()> {
        let _ = std::fs::remove_dir_all(&self.0);
        std::fs::create_dir_all(&self.0)?;
        Ok(())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Streams per throughput point (the median is reported).
const STREAMS: usize = 3;

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Round trips in ns, warm-up dropped, and the CPU time of both
/// processes per round trip after the warm-up.
fn latency(spec: &Spec) -> Result<(Vec<f64>, Option<f64>)> {
    let (mut link, mut child) = spec.start()?;
    let msg = vec![7u8; spec.size];
    let mut buf = vec![0u8; spec.size.max(8192)];
    let mut rtts = Vec::with_capacity(spec.count);
    let warm_up = spec.count / 10;
    let last = spec.count - 1;
    let (mut cpu_at_start, mut cpu_at_end) = (None, None);
    for i in 0..spec.count {
        if i == warm_up {
            cpu_at_start = machine::pair_cpu_ns(child.id());
        }
        if i == last {
            // Before the last round: the peer exits once it has echoed it.
            cpu_at_end = machine::pair_cpu_ns(child.id());
        }
        let t0 = Instant::now();
        link.send(&msg)?;
        let n = link.recv(&mut buf)?;
        rtts.push(t0.elapsed().as_nanos() as f64);
        anyhow::ensure!(n == spec.size, "the echo came back {n} bytes long");
    }
    let cpu = per_message(cpu_at_start, cpu_at_end, last.saturating_sub(warm_up));
    drop(link);
    finish(&mut child)?;
    Ok((rtts.split_off(warm_up), cpu))
}

/// CPU ns per message between two readings.
fn per_message(start: Option<u64>, end: Option<u64>, messages: usize) -> Option<f64> {
    Some(end?.saturating_sub(start?) as f64 / messages.max(1) as f64)
}

/// Messages per second, first to last received, how many were lost
/// (UDP drops what its receiver has no room for: it is counted, not waited
/// for), and the CPU time of both processes per message meanwhile.
fn throughput(spec: &Spec) -> Result<(f64, usize, Option<f64>)> {
    let (mut link, mut child) = spec.start()?;
    let mut buf = vec![0u8; spec.size.max(8192)];
    let lossy = spec.mechanism == Mechanism::Udp;
    link.recv(&mut buf)?;
    let cpu_at_start = machine::pair_cpu_ns(child.id());
    let t0 = Instant::now();
    let mut last = t0;
    let mut got = 1;
    while got < spec.count {
        if lossy {
            match link.recv_timeout(&mut buf, Duration::from_millis(200))? {
                Some(_) => last = Instant::now(),
                None => break,
            }
        } else {
            link.recv(&mut buf)?;
        }
        got += 1;
    }
    if !lossy {
        last = Instant::now();
    }
    let secs = last.duration_since(t0).as_secs_f64();
    let cpu = per_message(cpu_at_start, machine::pair_cpu_ns(child.id()), got - 1);
    let _ = link.send(b"done");
    drop(link);
    finish(&mut child)?;
    Ok(((got - 1) as f64 / secs.max(1e-9), spec.count - got, cpu))
}

/// Waits for the peer to exit; one waiting for a lost "done" is killed.
fn finish(child: &mut std::process::Child) -> Result<()> {
    let until = Instant::now() + Duration::from_secs(2);
    while child.try_wait()?.is_none() {
        if Instant::now() > until {
            let _ = child.kill();
            child.wait()?;
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}
