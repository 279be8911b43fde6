//! Async ipcx against blocking ipcx and against tokio's own `UnixStream`
//! with a length-delimited codec (tokio-util), 64-byte messages between
//! two processes, all in one run: ping-pong round trips and streaming.
//!
//! `cargo bench -p ipcx --features tokio --bench async_ipc`
//! (`IPCX_BENCH_ONLY=shm:` runs only the ipcx rows whose label has that
//! text; tokio's row always runs: it is what the others are read against).
//!
//! Every async side runs a current-thread runtime; the peer is this
//! program again in a role. Waiting policy: ipcx at its default
//! (`wait=adaptive`: the blocking ends poll 20 µs before sleeping, the
//! async ones yield to other tasks for 20 µs before sleeping) and with
//! `wait=block` (sleep at once, as tokio's sockets do: the same policy).
//! Ping-pong over ipcx uses two one-way channels (two sockets, or two
//! rings); tokio's uses one socket both ways.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ipcx::Bytes;
use tokio::net::{UnixListener, UnixStream};
use tokio_util::codec::{Framed, LengthDelimitedCodec};

const SIZE: usize = 64;
const WARMUP: usize = 2_000;
const PINGS: usize = 20_000;
const STREAM: usize = 200_000;
const ROUNDS: usize = 3;
const ROLE: &str = "IPCX_BENCH_ROLE";

/// One row's figures in one round: round trips (sorted), and streaming rates.
struct Measured {
    rtts: Rtts,
    rates: Vec<f64>,
}

/// A row's figures over the rounds: the median of each.
struct Row {
    p50: f64,
    p99: f64,
    rates: Vec<f64>,
}

impl Measured {
    fn median(rounds: &[&Measured]) -> Row {
        let pct = |r: &Rtts, p: f64| r[((r.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
        let mid = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        Row {
            p50: mid(rounds.iter().map(|m| pct(&m.rtts, 0.5)).collect()),
            p99: mid(rounds.iter().map(|m| pct(&m.rtts, 0.99)).collect()),
            rates: (0..rounds[0].rates.len())
                .map(|i| mid(rounds.iter().map(|m| m.rates[i]).collect()))
                .collect(),
        }
    }
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        let a = std::env::var("IPCX_BENCH_A").expect("A");
        let b = std::env::var("IPCX_BENCH_B").unwrap_or_default();
        return child(&role, &a, &b);
    }
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("ipcx-async-bench-{id}"));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let unix = |name: &str, opts: &str| format!("unix:{}/{name}.sock{opts}", dir.display());
    let shm = |name: &str, opts: &str| format!("shm:/ipcx-async-bench-{id}-{name}{opts}");
    let mut rows = Vec::new();
    let only = std::env::var("IPCX_BENCH_ONLY").unwrap_or_default();
    let cases = [
        (
            "ipcx async, unix:",
            "async",
            unix("ping", ""),
            unix("pong", ""),
        ),
        (
            "ipcx async, unix: wait=block",
            "async",
            unix("ping", "?wait=block"),
            unix("pong", "?wait=block"),
        ),
        (
            "ipcx blocking, unix:",
            "block",
            unix("ping", ""),
            unix("pong", ""),
        ),
        (
            "ipcx blocking, unix: wait=block",
            "block",
            unix("ping", "?wait=block"),
            unix("pong", "?wait=block"),
        ),
        (
            "ipcx async, shm:",
            "async",
            shm("ping", ""),
            shm("pong", ""),
        ),
        (
            "ipcx async, shm: wait=block",
            "async",
            shm("ping", "?wait=block"),
            shm("pong", "?wait=block"),
        ),
        (
            "ipcx blocking, shm:",
            "block",
            shm("ping", ""),
            shm("pong", ""),
        ),
        (
            "ipcx blocking, shm: wait=block",
            "block",
            shm("ping", "?wait=block"),
            shm("pong", "?wait=block"),
        ),
    ];
    let cases: Vec<_> = cases
        .into_iter()
        .filter(|c| c.0.contains(only.as_str()))
        .collect();
    let path = dir.join("tokio.sock");
    // Rounds over every row in turn, so that a noisy minute spreads over
    // all of them; each row reports its median round.
    let mut rounds: Vec<Vec<Measured>> = Vec::new();
    for _ in 0..ROUNDS {
        let mut round = Vec::new();
        for (_, kind, ping, pong) in &cases {
            round.push(match *kind {
                "async" => Measured {
                    rtts: runtime().block_on(ping_async(ping, pong)),
                    rates: vec![runtime().block_on(stream_async(ping))],
                },
                _ => Measured {
                    rtts: ping_blocking(ping, pong),
                    rates: vec![stream_blocking(ping)],
                },
            });
        }
        round.push(Measured {
            rtts: runtime().block_on(ping_tokio(&path)),
            rates: vec![
                runtime().block_on(stream_tokio(&path, "stream-tokio")),
                runtime().block_on(stream_tokio(&path, "stream-tokio-batched")),
            ],
        });
        rounds.push(round);
    }
    let mut labels: Vec<&str> = cases.iter().map(|c| c.0).collect();
    labels.push("tokio UnixStream + LengthDelimitedCodec");
    for (k, label) in labels.iter().enumerate() {
        let of_row: Vec<&Measured> = rounds.iter().map(|r| &r[k]).collect();
        rows.push((label.to_string(), Measured::median(&of_row)));
    }
    let _ = std::fs::remove_dir_all(&dir);
    report(&rows);
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn spawn(role: &str, a: &str, b: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(ROLE, role)
        .env("IPCX_BENCH_A", a)
        .env("IPCX_BENCH_B", b)
        .spawn()
        .expect("spawn the peer")
}

fn finish(mut child: std::process::Child) {
    assert!(child.wait().expect("wait").success(), "the peer failed");
}

/// Round-trip times, sorted.
type Rtts = Vec<Duration>;

async fn ping_async(ping: &str, pong: &str) -> Rtts {
    let mut back = ipcx::tokio::Receiver::<Bytes>::open(pong).expect("pong receiver");
    let child = spawn("echo-async", ping, back.endpoint().to_string().as_str());
    let mut out = ipcx::tokio::Sender::<Bytes>::open_timeout(ping, Duration::from_secs(10))
        .await
        .expect("ping sender");
    let msg = [7u8; SIZE];
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..WARMUP + PINGS {
        let t0 = Instant::now();
        out.send_bytes(&msg[..]).await.expect("ping");
        back.recv_bytes().await.expect("pong");
        if i >= WARMUP {
            rtts.push(t0.elapsed());
        }
    }
    drop(out);
    finish(child);
    rtts.sort_unstable();
    rtts
}

fn ping_blocking(ping: &str, pong: &str) -> Rtts {
    let back = ipcx::ByteReceiver::open(pong).expect("pong receiver");
    let child = spawn("echo-block", ping, back.endpoint().to_string().as_str());
    let out = ipcx::ByteSender::open_timeout(ping, Duration::from_secs(10)).expect("ping sender");
    let msg = [7u8; SIZE];
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..WARMUP + PINGS {
        let t0 = Instant::now();
        out.send_bytes(&msg[..]).expect("ping");
        back.recv_bytes().expect("pong");
        if i >= WARMUP {
            rtts.push(t0.elapsed());
        }
    }
    drop(out);
    finish(child);
    rtts.sort_unstable();
    rtts
}

/// Messages per second received from a peer that streams `STREAM`.
async fn stream_async(ep: &str) -> f64 {
    let mut rx = ipcx::tokio::Receiver::<Bytes>::open(ep).expect("receiver");
    let child = spawn("stream-async", rx.endpoint().to_string().as_str(), "");
    rx.recv_bytes().await.expect("first");
    let t0 = Instant::now();
    for _ in 1..STREAM {
        rx.recv_bytes().await.expect("message");
    }
    let rate = (STREAM - 1) as f64 / t0.elapsed().as_secs_f64();
    finish(child);
    rate
}

fn stream_blocking(ep: &str) -> f64 {
    let rx = ipcx::ByteReceiver::open(ep).expect("receiver");
    let child = spawn("stream-block", rx.endpoint().to_string().as_str(), "");
    rx.recv_bytes().expect("first");
    let t0 = Instant::now();
    for _ in 1..STREAM {
        rx.recv_bytes().expect("message");
    }
    let rate = (STREAM - 1) as f64 / t0.elapsed().as_secs_f64();
    finish(child);
    rate
}

async fn ping_tokio(path: &std::path::Path) -> Rtts {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind");
    let child = spawn("echo-tokio", path.to_str().expect("utf-8"), "");
    let (stream, _) = listener.accept().await.expect("accept");
    let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
    let msg = bytes_of(SIZE);
    let mut rtts = Vec::with_capacity(PINGS);
    for i in 0..WARMUP + PINGS {
        let t0 = Instant::now();
        framed.send(msg.clone()).await.expect("ping");
        framed.next().await.expect("pong").expect("pong");
        if i >= WARMUP {
            rtts.push(t0.elapsed());
        }
    }
    drop(framed);
    finish(child);
    rtts.sort_unstable();
    rtts
}

async fn stream_tokio(path: &std::path::Path, role: &str) -> f64 {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).expect("bind");
    let child = spawn(role, path.to_str().expect("utf-8"), "");
    let (stream, _) = listener.accept().await.expect("accept");
    let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
    framed.next().await.expect("first").expect("first");
    let t0 = Instant::now();
    for _ in 1..STREAM {
        framed.next().await.expect("message").expect("message");
    }
    let rate = (STREAM - 1) as f64 / t0.elapsed().as_secs_f64();
    finish(child);
    rate
}

fn bytes_of(n: usize) -> tokio_util::bytes::Bytes {
    tokio_util::bytes::Bytes::from(vec![7u8; n])
}

/// The peer's side of each measurement.
fn child(role: &str, a: &str, b: &str) {
    let patience = Duration::from_secs(10);
    match role {
        "echo-async" => runtime().block_on(async {
            let mut rx = ipcx::tokio::Receiver::<Bytes>::open(a).expect("ping receiver");
            let mut tx = ipcx::tokio::Sender::<Bytes>::open_timeout(b, patience)
                .await
                .expect("pong sender");
            while let Ok(msg) = rx.recv_bytes().await {
                tx.send_bytes(msg).await.expect("pong");
            }
        }),
        "echo-block" => {
            let rx = ipcx::ByteReceiver::open(a).expect("ping receiver");
            let tx = ipcx::ByteSender::open_timeout(b, patience).expect("pong sender");
            while let Ok(msg) = rx.recv_bytes() {
                tx.send_bytes(msg).expect("pong");
            }
        }
        "stream-async" => runtime().block_on(async {
            let mut tx = ipcx::tokio::Sender::<Bytes>::open_timeout(a, patience)
                .await
                .expect("sender");
            let msg = [7u8; SIZE];
            for _ in 0..STREAM {
                tx.send_bytes(&msg[..]).await.expect("send");
            }
        }),
        "stream-block" => {
            let tx = ipcx::ByteSender::open_timeout(a, patience).expect("sender");
            let msg = [7u8; SIZE];
            for _ in 0..STREAM {
                tx.send_bytes(&msg[..]).expect("send");
            }
        }
        "echo-tokio" => runtime().block_on(async {
            let stream = UnixStream::connect(a).await.expect("connect");
            let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
            while let Some(Ok(msg)) = framed.next().await {
                framed.send(msg.freeze()).await.expect("pong");
            }
        }),
        // One write per message (`send` flushes), as ipcx sends.
        "stream-tokio" => runtime().block_on(async {
            let stream = UnixStream::connect(a).await.expect("connect");
            let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
            for _ in 0..STREAM {
                framed.send(bytes_of(SIZE)).await.expect("send");
            }
        }),
        // Frames gathered into the codec's buffer and written 8 KiB at a time.
        "stream-tokio-batched" => runtime().block_on(async {
            let stream = UnixStream::connect(a).await.expect("connect");
            let mut framed = Framed::new(stream, LengthDelimitedCodec::new());
            for _ in 0..STREAM {
                framed.feed(bytes_of(SIZE)).await.expect("send");
            }
            SinkExt::<tokio_util::bytes::Bytes>::flush(&mut framed)
                .await
                .expect("flush");
        }),
        other => panic!("unknown role {other}"),
    }
}

fn report(rows: &[(String, Row)]) {
    println!(
        "64-byte messages between two processes: {PINGS} round trips, {STREAM} streamed; \
         the median of {ROUNDS} rounds"
    );
    println!();
    println!("| | round trip p50 | p99 | streaming |");
    println!("|---|---|---|---|");
    for (label, row) in rows {
        let rates: Vec<String> = row
            .rates
            .iter()
            .map(|r| format!("{:.2} M msg/s", r / 1e6))
            .collect();
        println!(
            "| {label} | {:.1} µs | {:.1} µs | {} |",
            row.p50,
            row.p99,
            rates.join(" / batched ")
        );
    }
}
