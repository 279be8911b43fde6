//! `rpc-bench`: 64-byte request/reply round trips between two processes,
//! ipcx calls next to gRPC (tonic 0.12 over a Unix socket), in one run.
//!
//! Rows, each against a server process of its own that echoes:
//!
//! - gRPC: a tonic client (tokio, current-thread runtime) calling a tonic
//!   server (tokio, multi-thread) over a Unix stream socket: HTTP/2 and
//!   protobuf, tokio's epoll loop on both sides (it sleeps at once);
//! - ipcx on `unix:` with `wait=block` (it sleeps at once too: gRPC's
//!   waiting policy), then the default `wait=adaptive` (polls 20 µs first);
//! - ipcx async (`ipcx::tokio::rpc`, both sides) on `unix:`;
//! - ipcx on `shm:` (blocking and async): a pair of rings per client.
//!
//! `cargo run --release -p ipcx-bench --features grpc --bin rpc-bench`
//! (or scripts/bench-rpc). The median of 3 interleaved rounds.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ipcx::rpc::{Client, Server};
use ipcx::Bytes;

pub mod echo {
    tonic::include_proto!("ipcx.bench");
}

const SIZE: usize = 64;
const WARMUP: usize = 2_000;
const ROUND_TRIPS: usize = 20_000;
const ROUNDS: usize = 3;
const ROLE: &str = "IPCX_RPC_BENCH_ROLE";
const ADDR: &str = "IPCX_RPC_BENCH_ADDR";

/// One row: a name, the server's role, and the address it serves on.
struct Row {
    name: &'static str,
    role: &'static str,
    addr: String,
}

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        return serve(&role, &std::env::var(ADDR).expect("address"));
    }
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("ipcx-rpc-bench-{id}"));
    std::fs::create_dir_all(&dir).expect("scratch");
    let sock = |name: &str| dir.join(name).display().to_string();
    let rows = [
        Row {
            name: "gRPC (tonic) over a Unix socket",
            role: "tonic",
            addr: sock("grpc.sock"),
        },
        Row {
            name: "ipcx unix:?wait=block",
            role: "ipcx",
            addr: format!("unix:{}?wait=block", sock("block.sock")),
        },
        Row {
            name: "ipcx unix:",
            role: "ipcx",
            addr: format!("unix:{}", sock("adaptive.sock")),
        },
        Row {
            name: "ipcx async unix:",
            role: "ipcx-async",
            addr: format!("unix:{}", sock("async.sock")),
        },
        Row {
            name: "ipcx shm:",
            role: "ipcx",
            addr: format!("shm:/ipcx-rpc-bench-{id}"),
        },
        Row {
            name: "ipcx async shm:",
            role: "ipcx-async",
            addr: format!("shm:/ipcx-rpc-bench-async-{id}"),
        },
    ];
    let mut rounds: Vec<Vec<Vec<Duration>>> = Vec::new();
    for _ in 0..ROUNDS {
        rounds.push(rows.iter().map(measure).collect());
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "64-byte request/reply round trips between two processes ({ROUND_TRIPS} each), \
         the median of {ROUNDS} rounds"
    );
    println!();
    println!("| | p50 | p99 | gRPC p50 / this p50 |");
    println!("|---|---|---|---|");
    let stats: Vec<(f64, f64)> = (0..rows.len())
        .map(|r| median(rounds.iter().map(|round| &round[r])))
        .collect();
    for (row, (p50, p99)) in rows.iter().zip(&stats) {
        println!(
            "| {} | {p50:.1} µs | {p99:.1} µs | {:.1}× |",
            row.name,
            stats[0].0 / p50
        );
    }
}

/// p50 and p99 (µs) of each round, then the median of those.
fn median<'a>(rounds: impl Iterator<Item = &'a Vec<Duration>>) -> (f64, f64) {
    let pct =
        |r: &Vec<Duration>, p: f64| r[((r.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    let (mut p50, mut p99): (Vec<f64>, Vec<f64>) =
        rounds.map(|r| (pct(r, 0.5), pct(r, 0.99))).unzip();
    p50.sort_by(f64::total_cmp);
    p99.sort_by(f64::total_cmp);
    (p50[p50.len() / 2], p99[p99.len() / 2])
}

/// Round trips against a fresh server process for `row`; sorted.
fn measure(row: &Row) -> Vec<Duration> {
    let mut child = std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(ROLE, row.role)
        .env(ADDR, &row.addr)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the server");
    let addr = ready_line(&mut child);
    let msg = vec![7u8; SIZE];
    let patience = Duration::from_secs(10);
    let mut rtts = Vec::with_capacity(ROUND_TRIPS);
    let mut keep = |i: usize, t0: Instant| {
        if i >= WARMUP {
            rtts.push(t0.elapsed());
        }
    };
    match row.role {
        "tonic" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let mut client = echo::echo_client::EchoClient::new(uds_channel(addr).await);
                for i in 0..WARMUP + ROUND_TRIPS {
                    let t0 = Instant::now();
                    let reply = client
                        .call(echo::Msg { body: msg.clone() })
                        .await
                        .expect("gRPC call");
                    assert_eq!(reply.into_inner().body.len(), SIZE);
                    keep(i, t0);
                }
            });
        }
        "ipcx-async" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client =
                    ipcx::tokio::rpc::Client::<Bytes, Bytes>::connect_timeout(&addr, patience)
                        .await
                        .expect("connect");
                for i in 0..WARMUP + ROUND_TRIPS {
                    let t0 = Instant::now();
                    client.call_bytes(&msg, None).await.expect("call");
                    keep(i, t0);
                }
            });
        }
        _ => {
            let client = Client::<Bytes, Bytes>::connect_timeout(&addr, patience).expect("connect");
            for i in 0..WARMUP + ROUND_TRIPS {
                let t0 = Instant::now();
                client.call_bytes(&msg, None).expect("call");
                keep(i, t0);
            }
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    rtts.sort_unstable();
    rtts
}

/// A tonic channel over the Unix socket at `path` (tonic's own way:
/// a connector that ignores the URI).
async fn uds_channel(path: String) -> tonic::transport::Channel {
    tonic::transport::Endpoint::try_from("http://[::]:50051")
        .expect("uri")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .expect("connect to the gRPC server")
}

/// The first line the server printed: where it serves.
fn ready_line(child: &mut std::process::Child) -> String {
    let mut out = child.stdout.take().expect("stdout");
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while out.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
        line.push(byte[0]);
    }
    String::from_utf8(line).expect("utf-8")
}

fn say(addr: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{addr}").expect("stdout");
    out.flush().expect("stdout");
}

/// The gRPC service: echoes.
struct Echo;

#[tonic::async_trait]
impl echo::echo_server::Echo for Echo {
    async fn call(
        &self,
        request: tonic::Request<echo::Msg>,
    ) -> Result<tonic::Response<echo::Msg>, tonic::Status> {
        Ok(tonic::Response::new(request.into_inner()))
    }
}

/// The server roles.
fn serve(role: &str, addr: &str) {
    match role {
        "tonic" => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async {
                let _ = std::fs::remove_file(addr);
                let listener = tokio::net::UnixListener::bind(addr).expect("bind");
                say(addr);
                tonic::transport::Server::builder()
                    .add_service(echo::echo_server::EchoServer::new(Echo))
                    .serve_with_incoming(tokio_stream::wrappers::UnixListenerStream::new(listener))
                    .await
                    .expect("serve gRPC");
            });
        }
        "ipcx-async" => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            rt.block_on(async {
                let server = ipcx::tokio::rpc::Server::<Bytes, Bytes>::bind(addr).expect("bind");
                say(&server.endpoint().to_string());
                let _ = server.serve_bytes(|r| async move { Ok(r) }).await;
            });
        }
        _ => {
            let server = Server::<Bytes, Bytes>::bind(addr).expect("bind").workers(1);
            say(&server.endpoint().to_string());
            let _ = server.serve_bytes(|r| Ok(r.to_vec()));
        }
    }
}
