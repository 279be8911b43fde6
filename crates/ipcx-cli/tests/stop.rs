//! `ipcx recv` and `ipcx send` stop at the first SIGTERM, idle or blocked,
//! on every transport: exit 0, print only what was queued, leave nothing.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use ipcx_testkit::cli as common;

/// How long after SIGTERM the process may take to exit. The waits it ends
/// answer in microseconds; the bound allows for a loaded machine.
const PROMPT: Duration = Duration::from_secs(1);

/// Waits for `r` to exit after a SIGTERM sent at `at`; checks it was prompt.
fn exits_promptly(r: Running, at: Instant, what: &str) -> (String, String) {
    let (ok, out, err) = finish(r);
    let took = at.elapsed();
    assert!(ok, "{what}: exit 0 after SIGTERM: {err}");
    assert!(took < PROMPT, "{what}: exited {took:?} after SIGTERM");
    (out, err)
}

/// What the receiver of `ep` created and must have removed.
fn leftover(ep: &str) -> Option<String> {
    let (scheme, rest) = ep.split_once(':').unwrap();
    let path = rest.split('?').next().unwrap();
    let exists = match scheme {
        "fifo" | "unix" | "unix+seqpacket" | "unix+dgram" if path.starts_with('/') => {
            std::path::Path::new(path).exists()
        }
        "shm" => std::path::Path::new(&format!("/dev/shm{path}")).exists(),
        "mq" => {
            let name = std::ffi::CString::new(path).unwrap();
            // SAFETY: a valid C string; the descriptor is closed at once.
            let fd = unsafe { libc::mq_open(name.as_ptr(), libc::O_RDONLY) };
            if fd >= 0 {
                // SAFETY: fd was just opened.
                unsafe { libc::mq_close(fd) };
            }
            fd >= 0
        }
        "sysvmq" => {
            let key = u32::from_str_radix(path.trim_start_matches("0x"), 16).unwrap();
            // SAFETY: msgget takes integers.
            (unsafe { libc::msgget(key as i32, 0) }) >= 0
        }
        _ => false,
    };
    exists.then(|| ep.to_owned())
}

#[test]
fn sigterm_stops_an_idle_recv_on_every_transport() {
    let s = Scratch::new("stop-idle");
    let _queues = Queues(format!("/ipcx-cli-{}", std::process::id()), sysv_key(1));
    for ep in endpoints(&s) {
        let rx = spawn_recv(&[&ep, "-n", "2"]);
        wait_for_handler(rx.0.id());
        // Let it reach its wait (the stop is seen wherever it is).
        std::thread::sleep(Duration::from_millis(50));
        let at = Instant::now();
        sigterm(rx.0.id());
        let (out, err) = exits_promptly(rx, at, &ep);
        assert_eq!(out, "", "{ep}: nothing was sent");
        assert!(err.contains("SIGTERM"), "{ep}: {err}");
        assert_eq!(leftover(&ep), None, "{ep}: left behind after the stop");
    }
}

#[test]
fn sigterm_stops_a_send_waiting_for_its_receiver() {
    let s = Scratch::new("stop-open");
    let ep = format!("unix:{}", s.path("nobody.sock"));
    let tx = Running(
        ipcx()
            .args(["send", &ep, "--wait", "60s", "hello"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_handler(tx.0.id());
    std::thread::sleep(Duration::from_millis(50));
    let at = Instant::now();
    sigterm(tx.0.id());
    exits_promptly(tx, at, "send --wait");
}

/// `ipcx send` reading an idle stdin stops too; what it sent stays sent.
#[test]
fn sigterm_stops_a_send_reading_an_idle_stdin() {
    let s = Scratch::new("stop-stdin");
    let ep = format!("unix:{}", s.path("idle.sock"));
    let rx = spawn_recv(&[&ep, "--serve"]);
    wait_for_handler(rx.0.id());
    let mut tx = Running(
        ipcx()
            .args(["send", &ep, "--wait", "20s"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = tx.0.stdin.take().unwrap();
    stdin.write_all(b"one\ntwo\n").unwrap();
    stdin.flush().unwrap();
    wait_for_handler(tx.0.id());
    // stdin stays open and quiet: the sender waits in poll.
    std::thread::sleep(Duration::from_millis(200));
    let at = Instant::now();
    sigterm(tx.0.id());
    exits_promptly(tx, at, "send on idle stdin");
    drop(stdin);
    let at = Instant::now();
    sigterm(rx.0.id());
    let (out, _) = exits_promptly(rx, at, "serving recv");
    assert_eq!(out, "one\ntwo\n");
}

/// `-n 3` on a listening endpoint takes three separate senders.
#[test]
fn recv_count_takes_new_senders_until_it_has_them() {
    let s = Scratch::new("serve-count");
    let ep = format!("unix:{}", s.path("three.sock"));
    let rx = spawn_recv(&[&ep, "-n", "3"]);
    for word in ["a", "b", "c"] {
        run_ok(&["send", &ep, "--wait", "20s", word]);
    }
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    assert_eq!(out, "a\nb\nc\n");
}
