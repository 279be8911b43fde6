//! `tcp-pingpong one|two [ROUNDS]`: what a one-way channel per direction
//! costs a request/response over loopback TCP, with no ipcx code at all.
//! Two threads pinned to two CPUs ping-pong 64 bytes (`TCP_NODELAY`,
//! polling with non-blocking reads, as ipcx's default waits), either over
//! one connection both ways or over one connection per direction (what two
//! ipcx channels, a `Sender` each way, are). Prints the one-way p50/p99.
//!
//! Measured on this 2-vCPU guest (2026-12-02, 40 000 rounds, three runs):
//! one connection 3.4–4.1 µs, two 5.4–6.0 µs (1.46–1.6×). `nstat
//! TcpOutSegs` says why: 80 009 segments with one connection, 160 012
//! with two. On one connection the answer carries the ACK of the question;
//! with two, every message's ACK goes back as a segment of its own, and
//! each costs both sides the TCP input path. ipcx's `tcp:` latency row in
//! `ipcx bench` (two channels) meets exactly this; its `call` row (one
//! connection, `ipcx::rpc`) does not.

#![deny(unsafe_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Instant;

mod affinity;

fn connect(listener: &TcpListener) -> (TcpStream, TcpStream) {
    let port = listener.local_addr().expect("addr").port();
    let out = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let (inn, _) = listener.accept().expect("accept");
    for s in [&out, &inn] {
        s.set_nodelay(true).expect("nodelay");
        s.set_nonblocking(true).expect("nonblocking");
    }
    (out, inn)
}

/// Reads exactly `buf.len()` bytes, polling.
fn read_polling(s: &mut TcpStream, buf: &mut [u8]) {
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) => panic!("the peer closed"),
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => panic!("read: {e}"),
        }
    }
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "one".into());
    let rounds: usize = std::env::args()
        .nth(2)
        .map_or(40_000, |n| n.parse().expect("ROUNDS"));
    let two = match mode.as_str() {
        "one" => false,
        "two" => true,
        other => panic!("mode `{other}`: one or two"),
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    // `ping`: this thread → the echo; `pong`: back (the same connection
    // with `one`).
    let (ping_tx, mut ping_rx) = connect(&listener);
    let (mut pong_tx, mut pong_rx) = if two {
        connect(&listener)
    } else {
        (
            ping_rx.try_clone().expect("clone"),
            ping_tx.try_clone().expect("clone"),
        )
    };
    let cpus = affinity::allowed();
    let (mine, theirs) = (cpus.first().copied().unwrap_or(0), cpus.get(1).copied());
    let echo = std::thread::spawn(move || {
        if let Some(cpu) = theirs {
            affinity::pin(cpu);
        }
        let mut buf = [0u8; 64];
        for _ in 0..rounds {
            read_polling(&mut ping_rx, &mut buf);
            pong_tx.write_all(&buf).expect("write");
        }
    });
    affinity::pin(mine);
    let mut ping_tx = ping_tx;
    let mut buf = [7u8; 64];
    let mut rtts = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t0 = Instant::now();
        ping_tx.write_all(&buf).expect("write");
        read_polling(&mut pong_rx, &mut buf);
        rtts.push(t0.elapsed().as_nanos() as f64);
    }
    echo.join().expect("echo");
    let warm = &mut rtts[rounds / 10..];
    warm.sort_by(f64::total_cmp);
    let at = |q: f64| warm[((warm.len() - 1) as f64 * q) as usize] / 2e3;
    println!(
        "{mode} connection(s): one-way p50 {:.2} µs, p99 {:.2} µs",
        at(0.5),
        at(0.99)
    );
}
