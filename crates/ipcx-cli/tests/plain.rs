//! `ipcx recv` and `ipcx send` with plain programs as peers: `echo` into a
//! FIFO, `nc` and `socat` against `?frame=line|none`, and a plain writer
//! meeting a receiver that expects ipcx.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use ipcx_testkit::cli as common;

#[test]
fn echo_into_a_fifo_with_frame_line() {
    let s = Scratch::new("plain-fifo");
    let fifo = s.path("p");
    let rx = spawn_recv(&[&format!("fifo:{fifo}?frame=line")]);
    wait_for_file(&fifo);
    sh(&format!(
        "echo hello > {fifo}; printf 'two\\nthree\\n' > {fifo}"
    ));
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    // The first writer's close ends it (every writer gone), as a pipe would.
    assert!(out.starts_with("hello\n"), "{out}");
}

#[test]
fn nc_and_socat_against_a_line_receiver() {
    let s = Scratch::new("plain-unix");
    let sock = s.path("l.sock");
    let rx = spawn_recv(&[&format!("unix:{sock}?frame=line"), "-n", "3"]);
    wait_for_file(&sock);
    sh(&format!("printf 'a\\nb\\n' | nc -N -U {sock}"));
    sh(&format!("echo c | socat - UNIX-CONNECT:{sock}"));
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    assert_eq!(out, "a\nb\nc\n");
    assert!(
        !std::path::Path::new(&sock).exists(),
        "the socket file is removed"
    );
}

#[test]
fn tcp_line_receiver_serves_until_stopped() {
    let port = free_port("127.0.0.1:0");
    let rx = spawn_recv(&[&format!("tcp:127.0.0.1:{port}?frame=line"), "--serve"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "never listened");
        std::thread::sleep(Duration::from_millis(5));
    }
    sh(&format!(
        "echo x1 | nc -N 127.0.0.1 {port}; echo x2 | nc -N 127.0.0.1 {port}"
    ));
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: kill(2) with a live child's pid and a valid signal.
    assert_eq!(unsafe { libc::kill(rx.0.id() as i32, libc::SIGTERM) }, 0);
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    // The probe connection above sent nothing: only the two lines.
    assert_eq!(out, "x1\nx2\n");
}

#[test]
fn datagrams_with_frame_none() {
    let s = Scratch::new("plain-dgram");
    let sock = s.path("d.sock");
    let rx = spawn_recv(&[&format!("unix+dgram:{sock}?frame=none"), "-n", "2"]);
    wait_for_file(&sock);
    sh(&format!(
        "printf one | socat - UNIX-SENDTO:{sock}; printf two | socat - UNIX-SENDTO:{sock}"
    ));
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    assert_eq!(out, "one\ntwo\n");
}

#[test]
fn send_lines_to_socat() {
    let s = Scratch::new("plain-send");
    let sock = s.path("s.sock");
    let mut listener = Running(
        Command::new("timeout")
            .args([
                "-k",
                "2",
                "20",
                "socat",
                &format!("UNIX-LISTEN:{sock}"),
                "-",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_file(&sock);
    let mut tx = ipcx()
        .args(["send", &format!("unix:{sock}?frame=line")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    tx.stdin.take().unwrap().write_all(b"one\ntwo\n").unwrap();
    assert!(tx.wait().unwrap().success());
    let out = listener.0.wait_with_output_ref();
    assert_eq!(out, "one\ntwo\n");
}

/// A plain `echo` into a receiver that expects ipcx: one clear line (with
/// the `frame=` that would fit), no spinning, and a good sender after it
/// gets through.
#[test]
fn plain_writer_into_an_ipcx_fifo_is_reported_once() {
    let s = Scratch::new("plain-foreign");
    let fifo = s.path("f");
    let rx = spawn_recv(&[&format!("fifo:{fifo}"), "-n", "1"]);
    wait_for_file(&fifo);
    sh(&format!("echo hello > {fifo}"));
    run_ok(&["send", &format!("fifo:{fifo}"), "good"]);
    let (_, out, err) = finish(rx);
    assert_eq!(out, "good\n");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("frame=line"), "{err}");
}

trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> String;
}

impl WaitOutput for std::process::Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut out = String::new();
        if let Some(mut o) = self.stdout.take() {
            o.read_to_string(&mut out).unwrap();
        }
        out
    }
}
