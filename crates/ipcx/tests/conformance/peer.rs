//! The roles a peer process plays. Each reads its endpoint and parameters
//! from the environment and reports on stdout, one line per event.

use std::io::{BufRead, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

use ipcx::{Receiver, RecvTimeoutError, Sender};

use crate::harness::{EP_ENV, PATIENCE};
use crate::Msg;

fn param(name: &str) -> Option<String> {
    std::env::var(format!("IPCX_{}", name.to_uppercase())).ok()
}

fn count() -> u64 {
    param("count").map_or(1, |c| c.parse().expect("IPCX_COUNT is a number"))
}

fn sizes() -> Vec<usize> {
    param("sizes").map_or(vec![16], |s| {
        s.split(',').map(|n| n.parse().expect("size")).collect()
    })
}

fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout");
}

/// Blocks until the test writes a line (or closes stdin).
fn wait_for_go() {
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
}

pub fn run(role: &str) -> ! {
    let ep = std::env::var(EP_ENV).expect("IPCX_EP");
    match role {
        "send" => send(&ep),
        "send-string" => send_string(&ep),
        "recv" => recv(&ep),
        "raw" => raw(&ep),
        "try-open" => try_open(&ep),
        "duplex-echo" => duplex_echo(&ep),
        "duplex-serve" => duplex_serve(&ep),
        other => panic!("unknown peer role {other}"),
    }
    std::process::exit(0)
}

fn send(ep: &str) {
    let tx = Sender::<Msg>::open_timeout(ep, PATIENCE).expect("peer opens its sender");
    let sizes = sizes();
    let n = count();
    let offset: u64 = param("offset").map_or(0, |o| o.parse().expect("offset"));
    // `burst=B&pause_ms=P`: a pause after every B messages.
    let burst: u64 = param("burst").map_or(u64::MAX, |b| b.parse().expect("burst"));
    let pause =
        Duration::from_millis(param("pause_ms").map_or(0, |p| p.parse().expect("pause_ms")));
    for i in 0..n {
        if i > 0 && i % burst == 0 {
            std::thread::sleep(pause);
        }
        let sent = tx.send(Msg::new(offset + i, sizes[i as usize % sizes.len()]));
        // `until_gone`: a receiver that stops is the expected end.
        if sent.is_err() && param("until_gone").is_some() {
            say(format_args!("GONE {i}"));
            return;
        }
        sent.expect("peer sends");
    }
    say(format_args!("SENT {n}"));
    if param("hang").is_some() {
        wait_for_go();
    }
}

fn send_string(ep: &str) {
    let tx = match Sender::<String>::open_timeout(ep, PATIENCE) {
        Ok(tx) => tx,
        Err(e) => {
            say(format_args!("OPEN ERR {:?} {e}", e.kind()));
            return;
        }
    };
    for _ in 0..count() {
        match tx.send_timeout("not a Msg".into(), PATIENCE) {
            Ok(()) => say("OK"),
            Err(e) => say(format_args!("ERR {e}")),
        }
    }
    if param("hang").is_some() {
        wait_for_go();
    }
}

/// Opens a sender and sends one message, reporting the outcome instead of
/// failing: for tests of who may connect.
fn try_open(ep: &str) {
    match Sender::<Msg>::open(ep) {
        Err(e) => say(format_args!("OPEN ERR {:?}", e.kind())),
        Ok(tx) => {
            say("OPEN OK");
            match tx.send_timeout(Msg::new(0, 3), PATIENCE) {
                Ok(()) => say("SEND OK"),
                Err(e) => say(format_args!("SEND ERR {e}")),
            }
        }
    }
    wait_for_go();
}

/// Connects a blocking `Duplex`, sends `count` messages, and checks that
/// each comes back: `ECHOED n`.
fn duplex_echo(ep: &str) {
    let conn = ipcx::Duplex::<Msg, Msg>::connect_timeout(ep, PATIENCE).expect("connect");
    let n = count();
    for seq in 0..n {
        conn.send(Msg::new(seq, 100)).expect("send");
    }
    for seq in 0..n {
        let m = conn.recv_timeout(PATIENCE).expect("echo");
        assert!(m.seq == seq && m.is_intact(), "echo {seq}");
    }
    say(format_args!("ECHOED {n}"));
}

/// A blocking `Listener` that accepts one connection and echoes it.
fn duplex_serve(ep: &str) {
    let listener = ipcx::Listener::bind(ep).expect("bind");
    say(format_args!("READY {}", listener.endpoint()));
    let conn: ipcx::Duplex<Msg, Msg> = listener.accept().expect("accept");
    let mut echoed = 0;
    while let Ok(m) = conn.recv() {
        conn.send(m).expect("echo");
        echoed += 1;
    }
    say(format_args!("ECHOED {echoed}"));
}

fn recv(ep: &str) {
    let rx = Receiver::<Msg>::open(ep).expect("peer opens its receiver");
    say(format_args!("READY {}", rx.endpoint()));
    if param("wait_go").is_some() {
        wait_for_go();
    }
    let limit = param("count").map(|c| c.parse::<u64>().expect("count"));
    // `pace_us=N`: a slow receiver, N µs after each message.
    let pace = Duration::from_micros(param("pace_us").map_or(0, |p| p.parse().expect("pace_us")));
    let mut got = 0;
    while limit.is_none_or(|n| got < n) {
        if !pace.is_zero() {
            std::thread::sleep(pace);
        }
        match rx.recv_timeout(PATIENCE) {
            Ok(m) if m.is_intact() => say(format_args!("GOT {} {}", m.seq, m.payload.len())),
            Ok(m) => say(format_args!("CORRUPT {}", m.seq)),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => say("TIMEOUT"),
            Err(RecvTimeoutError::Failed(e)) => say(format_args!("ERR {:?} {e}", e.kind())),
        }
        got += 1;
    }
    say("END");
    if param("hang").is_some() {
        wait_for_go();
    }
}

/// Writes raw bytes (hex chunks separated by commas in IPCX_RAW) straight to
/// the endpoint, bypassing ipcx: one write per chunk on streams, one packet
/// or datagram per chunk otherwise.
///
/// `repeat=N`: every chunk N times, without pauses (a flood); a write the
/// receiver refuses then ends the peer quietly (it was cut off).
fn raw(ep: &str) {
    let repeat: usize = param("repeat").map_or(1, |r| r.parse().expect("repeat"));
    let chunks: Vec<Vec<u8>> = param("raw")
        .expect("IPCX_RAW")
        .split(',')
        .map(|c| {
            (0..c.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&c[i..i + 2], 16).expect("hex"))
                .collect::<Vec<u8>>()
        })
        .flat_map(|c| std::iter::repeat_n(c, repeat))
        .collect();
    let (scheme, addr) = ep.split_once(':').expect("scheme");
    let addr = addr.split('?').next().expect("address");
    match scheme {
        "pipe" => {
            let fd: i32 = addr.parse().expect("fd");
            // SAFETY: the parent handed this process fd `fd` for this purpose.
            let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
            write_chunks(&mut f, &chunks);
        }
        "fifo" => {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .open(addr)
                .expect("open fifo");
            write_chunks(&mut f, &chunks);
        }
        "unix" => {
            let mut s =
                std::os::unix::net::UnixStream::connect_addr(&unix_addr(addr)).expect("connect");
            write_chunks(&mut s, &chunks);
        }
        "tcp" => {
            let addr: std::net::SocketAddr = addr.parse().expect("tcp address");
            let mut s = std::net::TcpStream::connect(addr).expect("connect");
            write_chunks(&mut s, &chunks);
        }
        "unix+dgram" => {
            let s = std::os::unix::net::UnixDatagram::unbound().expect("socket");
            s.connect_addr(&unix_addr(addr)).expect("connect");
            for c in &chunks {
                written(s.send(c));
            }
            say("WROTE");
        }
        "udp" => {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
            s.connect(addr).expect("connect");
            for c in &chunks {
                s.send(c).expect("send");
            }
            say("WROTE");
        }
        "mq" => {
            crate::raw::mq_send_raw(addr, &chunks);
            say("WROTE");
        }
        "shm" => {
            // Without the receiver's options (its max_msg is not ours).
            let plain = format!("shm:{addr}");
            let tx = ipcx::Sender::<ipcx::Bytes>::open_timeout(plain, PATIENCE).expect("open");
            for c in &chunks {
                tx.send_bytes(c).expect("send");
            }
            say("WROTE");
            if param("hang").is_some() {
                wait_for_go();
            }
        }
        "sysvmq" => {
            let key = u32::from_str_radix(addr.trim_start_matches("0x"), 16).expect("hex key");
            crate::raw::sysv_send_raw(key, &chunks);
            say("WROTE");
        }
        "unix+seqpacket" => {
            use rustix::net::{AddressFamily, SendFlags, SocketType};
            let s = rustix::net::socket(AddressFamily::UNIX, SocketType::SEQPACKET, None)
                .expect("socket");
            let sa = match addr.strip_prefix('@') {
                Some(name) => rustix::net::SocketAddrUnix::new_abstract_name(name.as_bytes()),
                None => rustix::net::SocketAddrUnix::new(addr),
            }
            .expect("address");
            rustix::net::connect(&s, &sa).expect("connect");
            for c in &chunks {
                written(rustix::net::send(&s, c, SendFlags::empty()).map_err(std::io::Error::from));
            }
            say("WROTE");
            wait_for_go();
        }
        other => panic!("raw peer cannot speak {other}"),
    }
}

/// A raw write's outcome: a failure ends a flood quietly (the receiver cut
/// it off, as it should), and fails any other raw peer.
fn written<T>(result: std::io::Result<T>) {
    match result {
        Ok(_) => {}
        Err(e) if param("repeat").is_some() => {
            say(format_args!("CUT {e}"));
            std::process::exit(0);
        }
        Err(e) => panic!("raw write: {e}"),
    }
}

fn unix_addr(addr: &str) -> std::os::unix::net::SocketAddr {
    use std::os::linux::net::SocketAddrExt;
    match addr.strip_prefix('@') {
        Some(name) => std::os::unix::net::SocketAddr::from_abstract_name(name).expect("abstract"),
        None => std::os::unix::net::SocketAddr::from_pathname(addr).expect("path"),
    }
}

/// Writes each chunk separately (so the receiver may see them in separate
/// reads), then, with IPCX_HANG, keeps the connection open until told.
fn write_chunks(w: &mut impl Write, chunks: &[Vec<u8>]) {
    let flood = param("repeat").is_some();
    for c in chunks {
        written(w.write_all(c).and_then(|()| w.flush()));
        if !flood {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    say("WROTE");
    if param("hang").is_some() {
        wait_for_go();
    }
}
