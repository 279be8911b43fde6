//! ipcx over NATS next to raw async-nats, in one run against one
//! nats-server this program starts on a free loopback port: throughput
//! (one publisher, one subscriber, each on its own connection) and
//! ping-pong latency (a round trip through an echo on two subjects), at
//! 64 B and 64 KiB. Both sides sleep while waiting (no spinning): raw
//! async-nats on a tokio runtime, ipcx's blocking ends on their threads.
//!
//! Run: `scripts/bench-nats` (or `cargo run --release -p ipcx-bench
//! --features nats --bin nats-bench`).

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ipcx::{Bytes, Receiver, RecvTimeoutError, Sender};

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server (apt-get install nats-server)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Server(child, port)
}

struct Throughput {
    received: u64,
    lost: u64,
    seconds: f64,
}

impl Throughput {
    fn rate(&self) -> f64 {
        self.received as f64 / self.seconds
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn raw_throughput(
    rt: &tokio::runtime::Runtime,
    url: &str,
    subject: &str,
    size: usize,
    n: u64,
) -> Throughput {
    rt.block_on(async {
        let sub_client = async_nats::connect(url).await.unwrap();
        let mut sub = sub_client.subscribe(subject.to_owned()).await.unwrap();
        sub_client.flush().await.unwrap();
        let pub_client = async_nats::connect(url).await.unwrap();
        let payload = bytes::Bytes::from(vec![7u8; size]);
        let subject = subject.to_owned();
        let start = Instant::now();
        let publisher = tokio::spawn(async move {
            for _ in 0..n {
                pub_client
                    .publish(subject.clone(), payload.clone())
                    .await
                    .unwrap();
            }
            pub_client.flush().await.unwrap();
        });
        let mut received = 0;
        while received < n {
            match tokio::time::timeout(Duration::from_secs(2), sub.next()).await {
                Ok(Some(_)) => received += 1,
                _ => break,
            }
        }
        let seconds = start.elapsed().as_secs_f64();
        publisher.await.unwrap();
        Throughput {
            received,
            lost: n - received,
            seconds,
        }
    })
}

fn ipcx_throughput(url: &str, subject: &str, size: usize, n: u64) -> Throughput {
    let ep = format!("{url}/{subject}");
    let rx = Receiver::<Bytes>::open(&ep).unwrap();
    let tx = Sender::<Bytes>::open(&ep).unwrap();
    let payload = vec![7u8; size];
    let start = Instant::now();
    let publisher = std::thread::spawn(move || {
        for _ in 0..n {
            tx.send_bytes(&payload).unwrap();
        }
    });
    let mut received = 0;
    while received < n {
        match rx.recv_bytes_timeout(Duration::from_secs(2)) {
            Ok(_) => received += 1,
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    publisher.join().unwrap();
    Throughput {
        received,
        lost: rx.missed(),
        seconds,
    }
}

fn raw_latency(
    rt: &tokio::runtime::Runtime,
    url: &str,
    tag: &str,
    size: usize,
    n: usize,
) -> Vec<Duration> {
    rt.block_on(async {
        let (ping, pong) = (format!("{tag}.ping"), format!("{tag}.pong"));
        let echo = async_nats::connect(url).await.unwrap();
        let mut pings = echo.subscribe(ping.clone()).await.unwrap();
        echo.flush().await.unwrap();
        let pong_subject = pong.clone();
        let echoing = tokio::spawn(async move {
            while let Some(m) = pings.next().await {
                echo.publish(pong_subject.clone(), m.payload).await.unwrap();
            }
        });
        let client = async_nats::connect(url).await.unwrap();
        let mut pongs = client.subscribe(pong).await.unwrap();
        client.flush().await.unwrap();
        let payload = bytes::Bytes::from(vec![7u8; size]);
        let mut samples = Vec::with_capacity(n);
        for i in 0..n + n / 10 {
            let t = Instant::now();
            client.publish(ping.clone(), payload.clone()).await.unwrap();
            pongs.next().await.unwrap();
            if i >= n / 10 {
                samples.push(t.elapsed());
            }
        }
        echoing.abort();
        samples
    })
}

fn ipcx_latency(url: &str, tag: &str, size: usize, n: usize) -> Vec<Duration> {
    let ping = format!("{url}/{tag}.ping");
    let pong = format!("{url}/{tag}.pong?serve=true");
    let pings = Receiver::<Bytes>::open(format!("{ping}?serve=true")).unwrap();
    let pongs = Receiver::<Bytes>::open(&pong).unwrap();
    let echo_tx = Sender::<Bytes>::open(format!("{url}/{tag}.pong")).unwrap();
    let echo = std::thread::spawn(move || {
        while let Ok(m) = pings.recv_bytes_timeout(Duration::from_secs(2)) {
            if echo_tx.send_bytes(&m).is_err() {
                break;
            }
        }
    });
    let tx = Sender::<Bytes>::open(&ping).unwrap();
    let payload = vec![7u8; size];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        tx.send_bytes(&payload).unwrap();
        pongs.recv_bytes_timeout(Duration::from_secs(5)).unwrap();
        if i >= n / 10 {
            samples.push(t.elapsed());
        }
    }
    drop(tx);
    echo.join().unwrap();
    samples
}

fn main() {
    let server = start_server();
    let url = format!("nats://127.0.0.1:{}", server.1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!("ipcx over NATS next to raw async-nats, nats-server on loopback (one run)");
    println!();
    println!("| size | raw msg/s | ipcx msg/s | ratio | raw lost | ipcx lost (counted) |");
    println!("|---|---|---|---|---|---|");
    for (size, n) in [(64usize, 200_000u64), (64 << 10, 5_000)] {
        // Alternate, twice each, and keep the better of each: the machine is noisy.
        let mut raw = raw_throughput(&rt, &url, &format!("bench.tp.raw.{size}.0"), size, n);
        let mut ours = ipcx_throughput(&url, &format!("bench.tp.ipcx.{size}.0"), size, n);
        let raw2 = raw_throughput(&rt, &url, &format!("bench.tp.raw.{size}.1"), size, n);
        let ours2 = ipcx_throughput(&url, &format!("bench.tp.ipcx.{size}.1"), size, n);
        if raw2.rate() > raw.rate() {
            raw = raw2;
        }
        if ours2.rate() > ours.rate() {
            ours = ours2;
        }
        println!(
            "| {} | {:.0} | {:.0} | {:.2} | {} | {} |",
            if size == 64 {
                "64 B".into()
            } else {
                "64 KiB".to_string()
            },
            raw.rate(),
            ours.rate(),
            ours.rate() / raw.rate(),
            raw.lost,
            ours.lost
        );
    }
    println!();
    println!("| size | raw p50 | ipcx p50 | ratio | raw p99 | ipcx p99 | ratio |");
    println!("|---|---|---|---|---|---|---|");
    for (size, n) in [(64usize, 5_000usize), (64 << 10, 2_000)] {
        let mut raw = raw_latency(&rt, &url, &format!("bench.lat.raw.{size}"), size, n);
        let mut ours = ipcx_latency(&url, &format!("bench.lat.ipcx.{size}"), size, n);
        raw.sort();
        ours.sort();
        let (r50, o50) = (percentile(&raw, 0.5), percentile(&ours, 0.5));
        let (r99, o99) = (percentile(&raw, 0.99), percentile(&ours, 0.99));
        println!(
            "| {} | {:.1} µs | {:.1} µs | {:.2} | {:.1} µs | {:.1} µs | {:.2} |",
            if size == 64 { "64 B" } else { "64 KiB" },
            r50.as_secs_f64() * 1e6,
            o50.as_secs_f64() * 1e6,
            o50.as_secs_f64() / r50.as_secs_f64(),
            r99.as_secs_f64() * 1e6,
            o99.as_secs_f64() * 1e6,
            o99.as_secs_f64() / r99.as_secs_f64()
        );
    }
    drop(server);
}
