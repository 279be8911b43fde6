//! `ipcx serve` and `ipcx call` across processes: the `tr` example, remote
//! errors and timeouts in the exit status, `--lines`, and a SIGTERM that
//! lets the call in flight finish.

use std::time::{Duration, Instant};

use common::*;
use ipcx_testkit::cli as common;

/// `ipcx serve ENDPOINT -- COMMAND…`, with its socket file there.
fn serve(s: &Scratch, name: &str, args: &[&str]) -> (Running, String) {
    let path = s.path(name);
    let ep = format!("unix:{path}");
    let mut cmd = ipcx();
    cmd.arg("serve").arg(&ep).args(args);
    let running = Running(
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_file(&path);
    (running, ep)
}

fn call(args: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new("timeout");
    cmd.args(["-k", "2", "20"])
        .arg(assert_cmd::cargo::cargo_bin("ipcx"))
        .arg("call")
        .args(args);
    cmd.output().unwrap()
}

#[test]
fn the_tr_example_upper_cases() {
    let s = Scratch::new("rpc-tr");
    let (_server, ep) = serve(&s, "up.sock", &["--", "tr", "a-z", "A-Z"]);
    let out = call(&[&ep, "hello", "ipcx"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO\nIPCX\n");
}

#[test]
fn a_failing_command_is_a_remote_error_and_a_slow_one_a_timeout() {
    let s = Scratch::new("rpc-errors");
    let (_failing, failing) = serve(&s, "f.sock", &["--", "sh", "-c", "echo broken >&2; exit 3"]);
    let out = call(&[&failing, "x"]);
    assert_eq!(out.status.code(), Some(1), "a remote error exits 1");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("broken") && err.contains("exit status: 3"),
        "{err}"
    );

    let (_slow, slow) = serve(&s, "s.sock", &["--timeout", "300ms", "--", "sleep", "5"]);
    let out = call(&["--timeout", "100ms", &slow, "x"]);
    assert_eq!(out.status.code(), Some(2), "no reply in time exits 2");
    assert!(String::from_utf8_lossy(&out.stderr).contains("no reply in time"));
    // The server's own limit: the command is killed, the call answered.
    let out = call(&[&slow, "y"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("killed"));
}

#[test]
fn lines_mode_keeps_one_command_running() {
    let s = Scratch::new("rpc-lines");
    let (_server, ep) = serve(&s, "l.sock", &["--lines", "--", "sed", "-u", "s/^/> /"]);
    let out = call(&[&ep, "a", "b", "c"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "> a\n> b\n> c\n");
}

#[test]
fn sigterm_answers_the_call_in_flight_then_exits() {
    let s = Scratch::new("rpc-stop");
    let (server, ep) = serve(&s, "t.sock", &["--", "sh", "-c", "sleep 0.5; cat"]);
    wait_for_handler(server.0.id());
    let calling = std::thread::spawn({
        let ep = ep.clone();
        move || call(&[&ep, "still answered"])
    });
    std::thread::sleep(Duration::from_millis(200));
    let at = Instant::now();
    sigterm(server.0.id());
    let out = calling.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "still answered\n");
    let (ok, _, err) = finish(server);
    assert!(ok, "serve exits 0 after SIGTERM: {err}");
    assert!(
        at.elapsed() < Duration::from_secs(3),
        "serve took {:?}",
        at.elapsed()
    );
    assert!(
        !std::path::Path::new(&s.path("t.sock")).exists(),
        "the socket file is removed"
    );
}

#[test]
fn top_shows_the_server_and_its_client() {
    let s = Scratch::new("rpc-top");
    let (_server, ep) = serve(&s, "top.sock", &["--", "cat"]);
    // A client making calls for a few seconds (a COMMAND run each),
    // killed with the test (before the server: locals drop in reverse).
    let mut client = Running(
        ipcx()
            .args(["call", &ep])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut stdin = client.0.stdin.take().unwrap();
    std::thread::spawn(move || {
        use std::io::Write;
        for n in 0..5000 {
            if writeln!(stdin, "{n}").is_err() {
                return;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let v = top_json();
    let ours: Vec<&serde_json::Value> = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["endpoint"] == ep.as_str())
        .collect();
    for role in ["server", "client"] {
        let e = ours
            .iter()
            .find(|e| e["role"] == role)
            .unwrap_or_else(|| panic!("a {role} on {ep}: {v}"));
        assert!(
            e["messages_per_s"].as_f64().unwrap() > 1.0,
            "{role} answers calls: {e}"
        );
    }
}

/// The `tr` example over `shm:` (a pair of rings per client; the control
/// socket is abstract, so the call waits for it to appear). Nothing stays
/// in /dev/shm once the client is gone.
#[test]
fn the_tr_example_over_shared_memory() {
    let s = ipcx_testkit::harness::Scratch::new("rpc-tr-shm");
    let ep = format!("shm:/{}", s.name);
    let _server = Running(
        ipcx()
            .args(["serve", &ep, "--", "tr", "a-z", "A-Z"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = call(&["--wait", "10s", &ep, "hello", "rings"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO\nRINGS\n");
    ipcx_testkit::harness::eventually("the rings are removed", || s.shm_left().is_empty());
}
