//! Request/reply round trips against ping-pong on the same transport, 64
//! bytes, two processes, all in one run:
//!
//! - an `ipcx::rpc` call (`Client<Bytes, Bytes>`, the server's handler
//!   echoing), the server in another process;
//! - ipcx's own ping-pong on a `Duplex` (what a call adds is the frame
//!   header, the id lookup and the hop to a worker thread and back);
//!   (on `shm:`, a ping-pong over two ipcx rings);
//! - raw ping-pong: `write` then `read` of 64 bytes on a plain socket of
//!   the same kind (the kernel's floor; no framing), twice: reading with
//!   `MSG_DONTWAIT` for up to 20 µs before a blocking read (ipcx's own
//!   waiting policy), and blocking at once (what plain code does).
//!
//! `cargo bench -p ipcx --bench rpc`. The median of 3 interleaved rounds.
//! Waiting policy: ipcx's ends poll 20 µs before sleeping (`wait=adaptive`),
//! the call's and the Duplex's alike, and so does "raw, polling". So
//! "call / Duplex" is the cost of the call layer and "call / raw polling"
//! the cost of ipcx against the syscalls, each at one policy; "raw,
//! blocking" is what a user gets against plain blocking sockets.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use ipcx::rpc::{Client, Server};
use std::os::fd::AsFd;

use ipcx::{Bytes, Duplex, Listener, Receiver, Sender};

const SIZE: usize = 64;
const WARMUP: usize = 2_000;
const ROUND_TRIPS: usize = 20_000;
const ROUNDS: usize = 3;
const ROLE: &str = "IPCX_BENCH_ROLE";

fn main() {
    if let Ok(role) = std::env::var(ROLE) {
        return peer(&role, &std::env::var("IPCX_BENCH_EP").expect("endpoint"));
    }
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("ipcx-rpc-bench-{id}"));
    std::fs::create_dir_all(&dir).expect("scratch");
    let transports = [
        ("unix:", format!("unix:{}/b.sock", dir.display())),
        (
            "unix+seqpacket:",
            format!("unix+seqpacket:{}/b.sock", dir.display()),
        ),
        ("tcp:", "tcp:127.0.0.1:0".to_string()),
        ("shm:", format!("shm:/ipcx-rpc-bench-{id}")),
    ];
    let kinds = ["call", "duplex", "raw-poll", "raw"];
    let mut rounds: Vec<Vec<Vec<Duration>>> = Vec::new();
    for _ in 0..ROUNDS {
        let mut round = Vec::new();
        for (_, ep) in &transports {
            for kind in kinds {
                round.push(measure(kind, ep));
            }
        }
        rounds.push(round);
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!("64-byte round trips between two processes ({ROUND_TRIPS} each), the median of {ROUNDS} rounds");
    println!();
    println!(
        "| transport | ipcx call p50 / p99 | ipcx ping-pong p50 / p99 | raw, polling p50 / p99 | raw, blocking p50 / p99 | call / ping-pong | call / raw polling |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (t, (name, _)) in transports.iter().enumerate() {
        let row: Vec<Option<(f64, f64)>> = (0..kinds.len())
            .map(|k| median(rounds.iter().map(|r| &r[t * kinds.len() + k])))
            .collect();
        let cell = |c: Option<(f64, f64)>| {
            c.map_or("—".to_string(), |(p50, p99)| {
                format!("{p50:.1} / {p99:.1} µs")
            })
        };
        let ratio = |a: Option<(f64, f64)>, b: Option<(f64, f64)>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.2}", a.0 / b.0),
            _ => "—".to_string(),
        };
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} |",
            cell(row[0]),
            cell(row[1]),
            cell(row[2]),
            cell(row[3]),
            ratio(row[0], row[1]),
            ratio(row[0], row[2]),
        );
    }
}

/// p50 and p99 (µs) of each round, then the median of those; `None` for
/// a kind the transport has not (a raw socket on `shm:`).
fn median<'a>(rounds: impl Iterator<Item = &'a Vec<Duration>>) -> Option<(f64, f64)> {
    let pct =
        |r: &Vec<Duration>, p: f64| r[((r.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    let (mut p50, mut p99): (Vec<f64>, Vec<f64>) = rounds
        .filter(|r| !r.is_empty())
        .map(|r| (pct(r, 0.5), pct(r, 0.99)))
        .unzip();
    if p50.is_empty() {
        return None;
    }
    p50.sort_by(f64::total_cmp);
    p99.sort_by(f64::total_cmp);
    Some((p50[p50.len() / 2], p99[p99.len() / 2]))
}

fn spawn(role: &str, ep: &str) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().expect("exe"))
        .env(ROLE, role)
        .env("IPCX_BENCH_EP", ep)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn the peer")
}

/// The endpoint the peer printed on its first line.
fn bound(child: &mut std::process::Child) -> String {
    let mut line = String::new();
    let mut out = child.stdout.take().expect("stdout");
    let mut byte = [0u8; 1];
    while out.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
        line.push(byte[0] as char);
    }
    line
}

/// Round trips of one kind against a peer process; sorted.
fn measure(kind: &str, ep: &str) -> Vec<Duration> {
    let on_shm = ep.starts_with("shm:");
    if on_shm && kind.starts_with("raw") {
        return Vec::new();
    }
    // On shm: the ping-pong's replies come on a ring of this side's.
    let pongs = (on_shm && kind == "duplex")
        .then(|| Receiver::<Bytes>::open(format!("{ep}.pong")).expect("pong ring"));
    let mut child = spawn(kind, ep);
    let ep = bound(&mut child);
    let msg = [7u8; SIZE];
    let mut rtts = Vec::with_capacity(ROUND_TRIPS);
    let patience = Duration::from_secs(10);
    let mut time = |f: &mut dyn FnMut()| {
        for i in 0..WARMUP + ROUND_TRIPS {
            let t0 = Instant::now();
            f();
            if i >= WARMUP {
                rtts.push(t0.elapsed());
            }
        }
    };
    match kind {
        "call" => {
            let client = Client::<Bytes, Bytes>::connect_timeout(&ep, patience).expect("connect");
            time(&mut || {
                client.call_bytes(&msg, None).expect("call");
            });
        }
        "duplex" => {
            let (tx, rx) = match pongs {
                Some(rx) => (
                    Sender::<Bytes>::open_timeout(format!("{ep}.ping"), patience).expect("ping"),
                    rx,
                ),
                None => Duplex::<Bytes, Bytes>::connect_timeout(&ep, patience)
                    .expect("connect")
                    .split(),
            };
            time(&mut || {
                tx.send_bytes(&msg[..]).expect("ping");
                rx.recv_bytes().expect("pong");
            });
        }
        raw => {
            let mut conn = raw_connect(&ep);
            let polling = raw == "raw-poll";
            let mut buf = [0u8; SIZE];
            time(&mut || {
                conn.write_all(&msg).expect("ping");
                read_message(&mut *conn, &mut buf, polling).expect("pong");
            });
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    if let Some(name) = ep.strip_prefix("shm:/") {
        // The ping-pong's rings: one side was killed while the other
        // still held them (the rpc rings went when the client left).
        for ring in ["ping", "pong"] {
            let _ = std::fs::remove_file(format!("/dev/shm/{name}.{ring}"));
        }
    }
    rtts.sort_unstable();
    rtts
}

/// A plain socket of the endpoint's kind (seqpacket keeps a 64-byte
/// message one packet: `read_exact` reads it in one call).
fn raw_connect(ep: &str) -> Box<dyn ReadWrite> {
    if let Some(addr) = ep.strip_prefix("tcp:") {
        let s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        return Box::new(s);
    }
    let path = ep.split_once(':').expect("scheme").1;
    if ep.starts_with("unix+seqpacket:") {
        return Box::new(SeqPacket(seqpacket_connect(path)));
    }
    Box::new(std::os::unix::net::UnixStream::connect(path).expect("connect"))
}

trait ReadWrite: Read + Write + AsFd {}
impl<T: Read + Write + AsFd> ReadWrite for T {}

/// How long "raw, polling" reads without sleeping: ipcx's `wait=adaptive`.
const POLL_FOR: Duration = Duration::from_micros(20);

/// Reads one 64-byte message: at once with a blocking read, or (`polling`)
/// with `MSG_DONTWAIT` reads for up to [`POLL_FOR`] before one that blocks.
fn read_message(conn: &mut dyn ReadWrite, buf: &mut [u8], polling: bool) -> std::io::Result<()> {
    if polling {
        use rustix::net::{recv, RecvFlags};
        let started = Instant::now();
        let mut got = 0;
        while got < buf.len() && started.elapsed() < POLL_FOR {
            match recv(conn.as_fd(), &mut buf[got..], RecvFlags::DONTWAIT) {
                Ok((0, _)) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                Ok((n, _)) => got += n,
                Err(rustix::io::Errno::AGAIN) => std::hint::spin_loop(),
                Err(e) => return Err(e.into()),
            }
        }
        return conn.read_exact(&mut buf[got..]);
    }
    conn.read_exact(buf)
}

struct SeqPacket(std::os::fd::OwnedFd);

impl AsFd for SeqPacket {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Read for SeqPacket {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Ok(rustix::io::read(&self.0, buf)?)
    }
}

impl Write for SeqPacket {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(rustix::io::write(&self.0, buf)?)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn seqpacket_connect(path: &str) -> std::os::fd::OwnedFd {
    use rustix::net::{connect, socket, AddressFamily, SocketAddrUnix, SocketType};
    let fd = socket(AddressFamily::UNIX, SocketType::SEQPACKET, None).expect("socket");
    connect(&fd, &SocketAddrUnix::new(path).expect("path")).expect("connect");
    fd
}

/// The peer: prints where it listens, then serves one client.
fn peer(kind: &str, ep: &str) {
    let say = |ep: &str| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{ep}").expect("stdout");
        out.flush().expect("stdout");
    };
    match kind {
        "call" => {
            let server = Server::<Bytes, Bytes>::bind(ep).expect("bind").workers(1);
            say(&server.endpoint().to_string());
            let _ = server.serve_bytes(|request| Ok(request.to_vec()));
        }
        "duplex" if ep.starts_with("shm:") => {
            let pings = Receiver::<Bytes>::open(format!("{ep}.ping")).expect("ping ring");
            say(ep);
            let pongs =
                Sender::<Bytes>::open_timeout(format!("{ep}.pong"), Duration::from_secs(10))
                    .expect("pong ring");
            while let Ok(msg) = pings.recv_bytes() {
                if pongs.send_bytes(msg).is_err() {
                    break;
                }
            }
        }
        "duplex" => {
            let listener = Listener::bind(ep).expect("bind");
            say(&listener.endpoint().to_string());
            let conn: Duplex<Bytes, Bytes> = listener.accept().expect("accept");
            while let Ok(msg) = conn.receiver().recv_bytes() {
                if conn.sender().send_bytes(msg).is_err() {
                    break;
                }
            }
        }
        raw => raw_echo(ep, raw == "raw-poll", say),
    }
}

/// Echoes 64-byte messages on a plain socket, reading as the client does.
fn raw_echo(ep: &str, polling: bool, say: impl Fn(&str)) {
    let mut buf = [0u8; SIZE];
    let mut echo = |s: &mut dyn ReadWrite| {
        while read_message(s, &mut buf, polling).is_ok() && s.write_all(&buf).is_ok() {}
    };
    if ep.starts_with("tcp:") {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        say(&format!("tcp:{}", listener.local_addr().expect("addr")));
        let (mut s, _) = listener.accept().expect("accept");
        s.set_nodelay(true).expect("nodelay");
        echo(&mut s);
        return;
    }
    let path = ep.split_once(':').expect("scheme").1;
    let _ = std::fs::remove_file(path);
    if ep.starts_with("unix+seqpacket:") {
        use rustix::net::{
            accept, bind, listen, socket, AddressFamily, SocketAddrUnix, SocketType,
        };
        let fd = socket(AddressFamily::UNIX, SocketType::SEQPACKET, None).expect("socket");
        bind(&fd, &SocketAddrUnix::new(path).expect("path")).expect("bind");
        listen(&fd, 1).expect("listen");
        say(ep);
        echo(&mut SeqPacket(accept(&fd).expect("accept")));
    } else {
        let listener = std::os::unix::net::UnixListener::bind(path).expect("bind");
        say(ep);
        echo(&mut listener.accept().expect("accept").0);
    }
    let _ = std::fs::remove_file(path);
}
