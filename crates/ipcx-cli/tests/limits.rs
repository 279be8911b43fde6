//! At the edge of resources: a listening receiver out of file descriptors
//! says so once, does not spin, and delivers every message once fds free up.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use ipcx_testkit::cli as common;

#[test]
fn out_of_fds_a_listener_waits_and_loses_nothing() {
    let s = Scratch::new("limits-fds");
    let sock = s.path("u.sock");
    // 64 fds: about 55 connections fit; 80 senders hold theirs for a second.
    let mut rx = recv_with_fd_limit(64, &sock, &format!("unix:{sock} -n 1000"), Stdio::piped());
    let deadline = Instant::now() + Duration::from_secs(20);
    let senders = two_message_senders(&format!("unix:{sock}"), 80);
    for mut s in senders {
        assert!(s.0.wait().unwrap().success(), "every sender was accepted");
    }
    // Every message sent is delivered; then look at the receiver's CPU.
    let mut out = rx.0.stdout.take().unwrap();
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while text.lines().count() < 160 {
        assert!(
            Instant::now() < deadline + Duration::from_secs(20),
            "{text}"
        );
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0, "the receiver ended early");
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let cpu = cpu_of(rx.0.id());
    let _ = rx.0.kill();
    let mut err = String::new();
    rx.0.stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    eprintln!("out of fds: 160 messages, receiver CPU {cpu:?}, stderr: {err}");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), 160, "each message once");
    assert!(err.lines().count() <= 2, "reported once: {err}");
    assert!(
        cpu < Duration::from_millis(800),
        "the receiver spun: {cpu:?}"
    );
}

/// A ring larger than /dev/shm can hold: a clear error at open, no
/// SIGBUS later, nothing left in /dev/shm. In a mount namespace of its own
/// with a 1 MiB tmpfs on /dev/shm (needs root).
#[test]
fn a_ring_larger_than_dev_shm_is_refused_at_open() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: mounting a private tmpfs needs root");
        return;
    }
    let ipcx_bin = assert_cmd::cargo::cargo_bin("ipcx");
    let out = Command::new("timeout")
        .args(["-k", "2", "20", "unshare", "-m", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size=1m tmpfs /dev/shm && \
             {0} recv 'shm:/big?capacity=64MiB' --timeout 1s; echo \"status $?\"; \
             IPCX_STATS=0 {0} recv 'shm:/fits?capacity=256KiB' --timeout 100ms; \
             ls /dev/shm",
            ipcx_bin.display()
        ))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.contains("status 1"),
        "an error exit, not a signal: {stdout} {stderr}"
    );
    assert!(stderr.contains("/dev/shm has room for"), "{stderr}");
    assert!(
        stderr.contains("capacity="),
        "says what to change: {stderr}"
    );
    // A ring that fits still opens (and times out waiting: no sender).
    assert!(stderr.contains("no message for"), "{stderr}");
    assert!(!stdout.contains("big"), "nothing left behind: {stdout}");
}

/// Memory per connection is bounded: 1 000 seqpacket connections at once,
/// three times over, leave a receiver about where it started (each
/// connection's receive buffer, up to wmem_max, has pages only where a
/// packet was written, and is given back when the connection goes).
#[test]
fn a_thousand_seqpacket_connections_do_not_grow_memory() {
    use rustix::net::SocketAddrUnix;
    let s = Scratch::new("limits-seqpacket");
    let sock = s.path("sp.sock");
    let rx = recv_with_fd_limit(
        4096,
        &sock,
        &format!("unix+seqpacket:{sock} --serve"),
        Stdio::null(),
    );
    // This process needs 1 000 fds too.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let want = limit.maximum.unwrap_or(4096).min(4096);
    rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(want),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    let addr = SocketAddrUnix::new(sock.as_str()).unwrap();
    let start = rss_kib(rx.0.id());
    let mut peak = start;
    for _ in 0..3 {
        let conns: Vec<_> = (0..1000)
            .map(|_| seqpacket_connect(&addr).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(500));
        peak = peak.max(rss_kib(rx.0.id()));
        drop(conns);
        std::thread::sleep(Duration::from_millis(300));
    }
    let end = rss_kib(rx.0.id());
    eprintln!("1 000 seqpacket connections × 3: RSS {start} → peak {peak} → {end} KiB");
    assert!(peak < start + 64 * 1024, "peak {peak} KiB from {start} KiB");
    assert!(end < start + 16 * 1024, "kept {end} KiB from {start} KiB");
}

/// Out of RLIMIT_MSGQUEUE (bytes of queue memory per user), opening a
/// queue is a clear error naming the limit and what to do, at once, and
/// nothing is left behind; a smaller queue within the limit works.
#[test]
fn a_queue_past_rlimit_msgqueue_is_a_clear_error() {
    let name = format!("/ipcx-cli-{}-rlimit", std::process::id());
    let _queues = Queues(name.clone(), 0);
    let started = Instant::now();
    let out = Command::new("timeout")
        .args(["-k", "2", "20", "bash", "-c"])
        .arg(format!(
            "ulimit -q 20000; exec {} recv mq:{name}",
            assert_cmd::cargo::cargo_bin("ipcx").display()
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "it failed at once"
    );
    assert!(
        stderr.contains("RLIMIT_MSGQUEUE") && stderr.contains("ulimit -q"),
        "{stderr}"
    );
    let c = std::ffi::CString::new(name.as_str()).unwrap();
    // SAFETY: a valid C string; a descriptor opened is closed.
    let fd = unsafe { libc::mq_open(c.as_ptr(), libc::O_RDONLY) };
    if fd >= 0 {
        // SAFETY: the descriptor just opened.
        unsafe { libc::mq_close(fd) };
    }
    assert!(fd < 0, "no queue was made");
    // 4 messages of 1 KiB fit in 20 000 bytes: the same limit, a queue that fits.
    let script = format!(
        "ulimit -q 20000; {ipcx} send 'mq:{name}?maxmsg=4&msgsize=1024' fits && \
         {ipcx} recv 'mq:{name}?maxmsg=4&msgsize=1024' -n 1",
        ipcx = assert_cmd::cargo::cargo_bin("ipcx").display()
    );
    let out = Command::new("timeout")
        .args(["-k", "2", "20", "bash", "-c", &script])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "fits\n",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
