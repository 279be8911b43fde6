//! The `ipcx` binary, run as users run it: `recv` and `send` in separate
//! processes over every transport, and the errors people will meet.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::prelude::OutputAssertExt;

use common::*;
use ipcx_testkit::cli as common;

#[test]
fn send_args_and_recv_over_every_transport() {
    let s = Scratch::new("args");
    let _queues = Queues(format!("/ipcx-cli-{}", std::process::id()), sysv_key(1));
    for ep in endpoints(&s) {
        let rx = spawn_recv(&[&ep, "--timeout", "20s"]);
        if let Some(addr) = ep.strip_prefix("udp:") {
            // UDP cannot tell a sender whether anyone listens: datagrams sent
            // before the receiver binds are lost. Wait until it holds the port.
            wait_until_taken(addr);
        }
        ipcx()
            .args(["send", &ep, "--wait", "20s", "hello", "two words", ""])
            .assert()
            .success();
        let (ok, out, err) = finish(rx);
        assert!(ok, "{ep}: recv failed: {err}");
        assert_eq!(out, "hello\ntwo words\n\n", "{ep}");
    }
    assert_eq!(
        std::fs::read_dir(&s.0).unwrap().count(),
        0,
        "every socket file and FIFO was removed"
    );
}

/// Waits until some socket holds UDP address `addr` (binding it fails).
fn wait_until_taken(addr: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::UdpSocket::bind(addr).is_ok() {
        assert!(Instant::now() < deadline, "nobody bound {addr}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn send_stdin_lines_and_recv_count() {
    let s = Scratch::new("stdin");
    let ep = format!("unix:{}", s.path("lines.sock"));
    let rx = spawn_recv(&[&ep, "-n", "2"]);
    // The receiver leaves after two messages, so the third send may find
    // it gone: that is the only failure allowed.
    let sent = assert_cmd::Command::cargo_bin("ipcx")
        .unwrap()
        .args(["send", &ep, "--wait", "20s"])
        .write_stdin("one\ntwo\nthree\n")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&sent.stderr);
    assert!(
        sent.status.success() || err.contains("the receiver is gone"),
        "{err}"
    );
    let (ok, out, _) = finish(rx);
    assert!(ok);
    assert_eq!(out, "one\ntwo\n", "-n 2 stops after two messages");
}

#[test]
fn pipe_through_a_shell_pipeline() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'a\\nb\\n' | {0} send pipe:1 | {0} recv pipe:0 --hex",
            ipcx().get_program().to_str().unwrap()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "61\n62\n");
}

#[test]
fn errors_are_clear_and_fail() {
    let s = Scratch::new("errors");
    let out = ipcx()
        .args(["send", "carrier-pigeon:/x", "hi"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown scheme `carrier-pigeon`") && err.contains("unix+seqpacket"),
        "{err}"
    );

    let out = ipcx()
        .args(["send", &format!("unix:{}", s.path("nobody.sock")), "hi"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nobody is listening"), "{err}");

    let out = ipcx()
        .args(["recv", "unix:/x?colour=red"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("valid: mode, max_msg, allow_uid"));

    let out = ipcx().args(["recv", "pipe:"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pipe:N"));
}

#[test]
fn recv_timeout_fails_and_garbage_sender_is_reported() {
    let s = Scratch::new("garbage");
    let path = s.path("g.sock");
    let ep = format!("unix:{path}");
    let rx = spawn_recv(&[&ep, "--timeout", "2s"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::symlink_metadata(&path).is_err() {
        assert!(Instant::now() < deadline, "receiver never bound");
        std::thread::sleep(Duration::from_millis(5));
    }
    // A real foreign peer: Python writes an HTTP request, not ipcx frames.
    let py = format!(
        "import socket; s=socket.socket(socket.AF_UNIX); s.connect({path:?}); s.sendall(b'GET / HTTP/1.1\\r\\n\\r\\n'); s.close()"
    );
    assert!(Command::new("python3")
        .args(["-c", &py])
        .status()
        .unwrap()
        .success());
    let (ok, out, err) = finish(rx);
    assert!(!ok, "a timeout and a bad peer make a non-zero exit");
    assert!(out.is_empty());
    assert!(err.contains("did not start with an ipcx hello"), "{err}");
    assert!(err.contains("no message for"), "{err}");
}

#[test]
fn help_lists_the_endpoints() {
    let out = ipcx().args(["recv", "--help"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("unix+seqpacket:/path") && text.contains("--count"),
        "{text}"
    );
}

#[test]
fn broken_stdout_pipe_exits_zero() {
    let s = Scratch::new("epipe");
    let ep = format!("unix:{}", s.path("e.sock"));
    let script = format!(
        "{{ {0} recv {ep} --timeout 20s | head -n 1; }} & pid=$!; seq 1 20000 | {0} send {ep} --wait 20s; wait $pid",
        ipcx().get_program().to_str().unwrap()
    );
    let out = Command::new("bash")
        .args(["-c", &format!("set -o pipefail; {script}")])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n");
    assert!(
        out.status.success(),
        "recv exits 0 when its reader goes away: {out:?}"
    );
}

#[test]
fn queue_priorities_and_types() {
    let mq = format!("/ipcx-cli-prio-{}", std::process::id());
    let key = sysv_key(2);
    let _queues = Queues(mq.clone(), key);

    // A persistent queue filled before anyone reads: the highest priority comes out first.
    let ep = format!("mq:{mq}");
    run_ok(&["recv", &format!("{ep}?persist=true"), "-n", "0"]);
    run_ok(&["send", &ep, "--priority", "1", "low"]);
    run_ok(&["send", &ep, "--priority", "9", "high"]);
    run_ok(&["send", &ep, "plain"]);
    assert_eq!(
        run_ok(&["recv", &ep, "--timeout", "5s"]),
        "high\nlow\nplain\n"
    );

    // System V: take one type, then the lowest type first.
    let ep = format!("sysvmq:{key:#x}");
    run_ok(&["recv", &format!("{ep}?persist=true"), "-n", "0"]);
    run_ok(&["send", &ep, "--type", "2", "two"]);
    run_ok(&["send", &ep, "--type", "3", "three"]);
    run_ok(&["send", &ep, "--type", "1", "one"]);
    assert_eq!(
        run_ok(&["recv", &ep, "--type", "2", "-n", "1", "--timeout", "5s"]),
        "two\n"
    );
    assert_eq!(
        run_ok(&["recv", &ep, "--type", "-3", "--timeout", "5s"]),
        "one\nthree\n"
    );

    let out = ipcx()
        .args(["send", "unix:/tmp/x", "--priority", "3", "a"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("--priority applies to mq:"));
    let out = ipcx()
        .args(["recv", &format!("mq:{mq}?maxmsg=1000")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("/proc/sys/fs/mqueue/msg_max"));
}

#[test]
fn signals_carry_values_and_senders() {
    let mut waiter = Running(
        ipcx()
            .args([
                "signal",
                "wait",
                "-s",
                "RTMIN+3",
                "-n",
                "2",
                "--timeout",
                "20s",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The waiter says on stderr once its signals are blocked: only then is
    // it safe to send (unblocked, a real-time signal would kill it).
    let mut stderr = std::io::BufReader::new(waiter.0.stderr.take().unwrap());
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut ready).unwrap();
    assert!(ready.contains("waiting for SIGRTMIN+3"), "{ready}");
    let pid = waiter.0.id().to_string();
    run_ok(&["signal", "send", &pid, "42", "-s", "RTMIN+3"]);
    run_ok(&["signal", "send", &pid, "-7", "-s", "RTMIN+3"]);
    let (ok, out, _) = finish(waiter);
    assert!(ok);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(
        lines[0].starts_with("SIGRTMIN+3 value=42 pid=") && lines[0].ends_with("uid=0"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("SIGRTMIN+3 value=-7 pid="),
        "queued in order: {out}"
    );

    let out = ipcx()
        .args(["signal", "wait", "-s", "KILL"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIGKILL cannot be caught"));
    let out = ipcx()
        .args(["signal", "send", "999999999", "1"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such process"));
}

#[test]
fn sigterm_mid_stream_loses_nothing_that_was_accepted() {
    let s = Scratch::new("sigterm");
    let path = s.path("graceful.sock");
    let ep = format!("unix:{path}");
    let rx = spawn_recv(&[&ep]);
    let tx = ipcx::ByteSender::open_timeout(&ep, Duration::from_secs(20)).expect("connect");
    let pid = rx.0.id() as i32;
    // Send numbered messages; signal the receiver part-way; keep sending
    // until it refuses. Every send that returned Ok was accepted.
    let mut accepted = 0u64;
    loop {
        if accepted == 2000 {
            // SAFETY: kill(2) with a live child's pid and a valid signal.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        }
        match tx.send_bytes_timeout(accepted.to_string(), Duration::from_secs(20)) {
            Ok(()) => accepted += 1,
            Err(e) => {
                assert!(
                    e.is_disconnected(),
                    "the stopped receiver refuses further messages: {e}"
                );
                break;
            }
        }
        assert!(
            accepted < 10_000_000,
            "the receiver never stopped taking messages"
        );
    }
    let started = Instant::now();
    let (ok, out, err) = finish(rx);
    assert!(ok, "exit 0 after SIGTERM: {err}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "within the grace period"
    );
    assert!(err.contains("SIGTERM"), "{err}");
    let got: Vec<u64> = out.lines().map(|l| l.parse().expect("number")).collect();
    eprintln!(
        "accepted {accepted} messages, {} after SIGTERM",
        accepted.saturating_sub(2000)
    );
    // How many more get in after the signal is a race (none, when the
    // receiver stops before the next send); what was accepted is what counts.
    assert!(accepted >= 2000, "{accepted}");
    assert_eq!(
        got.len() as u64,
        accepted,
        "every accepted message was printed, no more"
    );
    assert!(
        got.iter().enumerate().all(|(i, n)| *n == i as u64),
        "in order"
    );
}

/// `send --wait` on UDP waits for a receiver that starts later (a probe
/// learns from ICMP whether anyone is bound), and gives up when none comes.
#[test]
fn send_wait_on_udp_waits_for_a_late_receiver() {
    let ep = format!("udp:127.0.0.1:{}", free_port("127.0.0.1:0"));
    let late = {
        let ep = ep.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            let out = ipcx()
                .args(["recv", &ep, "-n", "1", "--timeout", "10s"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    run_ok(&["send", &ep, "--wait", "5s", "late"]);
    assert_eq!(late.join().unwrap(), "late\n");
    let nobody = format!("udp:127.0.0.1:{}", free_port("127.0.0.1:0"));
    let out = ipcx()
        .args(["send", &nobody, "--wait", "200ms", "x"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody came"));
}
