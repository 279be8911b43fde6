//! The peer process of a round: this binary re-run as a sender or a
//! receiver of numbered messages. It reports on its stdout without any
//! buffering in between, so that what it wrote before SIGKILL is all there.
//!
//! - `send`: prints `READY`, then sends #0, #1, ... until a send fails.
//! - `recv`: prints `READY <endpoint>\n`, then 8 bytes per message: its
//!   number, [`CORRUPT`] for one that is not intact, [`END`] at the end.

use std::io::Write;
use std::os::fd::AsFd;
use std::time::Duration;

use super::message;

pub const ROLE_ENV: &str = "IPCX_FAULT_PEER";
pub const EP_ENV: &str = "IPCX_FAULT_EP";
pub const CORRUPT: u64 = u64::MAX;
pub const END: u64 = u64::MAX - 1;

pub fn run(role: &str) -> ! {
    let ep = std::env::var(EP_ENV).expect("IPCX_FAULT_EP");
    // Unbuffered: each write is one write(2) on the pipe to the test.
    let mut out = std::fs::File::from(
        std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .expect("stdout"),
    );
    match role {
        "send" => send(&ep, &mut out),
        "recv" => recv(&ep, &mut out),
        other => panic!("unknown peer role {other}"),
    }
    std::process::exit(0)
}

fn send(ep: &str, out: &mut std::fs::File) {
    let tx = ipcx::ByteSender::open_timeout(ep, Duration::from_secs(20)).expect("peer sender");
    out.write_all(b"READY\n").unwrap();
    let mut buf = Vec::new();
    for seq in 0.. {
        message::encode(seq, &mut buf);
        if tx.send_bytes(&buf).is_err() {
            break;
        }
    }
}

fn recv(ep: &str, out: &mut std::fs::File) {
    let rx = ipcx::ByteReceiver::open(ep).expect("peer receiver");
    writeln!(out, "READY {}", rx.endpoint()).unwrap();
    loop {
        match rx.recv_bytes() {
            Ok(bytes) => {
                let seq = message::decode(&bytes).unwrap_or(CORRUPT);
                out.write_all(&seq.to_le_bytes()).unwrap();
            }
            Err(ipcx::RecvError::Disconnected) => break,
            // A torn frame at the end, or garbage: reported, not delivered.
            Err(ipcx::RecvError::Failed(_)) => {}
        }
    }
    out.write_all(&END.to_le_bytes()).unwrap();
}
