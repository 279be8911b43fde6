//! `ipcx bench` and `ipcx advise` end to end: the real binary, real peer
//! processes, every mechanism.

use std::process::Command;

use assert_cmd::prelude::*;
use serde_json::Value;

fn ipcx() -> Command {
    Command::cargo_bin("ipcx").unwrap()
}

const KERNEL: [&str; 10] = [
    "pipe",
    "fifo",
    "unix",
    "unix+seqpacket",
    "unix+dgram",
    "tcp",
    "udp",
    "mq",
    "sysvmq",
    "signal",
];
const SHM: [&str; 4] = ["shm", "shm+spin", "shm+block", "shm+loan"];

fn quick_json(extra: &[&str]) -> Value {
    let mut args = vec!["--quick", "--scale", "0.2"];
    args.extend_from_slice(extra);
    bench_json(&args)
}

fn points<'a>(r: &'a Value, kind: &str, mechanism: &str, imp: &str) -> Vec<&'a Value> {
    r[kind]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["mechanism"] == mechanism && p["implementation"] == imp)
        .collect()
}

#[test]
fn quick_json_has_every_mechanism_raw_baselines_and_ordered_percentiles() {
    let dir = std::env::temp_dir().join(format!("ipcx-bench-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = dir.join("report.html");
    let r = quick_json(&["--report", report.to_str().unwrap()]);
    assert_eq!(r["version"], 1);
    assert!(r["machine"]["memcpy_gbps"].as_f64().unwrap() > 0.0);
    for m in KERNEL.iter().chain(SHM.iter()) {
        assert!(!points(&r, "latency", m, "ipcx").is_empty(), "{m}: latency");
        assert!(
            !points(&r, "throughput", m, "ipcx").is_empty(),
            "{m}: throughput"
        );
    }
    // A signal carries one 4-byte value: measured at that size only.
    assert!(points(&r, "latency", "signal", "ipcx")
        .iter()
        .all(|p| p["size"] == 4));
    for m in KERNEL {
        assert_eq!(
            points(&r, "latency", m, "raw").len(),
            points(&r, "latency", m, "ipcx").len(),
            "{m}: a raw baseline at every size"
        );
    }
    for m in SHM {
        assert!(
            points(&r, "latency", m, "raw").is_empty(),
            "{m}: no kernel baseline"
        );
    }
    // Both waiting policies on every kernel transport with `wait=`: ipcx's
    // default against raw+poll, ipcx+block against raw.
    for m in KERNEL
        .iter()
        .filter(|m| !matches!(**m, "signal" | "sysvmq"))
    {
        for imp in ["raw+poll", "ipcx+block"] {
            for kind in ["latency", "throughput"] {
                assert_eq!(
                    points(&r, kind, m, imp).len(),
                    points(&r, kind, m, "ipcx").len(),
                    "{m}: {imp} {kind} at every size"
                );
            }
        }
    }
    for m in ["signal", "sysvmq"] {
        assert!(
            points(&r, "latency", m, "ipcx+block").is_empty(),
            "{m}: no wait="
        );
    }
    // CPU time per message (both processes) on every point.
    for kind in ["latency", "throughput"] {
        for p in r[kind].as_array().unwrap() {
            assert!(p["cpu_per_message_ns"].as_f64().unwrap() > 0.0, "{p}");
        }
    }
    // Calls on the two-way transports, at every size, latency only.
    for m in [
        "unix",
        "unix+seqpacket",
        "tcp",
        "shm",
        "shm+spin",
        "shm+block",
    ] {
        assert_eq!(
            points(&r, "latency", m, "call").len(),
            points(&r, "latency", m, "ipcx").len(),
            "{m}: a call at every size"
        );
        assert!(points(&r, "throughput", m, "call").is_empty(), "{m}");
    }
    for m in ["pipe", "fifo", "udp", "mq", "shm+loan"] {
        assert!(points(&r, "latency", m, "call").is_empty(), "{m}: no calls");
    }
    for p in r["latency"].as_array().unwrap() {
        let w = &p["one_way"];
        let v: Vec<f64> = ["p50", "p90", "p99", "p999", "max"]
            .iter()
            .map(|k| w[k].as_f64().unwrap())
            .collect();
        assert!(v[0] > 0.0 && v.windows(2).all(|x| x[0] <= x[1]), "{p}");
        assert!((p["round_trip"]["p50"].as_f64().unwrap() - 2.0 * v[0]).abs() < 1.0);
    }
    for p in r["throughput"].as_array().unwrap() {
        let rate = p["messages_per_s"].as_f64().unwrap();
        assert!(rate > 0.0, "{p}");
        // Three streams per point; the figure is their median.
        let mut runs: Vec<f64> = p["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        runs.sort_by(f64::total_cmp);
        assert_eq!(runs.len(), 3, "{p}");
        assert_eq!(rate, runs[1], "{p}");
    }
    // Sizes above a queue's message size are reported as skipped, not cut.
    let skipped = r["skipped"].as_array().unwrap();
    assert!(skipped
        .iter()
        .any(|s| s["mechanism"] == "mq" && s["why"].as_str().unwrap().contains("msgsize_max")));
    // One latency chart per size, one throughput and one p99 chart per
    // mechanism (ipcx and raw in each), and the notes in the page.
    let html = std::fs::read_to_string(&report).unwrap();
    let sizes = r["latency"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["size"].as_u64().unwrap())
        .collect::<std::collections::BTreeSet<_>>();
    let mechanisms = r["throughput"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["mechanism"].as_str().unwrap().to_owned())
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(
        html.matches("<svg").count(),
        sizes.len() + 2 * mechanisms.len()
    );
    for size in &sizes {
        let label = if *size < 1024 {
            format!("{size} B")
        } else {
            format!("{} KiB", size / 1024)
        };
        assert!(
            html.contains(&format!("one-way latency at {label}: ipcx (blue)")),
            "{label}"
        );
    }
    assert!(html.contains("microseconds, log scale") && html.contains("messages/s"));
    assert!(html.contains("raw syscalls"), "a raw series next to ipcx");
    assert!(
        html.contains("not measured: mq at 64 KiB"),
        "the skipped points are in the page"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn advise_recommends_with_reasons_and_figures() {
    let dir = std::env::temp_dir().join(format!("ipcx-advise-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let saved = dir.join("bench.json");
    let r = quick_json(&["--mechanisms", "unix,tcp,shm,mq", "--sizes", "64,64KiB"]);
    std::fs::write(&saved, r.to_string()).unwrap();
    let advise = |args: &[&str]| {
        let mut all = vec!["advise"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--from", saved.to_str().unwrap()]);
        String::from_utf8(stdout_of(&all)).unwrap()
    };
    let big = advise(&["--size", "8MiB"]);
    assert!(
        big.starts_with("use shm:") && big.contains("because"),
        "{big}"
    );
    assert!(
        big.contains("measured on this machine") && big.contains("→ shm"),
        "{big}"
    );
    assert!(advise(&["--remote"]).starts_with("use tcp:"));
    assert!(advise(&["--receivers", "3"]).contains("readers=3"));
    assert!(advise(&["--priorities"]).starts_with("use mq:"));
    let plain = advise(&["--size", "200"]);
    assert!(
        plain.starts_with("use unix:") && plain.contains("not loopback TCP"),
        "{plain}"
    );

    // The measurements refine the rules. With the 64-byte figures set to
    // known rates: unix 1 M/s, shm 5 M/s, mq 1 M/s.
    let mut r = r;
    for p in r["throughput"].as_array_mut().unwrap() {
        if p["size"] == 64 && p["implementation"] == "ipcx" {
            let rate = match p["mechanism"].as_str().unwrap() {
                "shm" => 5e6,
                _ => 1e6,
            };
            p["messages_per_s"] = rate.into();
        }
    }
    std::fs::write(&saved, r.to_string()).unwrap();
    // 300 k/s: the rule of thumb says a ring, but unix carried 1 M here.
    let rate = advise(&["--size", "64", "--rate", "300000"]);
    assert!(
        rate.starts_with("use unix:") && rate.contains("the rule of thumb said shm"),
        "{rate}"
    );
    // 800 k/s: unix is not twice that; the ring is.
    let rate = advise(&["--size", "64", "--rate", "800000"]);
    assert!(rate.starts_with("use shm:"), "{rate}");
    // 4 M/s: nothing is twice that here: said so.
    let rate = advise(&["--size", "64", "--rate", "4000000"]);
    assert!(
        rate.starts_with("use shm:") && rate.contains("batch several messages"),
        "{rate}"
    );
    // A requirement stands, with a warning when the rate is too high.
    let prio = advise(&["--size", "64", "--priorities", "--rate", "900000"]);
    assert!(
        prio.starts_with("use mq:") && prio.contains("batch several messages"),
        "{prio}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unknown_mechanisms_and_bad_files_are_clear_errors() {
    let out = ipcx()
        .args(["bench", "--mechanisms", "carrier-pigeon"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("carrier-pigeon") && err.contains("unix+seqpacket"),
        "{err}"
    );
    let out = ipcx()
        .args(["advise", "--from", "/nonexistent.json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent.json"));
}

/// `--duration` times each point on a short run first, then sizes its
/// counts to fill the time: a fast mechanism gets many rounds.
#[test]
fn duration_sizes_each_point_to_the_time_given() {
    let t0 = std::time::Instant::now();
    let r = bench_json(&[
        "--mechanisms",
        "pipe",
        "--sizes",
        "64",
        "--duration",
        "100ms",
    ]);
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    for p in r["latency"].as_array().unwrap() {
        // 100 ms of round trips of a few µs each (minus the warm-up tenth):
        // thousands on a quiet machine, but the count comes from a timed
        // trial, and a slow moment in it (CI once: a 645 µs mean, so 155
        // samples) sizes it down to the floor of 100 rounds. How many is
        // timing; that the floor holds and the run stays short is not.
        assert!(p["samples"].as_u64().unwrap() >= 90, "{p}");
    }
    for p in r["throughput"].as_array().unwrap() {
        // Sized, not the default 2 000 000 a 64-byte stream gets without
        // --duration; how far below is timing (CI once: a raw+poll trial
        // in a noisy moment sized it to 7 335), the floor is not.
        let messages = p["messages"].as_u64().unwrap();
        assert!((99..2_000_000).contains(&messages), "{p}");
    }
}

/// `--scaling-only`: fan-in curves (N sender processes into one receiver)
/// and broadcast curves (N reader processes of one ring), every message of
/// every peer counted (a lost one stalls the run, which then fails), each
/// peer's rate given, nothing left in /dev/shm.
#[test]
fn scaling_curves_count_every_peer_and_leave_nothing() {
    let dir = std::env::temp_dir().join(format!("ipcx-bench-scaling-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("report.html");
    let r = bench_json(&[
        "--scaling-only",
        "--mechanisms",
        "unix,mq,shm,pipe",
        "--senders",
        "1,4",
        "--readers",
        "1,3",
        "--count",
        "4000",
        "--report",
        page.to_str().unwrap(),
    ]);
    assert!(r["latency"].as_array().unwrap().is_empty(), "no pairs");
    let scaling = r["scaling"].as_array().unwrap();
    let curve = |test: &str, mechanism: &str| -> Vec<&Value> {
        scaling
            .iter()
            .filter(|p| p["test"] == test && p["mechanism"] == mechanism)
            .collect()
    };
    // A pipe has one writer and one reader: it has no curve.
    assert!(curve("fan-in", "pipe").is_empty());
    assert!(curve("broadcast", "unix").is_empty());
    for (test, mechanism, peers) in [
        ("fan-in", "unix", [1, 4]),
        ("fan-in", "mq", [1, 4]),
        ("broadcast", "shm", [1, 3]),
    ] {
        let points = curve(test, mechanism);
        let got: Vec<u64> = points
            .iter()
            .map(|p| p["peers"].as_u64().unwrap())
            .collect();
        assert_eq!(got, peers, "{test} {mechanism}");
        for p in points {
            let per_peer = p["per_peer"].as_array().unwrap();
            assert_eq!(per_peer.len() as u64, p["peers"].as_u64().unwrap(), "{p}");
            assert!(per_peer.iter().all(|r| r.as_f64().unwrap() > 0.0), "{p}");
            assert_eq!(p["messages"], 4000, "{p}");
            assert_eq!(p["runs"].as_array().unwrap().len(), 3, "{p}");
            assert!(p["aggregate_per_s"].as_f64().unwrap() > 0.0, "{p}");
            let d = &p["delay"];
            let ordered = ["p50", "p90", "p99", "p999", "max"]
                .windows(2)
                .all(|w| d[w[0]].as_f64().unwrap() <= d[w[1]].as_f64().unwrap());
            assert!(ordered, "{p}");
        }
    }
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("How cost grows with peers") && html.contains("<svg"));
    let left: Vec<_> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("-bcast"))
        .collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
    std::fs::remove_dir_all(&dir).unwrap();
    let out = ipcx()
        .args(["bench", "--readers", "1,65"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`65` is not a number of peers from 1 to 64")
    );
}

/// `ipcx bench --json` with the arguments given.
fn bench_json(args: &[&str]) -> Value {
    let mut all = vec!["bench", "--json"];
    all.extend_from_slice(args);
    serde_json::from_slice(&stdout_of(&all)).expect("well-formed JSON")
}

/// What `ipcx ARGS` prints, once it has exited successfully.
fn stdout_of(args: &[&str]) -> Vec<u8> {
    let out = ipcx().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}
