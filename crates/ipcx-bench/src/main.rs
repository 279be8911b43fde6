//! `shm-bench`: ipcx's `shm:` ring next to the limit (a minimal
//! hand-written ring) and iceoryx2, in one run, with ratios.
//!
//! Each figure comes from a pair of processes pinned to different CPUs,
//! all three implementations measured back to back in the same run (these
//! machines are shared and noisy: compare the ratios, not the absolutes).
//!
//! ```text
//! scripts/bench-shm            # builds with iceoryx2, runs, prints the table
//! shm-bench [--quick]          # without iceoryx2 unless built with it
//! ```

#![deny(unsafe_code)]

mod affinity;
mod bare_ring;
mod handwritten;
#[cfg(feature = "iceoryx2")]
mod iceoryx;
mod mapping;
mod peers;

use std::process::Command;
use std::time::Instant;

use peers::Kind;

/// What one child process does.
#[derive(Debug, Clone, Copy)]
enum Test {
    /// Ping-pong of `size`-byte messages, copied in and out.
    PingPong { size: usize, rounds: usize },
    /// The same, written in place with a loan and read in place.
    LoanPingPong { size: usize, rounds: usize },
    /// The child streams `count` messages of `size` bytes.
    Stream { size: usize, count: usize },
}

impl Test {
    fn args(self) -> Vec<String> {
        match self {
            Test::PingPong { size, rounds } => {
                vec!["pingpong".into(), size.to_string(), rounds.to_string()]
            }
            Test::LoanPingPong { size, rounds } => {
                vec!["loan".into(), size.to_string(), rounds.to_string()]
            }
            Test::Stream { size, count } => {
                vec!["stream".into(), size.to_string(), count.to_string()]
            }
        }
    }

    fn parse(args: &[String]) -> Test {
        let n = |i: usize| args[i].parse::<usize>().expect("number");
        match args[0].as_str() {
            "pingpong" => Test::PingPong {
                size: n(1),
                rounds: n(2),
            },
            "loan" => Test::LoanPingPong {
                size: n(1),
                rounds: n(2),
            },
            "stream" => Test::Stream {
                size: n(1),
                count: n(2),
            },
            other => panic!("unknown test {other}"),
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("child") {
        child(
            Kind::parse(&args[1]),
            &args[2],
            args[3].parse().unwrap(),
            Test::parse(&args[4..]),
        );
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let cpus = affinity::allowed();
    let (mine, theirs) = match cpus.as_slice() {
        [a, b, ..] => (*a, Some(*b)),
        [a] => (*a, None),
        [] => (0, None),
    };
    match theirs {
        Some(t) => println!("pinned: this process on CPU {mine}, its peer on CPU {t}"),
        None => {
            println!("only one CPU allowed: both processes share it (figures are not comparable)")
        }
    }
    affinity::pin(mine);
    let kinds: Vec<Kind> = if cfg!(feature = "iceoryx2") {
        vec![
            Kind::Handwritten,
            Kind::Bare,
            Kind::Ipcx,
            Kind::IpcxNoStats,
            Kind::IpcxShared,
            Kind::Iceoryx2,
            Kind::Iceoryx2Own,
        ]
    } else {
        println!("built without iceoryx2 (scripts/bench-shm builds it in)");
        vec![
            Kind::Handwritten,
            Kind::Bare,
            Kind::Ipcx,
            Kind::IpcxNoStats,
            Kind::IpcxShared,
        ]
    };
    // `--only ipcx` (or hand-written, iceoryx2): one implementation.
    let kinds = match args.iter().position(|a| a == "--only") {
        Some(i) => vec![Kind::parse(&args[i + 1])],
        None => kinds,
    };
    let scale = if quick { 10 } else { 1 };
    // `--test NAME`: one figure (latency64, stream64, cost64, stream1m, loan64k).
    let only = args
        .iter()
        .position(|a| a == "--test")
        .map(|i| args[i + 1].clone());
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    // `--repeat N`: every figure N times, implementations interleaved; the
    // ratios use each one's median (these machines are noisy).
    let repeat = args
        .iter()
        .position(|a| a == "--repeat")
        .map_or(1, |i| args[i + 1].parse::<usize>().expect("--repeat N"));
    let bench = Bench {
        cpu: theirs.unwrap_or(mine),
        kinds,
    };

    let mut lat = Vec::new();
    let mut small = Vec::new();
    let mut big = Vec::new();
    let mut loan = Vec::new();
    if run("latency64") {
        println!("\none-way latency, 64 B, ping-pong / 2 (p50 / p99 / p99.9), copied in and out:");
        lat = median(
            (0..repeat)
                .map(|_| {
                    bench.latency(Test::PingPong {
                        size: 64,
                        rounds: 200_000 / scale,
                    })
                })
                .collect(),
        );
    }
    if run("stream64") {
        println!("\nstreaming 64 B messages, one way:");
        small = median(
            (0..repeat)
                .map(|_| {
                    bench.throughput(Test::Stream {
                        size: 64,
                        count: 20_000_000 / scale,
                    })
                })
                .collect(),
        );
    }
    if run("cost64") {
        println!(
            "\none thread, both ends: 256 64-byte messages sent, then received, 40 000 times\n  \
             (no cache line crosses cores: what each end's code costs per message):"
        );
        for &kind in bench.kinds.iter().filter(|k| !k.is_iceoryx2()) {
            cost(kind, 64, 256, 40_000 / scale);
        }
    }
    if run("stream1m") {
        println!("\nstreaming 1 MiB messages, one way:");
        big = median(
            (0..repeat)
                .map(|_| {
                    bench.throughput(Test::Stream {
                        size: 1 << 20,
                        count: 4_000 / scale,
                    })
                })
                .collect(),
        );
    }
    if run("loan64k") {
        println!("\none-way latency, 64 KiB written in place (loan) and read in place:");
        loan = median(
            (0..repeat)
                .map(|_| {
                    bench.latency(Test::LoanPingPong {
                        size: 64 << 10,
                        rounds: 20_000 / scale,
                    })
                })
                .collect(),
        );
    }

    println!("\nratios (ipcx / other, this run):");
    ratio("latency p50 64 B", &lat, Kind::Handwritten, false);
    ratio("latency p50 64 B", &lat, Kind::Iceoryx2, false);
    ratio("latency p50 64 B", &lat, Kind::Iceoryx2Own, false);
    ratio("throughput 64 B", &small, Kind::Handwritten, true);
    ratio_of(
        "throughput 64 B",
        &small,
        Kind::IpcxShared,
        Kind::Handwritten,
    );
    ratio_of("throughput 64 B", &small, Kind::Bare, Kind::Handwritten);
    ratio("throughput 64 B", &small, Kind::Bare, true);
    ratio("throughput 64 B", &small, Kind::Iceoryx2, true);
    // The statistics area's cost: ipcx with it (the default) over without.
    ratio("latency p50 64 B", &lat, Kind::IpcxNoStats, false);
    ratio("throughput 64 B", &small, Kind::IpcxNoStats, true);
    ratio("throughput 1 MiB", &big, Kind::Handwritten, true);
    ratio("latency p50 64 KiB loan", &loan, Kind::Iceoryx2, false);
    ratio("latency p50 64 KiB loan", &loan, Kind::Iceoryx2Own, false);
}

/// Each implementation's median over several runs (one run: as is).
fn median(runs: Vec<Vec<(Kind, f64)>>) -> Vec<(Kind, f64)> {
    if runs.len() > 1 {
        println!("  (medians of {} runs follow)", runs.len());
    }
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .map(|&(kind, _)| {
            let mut values: Vec<f64> = runs
                .iter()
                .flat_map(|r| r.iter().filter(|(k, _)| *k == kind).map(|(_, v)| *v))
                .collect();
            values.sort_by(f64::total_cmp);
            let m = values[values.len() / 2];
            if runs.len() > 1 {
                println!("  {:<13} median {m:>12.1}", kind.name());
            }
            (kind, m)
        })
        .collect()
}

fn ratio_of(what: &str, figures: &[(Kind, f64)], mine: Kind, other: Kind) {
    let get = |k| figures.iter().find(|(kind, _)| *kind == k).map(|(_, v)| *v);
    if let (Some(m), Some(o)) = (get(mine), get(other)) {
        println!(
            "  {what:<26} {} / {:<8} {:>6.2}   (higher is better)",
            mine.name(),
            other.name(),
            m / o
        );
    }
}

fn ratio(what: &str, figures: &[(Kind, f64)], other: Kind, higher_is_better: bool) {
    let get = |k| figures.iter().find(|(kind, _)| *kind == k).map(|(_, v)| *v);
    if let (Some(ipcx), Some(o)) = (get(Kind::Ipcx), get(other)) {
        let note = if higher_is_better {
            "higher is better"
        } else {
            "lower is better"
        };
        println!(
            "  {what:<26} ipcx / {:<13} {:>6.2}   ({note})",
            other.name(),
            ipcx / o
        );
    }
}

struct Bench {
    cpu: usize,
    kinds: Vec<Kind>,
}

impl Bench {
    fn spawn(&self, kind: Kind, name: &str, test: Test) -> std::process::Child {
        let child = Command::new(std::env::current_exe().unwrap())
            .arg("child")
            .arg(kind.name().replace(" &self", "-shared").replace(' ', "-"))
            .arg(name)
            .arg(self.cpu.to_string())
            .args(test.args())
            .spawn()
            .expect("spawn the peer");
        watch(&child, kind);
        child
    }

    /// p50 one-way latency (ns) per implementation.
    fn latency(&self, test: Test) -> Vec<(Kind, f64)> {
        let (size, rounds, loan) = match test {
            Test::PingPong { size, rounds } => (size, rounds, false),
            Test::LoanPingPong { size, rounds } => (size, rounds, true),
            Test::Stream { .. } => unreachable!(),
        };
        let mut out = Vec::new();
        for &kind in &self.kinds {
            let name = unique("lat");
            let mut pong = peers::receiver(kind, &format!("{name}-pong"), size);
            let mut child = self.spawn(kind, &name, test);
            let mut ping = peers::sender(kind, &format!("{name}-ping"), size);
            let msg = vec![7u8; size];
            let mut back = vec![0u8; size];
            let mut rtts = Vec::with_capacity(rounds);
            for _ in 0..rounds {
                let t0 = Instant::now();
                if loan {
                    ping.send_loan(size, 7);
                    pong.recv(&mut |b| assert!(b[0] == 7 && b[b.len() - 1] == 7));
                } else {
                    ping.send(&msg);
                    pong.recv(&mut |b| back.copy_from_slice(b));
                }
                rtts.push(t0.elapsed().as_nanos() as u64);
            }
            drop(ping);
            child.wait().expect("peer");
            drop(pong);
            cleanup(&name);
            let warm = &mut rtts[rounds / 10..];
            warm.sort_unstable();
            let pct = |p: f64| warm[((warm.len() - 1) as f64 * p) as usize] as f64 / 2.0;
            println!(
                "  {:<13} {:>9.0} ns {:>9.0} ns {:>9.0} ns",
                kind.name(),
                pct(0.5),
                pct(0.99),
                pct(0.999)
            );
            out.push((kind, pct(0.5)));
        }
        out
    }

    /// Messages per second per implementation (and bytes per second).
    fn throughput(&self, test: Test) -> Vec<(Kind, f64)> {
        let Test::Stream { size, count } = test else {
            unreachable!()
        };
        let mut out = Vec::new();
        for &kind in self.kinds.iter().filter(|k| k.lossless()) {
            let name = unique("tput");
            let mut rx = peers::receiver(kind, &format!("{name}-ping"), size);
            let mut child = self.spawn(kind, &name, test);
            let mut buf = vec![0u8; size];
            rx.recv(&mut |b| buf.copy_from_slice(b));
            let t0 = Instant::now();
            for _ in 1..count {
                rx.recv(&mut |b| buf.copy_from_slice(b));
            }
            let secs = t0.elapsed().as_secs_f64();
            child.wait().expect("peer");
            drop(rx);
            cleanup(&name);
            let rate = (count - 1) as f64 / secs;
            println!(
                "  {:<13} {:>8.2} M msg/s {:>8.2} GB/s",
                kind.name(),
                rate / 1e6,
                rate * size as f64 / 1e9
            );
            out.push((kind, rate));
        }
        out
    }
}

/// Each end's cost per message with no other core involved: one thread
/// sends `batch` messages, then receives them, `rounds` times; the two
/// phases are timed apart.
fn cost(kind: Kind, size: usize, batch: usize, rounds: usize) {
    let name = unique("cost");
    let mut rx = peers::receiver(kind, &name, size);
    let mut tx = peers::sender(kind, &name, size);
    let msg = vec![7u8; size];
    let mut buf = vec![0u8; size];
    let (mut sending, mut receiving) = (0u128, 0u128);
    for _ in 0..rounds {
        let t0 = Instant::now();
        for _ in 0..batch {
            tx.send(&msg);
        }
        let t1 = Instant::now();
        for _ in 0..batch {
            rx.recv(&mut |b| buf.copy_from_slice(b));
        }
        receiving += t1.elapsed().as_nanos();
        sending += (t1 - t0).as_nanos();
    }
    drop(tx);
    drop(rx);
    let _ = std::fs::remove_file(format!("/dev/shm/{name}"));
    let per = |ns: u128| ns as f64 / (batch * rounds) as f64;
    println!(
        "  {:<14} send {:>6.1} ns   receive {:>6.1} ns",
        kind.name(),
        per(sending),
        per(receiving)
    );
}

/// Ends the run if the peer fails: this side would otherwise spin forever
/// on a ring nobody writes (the hand-written and bare rings never give
/// up). A thread waits for the peer's exit without reaping it (`WNOWAIT`,
/// so the run's own `wait` still gets the status); a peer gone already
/// (reaped) is `ECHILD`, and the thread just ends.
fn watch(child: &std::process::Child, kind: Kind) {
    use rustix::process::{waitid, Pid, WaitId, WaitIdOptions};
    let pid = Pid::from_child(child);
    std::thread::spawn(move || {
        let exited = waitid(
            WaitId::Pid(pid),
            WaitIdOptions::EXITED | WaitIdOptions::NOWAIT,
        );
        if let Ok(Some(status)) = exited {
            if status.exit_status() != Some(0) {
                eprintln!(
                    "shm-bench: the {} peer failed ({status:?}); stopping",
                    kind.name()
                );
                remove_rings_of_this_run();
                std::process::exit(1);
            }
        }
    });
}

/// The peer process: pinned, answers pings or streams.
fn child(kind: Kind, name: &str, cpu: usize, test: Test) {
    affinity::pin(cpu);
    match test {
        Test::PingPong { size, rounds } | Test::LoanPingPong { size, rounds } => {
            let loan = matches!(test, Test::LoanPingPong { .. });
            let mut ping = peers::receiver(kind, &format!("{name}-ping"), size);
            let mut pong = peers::sender(kind, &format!("{name}-pong"), size);
            let mut buf = vec![0u8; size];
            for _ in 0..rounds {
                if loan {
                    ping.recv(&mut |b| assert!(b[0] == 7 && b[b.len() - 1] == 7));
                    pong.send_loan(size, 7);
                } else {
                    ping.recv(&mut |b| buf.copy_from_slice(b));
                    pong.send(&buf);
                }
            }
        }
        Test::Stream { size, count } => {
            let mut tx = peers::sender(kind, &format!("{name}-ping"), size);
            let msg = vec![7u8; size];
            for _ in 0..count {
                tx.send(&msg);
            }
        }
    }
}

fn unique(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "ipcx-bench-{}-{what}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Removes every ring this run made in /dev/shm (names from `unique`).
fn remove_rings_of_this_run() {
    let ours = format!("ipcx-bench-{}-", std::process::id());
    for entry in std::fs::read_dir("/dev/shm")
        .into_iter()
        .flatten()
        .flatten()
    {
        if entry.file_name().to_string_lossy().starts_with(&ours) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Removes the hand-written rings' files (ipcx removes its own).
fn cleanup(name: &str) {
    for dir in ["ping", "pong"] {
        let _ = std::fs::remove_file(format!("/dev/shm/{name}-{dir}"));
    }
}
