//! Round-trip latency of 64-byte messages between two processes: ipcx next
//! to the same mechanism driven by raw syscalls, in one run, as ratios
//! (these machines are shared and noisy; compare within a run).
//!
//! Run: `cargo run --release -p ipcx --example pingpong [ROUNDS]`
//! (`ipcx bench` will grow out of this; see the Bench issue.)

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use ipcx::{Bytes, Duplex, Listener};

const SIZE: usize = 64;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    if let Ok(role) = std::env::var("PINGPONG_ROLE") {
        return echo(&role, &std::env::var("PINGPONG_EP")?);
    }
    let rounds: usize = std::env::args().nth(1).map_or(Ok(20_000), |n| n.parse())?;
    let dir = std::env::temp_dir().join(format!("ipcx-pingpong-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    println!(
        "64-byte round trips between two processes, {rounds} rounds each (median / p99 in µs)"
    );
    let raw = raw_unix(&dir.join("raw.sock"), rounds)?;
    let ipcx = ipcx_duplex(&format!("unix:{}", dir.join("ipcx.sock").display()), rounds)?;
    let tcp_raw = raw_tcp(rounds)?;
    let tcp_ipcx = ipcx_duplex("tcp:127.0.0.1:0", rounds)?;
    std::fs::remove_dir_all(&dir)?;
    report("unix stream", &raw, &ipcx);
    report("tcp loopback", &tcp_raw, &tcp_ipcx);
    Ok(())
}

fn report(name: &str, raw: &[Duration], ipcx: &[Duration]) {
    let q = |v: &[Duration], p: f64| v[((v.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!(
        "{name:<13} raw {:>6.2} / {:>6.2}   ipcx {:>6.2} / {:>6.2}   ipcx/raw median {:.2}",
        q(raw, 0.5),
        q(raw, 0.99),
        q(ipcx, 0.5),
        q(ipcx, 0.99),
        q(ipcx, 0.5) / q(raw, 0.5)
    );
}

fn spawn(role: &str, ep: &str) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .env("PINGPONG_ROLE", role)
        .env("PINGPONG_EP", ep)
        .spawn()
}

fn timed(
    rounds: usize,
    mut round: impl FnMut() -> std::io::Result<()>,
) -> std::io::Result<Vec<Duration>> {
    for _ in 0..rounds / 10 {
        round()?; // warm-up
    }
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        round()?;
        times.push(t.elapsed());
    }
    times.sort();
    Ok(times)
}

fn ipcx_duplex(ep: &str, rounds: usize) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let listener = Listener::bind(ep)?;
    let mut child = spawn("ipcx", &listener.endpoint().to_string())?;
    let conn: Duplex<Bytes, Bytes> = listener.accept()?;
    let msg = [7u8; SIZE];
    let times = timed(rounds, || {
        conn.sender()
            .send_bytes(&msg[..])
            .map_err(|_| std::io::ErrorKind::BrokenPipe)?;
        conn.receiver()
            .recv_bytes_with(None, |b| assert_eq!(b.len(), SIZE))
            .map_err(|_| std::io::ErrorKind::BrokenPipe)?;
        Ok(())
    })?;
    drop(conn);
    child.wait()?;
    Ok(times)
}

/// The same exchange with plain `write`/`read` and a 4-byte length, as a
/// hand-written framed protocol would do it.
fn raw_round(s: &mut (impl Read + Write), buf: &mut [u8; SIZE + 4]) -> std::io::Result<()> {
    buf[..4].copy_from_slice(&(SIZE as u32).to_le_bytes());
    s.write_all(&buf[..])?;
    s.read_exact(&mut buf[..])
}

fn raw_unix(
    path: &std::path::Path,
    rounds: usize,
) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let listener = UnixListener::bind(path)?;
    let mut child = spawn("raw-unix", path.to_str().ok_or("path")?)?;
    let (mut s, _) = listener.accept()?;
    let mut buf = [0u8; SIZE + 4];
    let times = timed(rounds, || raw_round(&mut s, &mut buf))?;
    drop(s);
    child.wait()?;
    Ok(times)
}

fn raw_tcp(rounds: usize) -> Result<Vec<Duration>, Box<dyn std::error::Error>> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let mut child = spawn("raw-tcp", &listener.local_addr()?.to_string())?;
    let (mut s, _) = listener.accept()?;
    s.set_nodelay(true)?;
    let mut buf = [0u8; SIZE + 4];
    let times = timed(rounds, || raw_round(&mut s, &mut buf))?;
    drop(s);
    child.wait()?;
    Ok(times)
}

fn echo(role: &str, ep: &str) -> Result<(), Box<dyn std::error::Error>> {
    match role {
        "ipcx" => {
            let conn = Duplex::<Bytes, Bytes>::connect(ep)?;
            let (tx, rx) = conn.split();
            while let Ok(()) = rx
                .recv_bytes_with(None, |b| tx.send_bytes(b).map_err(|_| ()))
                .map(|r| r.unwrap_or(()))
            {}
        }
        "raw-unix" | "raw-tcp" => {
            let mut s: Box<dyn ReadWrite> = if role == "raw-unix" {
                Box::new(UnixStream::connect(ep)?)
            } else {
                let s = std::net::TcpStream::connect(ep)?;
                s.set_nodelay(true)?;
                Box::new(s)
            };
            let mut buf = [0u8; SIZE + 4];
            while s.read_exact(&mut buf).is_ok() {
                s.write_all(&buf)?;
            }
        }
        other => return Err(format!("unknown role {other}").into()),
    }
    Ok(())
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}
