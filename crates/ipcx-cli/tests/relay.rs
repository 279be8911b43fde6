//! `ipcx relay` between real programs: socat, nc, Python, a shell, and
//! ipcx's own send/recv, over every family of transport. The test command
//! (`scripts/test`) installs socat and netcat-openbsd when missing; a test
//! here fails, rather than skips, without them.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

/// A scratch directory (removed on drop) and unique IPC names.
struct Scratch {
    dir: std::path::PathBuf,
    tag: String,
    queues: Vec<String>,
}

impl Scratch {
    fn new(name: &str) -> Scratch {
        let tag = format!("{}-{name}", std::process::id());
        let dir = std::env::temp_dir().join(format!("ipcx-relay-{tag}"));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch {
            dir,
            tag,
            queues: Vec::new(),
        }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }

    /// A POSIX queue or shm name, removed on drop even if the test fails.
    fn name(&mut self, what: &str) -> String {
        let name = format!("/ipcx-relay-{}-{what}", self.tag);
        self.queues.push(name.clone());
        name
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        for name in &self.queues {
            let c = std::ffi::CString::new(name.as_str()).unwrap();
            // SAFETY: a valid NUL-terminated name; failure (ENOENT) is fine.
            unsafe { libc::mq_unlink(c.as_ptr()) };
            let _ = std::fs::remove_file(format!("/dev/shm{name}"));
        }
    }
}

fn ipcx() -> Command {
    Command::cargo_bin("ipcx").unwrap()
}

/// Kills the child on drop, so a failing test leaves no process behind.
struct Running(Child);

impl Running {
    /// Runs `cmd` with stdin for the test to write to (and stdout dropped):
    /// the child, and its stdin.
    fn fed(cmd: &mut Command) -> (Running, std::process::ChildStdin) {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        (Running(child), stdin)
    }

    fn spawn(cmd: &mut Command) -> Running {
        Running(
            cmd.stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap(),
        )
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.pid(), sig) };
    }

    /// Waits (at most 30 s) for the exit; the output.
    fn finish(mut self) -> Output {
        fn drain(pipe: Option<impl Read + Send + 'static>) -> std::thread::JoinHandle<Vec<u8>> {
            std::thread::spawn(move || {
                let mut all = Vec::new();
                if let Some(mut p) = pipe {
                    let _ = p.read_to_end(&mut all);
                }
                all
            })
        }
        let stdout = drain(self.0.stdout.take());
        let stderr = drain(self.0.stderr.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "a child did not exit in 30 s");
            std::thread::sleep(Duration::from_millis(5));
        };
        Output {
            status,
            stdout: stdout.join().unwrap(),
            stderr: stderr.join().unwrap(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let pid = self.0.id();
        let _ = self.0.kill();
        let _ = self.0.wait();
        // Killed, it leaves no statistics file (ipcx::stats: a memfd).
        if !std::thread::panicking() {
            assert!(!std::path::Path::new(&format!("/dev/shm/ipcx-stats.{pid}")).exists());
        }
    }
}

fn relay(args: &[&str]) -> Running {
    Running::spawn(ipcx().arg("relay").args(args))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn wait_for_path(path: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !Path::new(path).exists() {
        assert!(Instant::now() < deadline, "{path} never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Bytes that no framing bug can pass by accident.
fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn python(script: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(script).args(args);
    cmd
}

/// nc → ipcx relay (TCP listener, plain bytes) → Unix socket → socat,
/// which echoes through `cat`; 1 MiB of random bytes comes back exact, and
/// the half-close travels the whole chain and back.
#[test]
fn socat_and_nc_through_the_relay_byte_exact() {
    let s = Scratch::new("socat");
    let sock = s.path("echo.sock");
    let mut socat = Running::spawn(
        Command::new("socat")
            .arg(format!("UNIX-LISTEN:{sock},fork"))
            .arg("EXEC:cat"),
    );
    wait_for_path(&sock);
    let port = free_port();
    let _relay = relay(&[
        &format!("listen:tcp:127.0.0.1:{port}?frame=none"),
        &format!("unix:{sock}?frame=none"),
    ]);
    wait_for_port(port);
    let data = random_bytes(1 << 20, 7);
    let input = s.path("input.bin");
    std::fs::write(&input, &data).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("nc -N 127.0.0.1 {port} < {input}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "nc: {}", text(&out.stderr));
    assert_eq!(out.stdout.len(), data.len(), "echoed length");
    assert!(out.stdout == data, "the echo differs from what was sent");
    let _ = socat.0.kill();
}

/// Sixteen Python clients at once through one listener, four served at a
/// time (`--max-clients 4`), each bridged to its own `cat` child.
#[test]
fn many_concurrent_python_clients_each_get_their_own_session() {
    let s = Scratch::new("many");
    let sock = s.path("many.sock");
    let relay = relay(&[
        "--max-clients",
        "4",
        "--stats",
        &format!("listen:unix:{sock}?frame=none"),
        "exec:cat",
    ]);
    wait_for_path(&sock);
    let script = r#"
import socket, sys, threading, random
path = sys.argv[1]
failures = []
def client(i):
    data = random.Random(i).randbytes(200_000 + i)
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    def send():
        c.sendall(data)
        c.shutdown(socket.SHUT_WR)
    t = threading.Thread(target=send); t.start()
    got = bytearray()
    while True:
        b = c.recv(65536)
        if not b: break
        got += b
    t.join()
    if bytes(got) != data:
        failures.append((i, len(got)))
threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
for t in threads: t.start()
for t in threads: t.join()
print("failures", failures)
sys.exit(1 if failures else 0)
"#;
    let out = python(script, &[&sock]).output().unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    relay.signal(libc::SIGTERM);
    let out = relay.finish();
    let err = text(&out.stderr);
    assert!(out.status.success(), "relay: {err}");
    assert!(err.contains("16 clients (0 active)"), "stats: {err}");
    assert!(!Path::new(&sock).exists(), "the socket file is removed");
}

/// A shell pipeline: lines become POSIX-queue messages (stream → message),
/// and queue messages become lines again (message → stream).
#[test]
fn shell_lines_into_a_queue_and_back_out() {
    let mut s = Scratch::new("lines");
    let q = s.name("q");
    let receiver = relay(&["-u", &format!("mq:{q}"), "-?frame=line"]);
    std::thread::sleep(Duration::from_millis(200));
    let out = Command::cargo_bin("ipcx")
        .unwrap()
        .args(["relay", "--wait", "5s", "-?frame=line", &format!("mq:{q}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            let mut stdin = c.stdin.take().unwrap();
            for i in 0..500 {
                writeln!(stdin, "line {i} {}", "x".repeat(i % 97)).unwrap();
            }
            drop(stdin);
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = receiver.finish();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    let expected: Vec<String> = (0..500)
        .map(|i| format!("line {i} {}", "x".repeat(i % 97)))
        .collect();
    assert_eq!(lines, expected);
}

/// A byte stream into a FIFO: reads are cut to what a FIFO writer sends in
/// one atomic write (4092 bytes by default), so nothing is refused, and the
/// bytes come out of the other side exact.
#[test]
fn a_stream_into_a_fifo_is_cut_to_atomic_writes() {
    let s = Scratch::new("fifo");
    let fifo = format!("fifo:{}", s.path("f"));
    let reader = relay(&["-u", &fifo, "-"]);
    wait_for_path(&s.path("f"));
    // Its output is drained while the writer runs (300 kB outgrow a pipe).
    let reader = std::thread::spawn(move || reader.finish());
    let data = random_bytes(300_000, 7);
    let out = ipcx()
        .args(["relay", "-u", "--stats", "-", &fifo])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(&data)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(" 0 refused"),
        "{}",
        text(&out.stderr)
    );
    let got = reader.join().unwrap();
    assert!(got.status.success(), "{}", text(&got.stderr));
    assert!(
        got.stdout == data,
        "{} bytes came out of 300000",
        got.stdout.len()
    );
}

/// Two-way through a child process: what goes in comes out sorted, after
/// stdin's end reaches `sort` as a half-close.
#[test]
fn exec_child_gets_the_end_of_input_and_answers() {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'pear\\napple\\nfig\\n' | {} relay - 'exec:sort'",
            Command::cargo_bin("ipcx")
                .unwrap()
                .get_program()
                .to_str()
                .unwrap()
        ))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "apple\nfig\npear\n");
}

/// Message to message across four mechanisms, each hop its own relay:
/// UDP → System V queue → shared memory → POSIX queue. Every message
/// arrives whole and in order, and when the sender leaves, the end travels
/// down the chain: each hop exits 0 on its own.
#[test]
fn messages_stay_whole_across_udp_sysv_shm_and_posix_queues() {
    let mut s = Scratch::new("chain");
    let mq = s.name("mq");
    let shm = s.name("shm");
    let key = format!("0x{:x}", 0x1e1a_0000u32 + (std::process::id() & 0xffff));
    let port = free_port();
    let sink = Running::spawn(ipcx().args(["recv", &format!("mq:{mq}"), "--timeout", "20s"]));
    std::thread::sleep(Duration::from_millis(150));
    let hop3 = relay(&["--wait", "5s", &format!("shm:{shm}"), &format!("mq:{mq}")]);
    std::thread::sleep(Duration::from_millis(150));
    let hop2 = relay(&[
        "--wait",
        "5s",
        &format!("sysvmq:{key}"),
        &format!("shm:{shm}"),
    ]);
    std::thread::sleep(Duration::from_millis(150));
    let hop1 = relay(&[
        "--wait",
        "5s",
        &format!("udp:127.0.0.1:{port}"),
        &format!("sysvmq:{key}"),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let messages: Vec<String> = (0..100)
        .map(|i| format!("{i}:{}", "m".repeat(i * 20)))
        .collect();
    // One sender, paced: UDP drops what a busy receiver has no room for.
    let (sender, mut stdin) = Running::fed(ipcx().args(["send", &format!("udp:127.0.0.1:{port}")]));
    for m in &messages {
        writeln!(stdin, "{m}").unwrap();
        std::thread::sleep(Duration::from_millis(2));
    }
    drop(stdin);
    let out = sender.finish();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = sink.finish();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: Vec<&str> = std::str::from_utf8(&out.stdout).unwrap().lines().collect();
    assert_eq!(got, messages);
    for hop in [hop1, hop2, hop3] {
        let out = hop.finish();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
}

/// Seqpacket (ipcx senders through a listener) to Unix datagrams.
#[test]
fn seqpacket_clients_into_unix_datagrams() {
    let s = Scratch::new("seqdgram");
    let (a, b) = (s.path("a.sock"), s.path("b.sock"));
    let sink = Running::spawn(ipcx().args([
        "recv",
        &format!("unix+dgram:{b}"),
        "-n",
        "6",
        "--timeout",
        "20s",
    ]));
    wait_for_path(&b);
    let relay = relay(&[
        "--wait",
        "5s",
        &format!("listen:unix+seqpacket:{a}"),
        &format!("unix+dgram:{b}"),
    ]);
    wait_for_path(&a);
    for batch in [["a1", "a2", "a3"], ["b1", "b2", "b3"]] {
        let out = ipcx()
            .args(["send", &format!("unix+seqpacket:{a}")])
            .args(batch)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let out = sink.finish();
    assert_eq!(text(&out.stdout), "a1\na2\na3\nb1\nb2\nb3\n");
    drop(relay);
}

/// A 100 KB datagram cannot go out as UDP: it is reported and counted,
/// the relay goes on, and nothing arrives cut.
#[test]
fn an_oversized_datagram_is_reported_not_truncated() {
    let s = Scratch::new("big");
    let src = s.path("in.sock");
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let port = udp.local_addr().unwrap().port();
    let relay = relay(&[
        "--stats",
        &format!("unix+dgram:{src}?frame=none"),
        &format!("udp:127.0.0.1:{port}?frame=none"),
    ]);
    wait_for_path(&src);
    let client = std::os::unix::net::UnixDatagram::unbound().unwrap();
    client.send_to(&vec![b'x'; 100_000], &src).unwrap();
    client.send_to(b"small one", &src).unwrap();
    let mut buf = vec![0u8; 70_000];
    let n = udp.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"small one", "the big one must not arrive cut");
    relay.signal(libc::SIGTERM);
    let out = relay.finish();
    let err = text(&out.stderr);
    assert!(
        err.contains("a 100000-byte message was not delivered") && err.contains("65507"),
        "{err}"
    );
    assert!(err.contains("1 refused"), "{err}");
    assert!(
        !out.status.success(),
        "a refused message makes the exit status 1"
    );
}

/// A fast producer and a slow consumer: the relay's memory stays flat
/// while 64 MiB crawl through, and every byte arrives.
#[test]
fn a_slow_consumer_slows_the_producer_in_bounded_memory() {
    let s = Scratch::new("slow");
    let sock = s.path("slow.sock");
    let total = 64u64 << 20;
    let consumer = Running::spawn(&mut python(
        r#"
import socket, sys, time, os
path = sys.argv[1]
l = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
l.bind(path); l.listen(1)
c, _ = l.accept()
n = 0
while True:
    b = c.recv(65536)
    if not b: break
    n += len(b)
    time.sleep(0.0005)
print(n)
"#,
        &[&sock],
    ));
    wait_for_path(&sock);
    let (mut relay, mut stdin) =
        Running::fed(ipcx().args(["relay", "-u", "-", &format!("unix:{sock}?frame=none")]));
    let writer = std::thread::spawn(move || {
        let block = vec![0x5au8; 1 << 20];
        for _ in 0..total >> 20 {
            stdin.write_all(&block).unwrap();
        }
    });
    let status = format!("/proc/{}/status", relay.pid());
    let mut peak_kib = 0u64;
    while !writer.is_finished() {
        if let Ok(st) = std::fs::read_to_string(&status) {
            if let Some(kib) = st
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<u64>().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    writer.join().unwrap();
    let out = consumer.finish();
    assert_eq!(text(&out.stdout).trim(), total.to_string(), "bytes through");
    assert!(
        peak_kib < 24 * 1024,
        "the relay grew to {peak_kib} KiB while 64 MiB went through"
    );
    let _ = relay.0.wait();
}

/// SIGTERM while messages flow from one POSIX queue to another: the relay
/// exits 0, and every message is either delivered or still in the source
/// queue, in order, none twice.
#[test]
fn sigterm_mid_transfer_loses_nothing() {
    let mut s = Scratch::new("term");
    let (a, b) = (s.name("a"), s.name("b"));
    let total = 3000;
    let sink = Running::spawn(ipcx().args(["recv", &format!("mq:{b}"), "--timeout", "20s"]));
    std::thread::sleep(Duration::from_millis(150));
    let relay = relay(&[
        "--wait",
        "5s",
        &format!("mq:{a}?persist=true"),
        &format!("mq:{b}"),
    ]);
    std::thread::sleep(Duration::from_millis(200));
    let (mut sender, mut stdin) =
        Running::fed(ipcx().args(["send", "--wait", "5s", &format!("mq:{a}")]));
    let feeder = std::thread::spawn(move || {
        for i in 0..total {
            if writeln!(stdin, "{i}").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    relay.signal(libc::SIGTERM);
    let out = relay.finish();
    assert!(out.status.success(), "relay: {}", text(&out.stderr));
    // The relay's sender is gone, so the sink ends.
    let got_b = sink.finish();
    let delivered: Vec<u64> = text(&got_b.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert!(
        !delivered.is_empty() && delivered.len() < total as usize,
        "stopped mid-way: {}",
        delivered.len()
    );
    // What the relay left is still in the persistent queue.
    let rest = Running::spawn(ipcx().args([
        "recv",
        &format!("mq:{a}"),
        "-n",
        &(total as usize - delivered.len()).to_string(),
        "--timeout",
        "10s",
    ]));
    feeder.join().unwrap();
    let rest = rest.finish();
    assert!(rest.status.success(), "{}", text(&rest.stderr));
    let left: Vec<u64> = text(&rest.stdout)
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    let all: Vec<u64> = delivered.into_iter().chain(left).collect();
    assert_eq!(all, (0..total).collect::<Vec<u64>>());
    let _ = sender.0.wait();
}

/// kill -9 leaves the socket file behind; the next relay replaces it. A
/// live one is never replaced. Files are 0600 unless mode= says.
#[test]
fn stale_socket_after_kill_9_and_safe_modes() {
    let s = Scratch::new("stale");
    let sock = s.path("stale.sock");
    let first = relay(&[&format!("listen:unix:{sock}?frame=none"), "exec:cat"]);
    wait_for_path(&sock);
    assert_eq!(
        std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A live listener is not taken over.
    let out = ipcx()
        .args([
            "relay",
            &format!("listen:unix:{sock}?frame=none"),
            "exec:cat",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("in use"),
        "{}",
        text(&out.stderr)
    );
    first.signal(libc::SIGKILL);
    drop(first);
    assert!(Path::new(&sock).exists(), "kill -9 leaves the file");
    let second = relay(&[
        &format!("listen:unix:{sock}?frame=none&mode=0640"),
        "exec:cat",
    ]);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut conn = loop {
        if let Ok(c) = std::os::unix::net::UnixStream::connect(&sock) {
            if std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777 == 0o640 {
                break c;
            }
        }
        assert!(Instant::now() < deadline, "no second listener");
        std::thread::sleep(Duration::from_millis(10));
    };
    conn.write_all(b"still works").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    conn.read_to_string(&mut back).unwrap();
    assert_eq!(back, "still works");
    drop(second);

    let file = s.path("out.txt");
    let out = ipcx()
        .args(["relay", "-u", "exec:echo written", &format!("file:{file}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "written\n");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let link = s.path("planted");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let out = ipcx()
        .args(["relay", "-u", "exec:echo evil", &format!("file:{link}")])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("symbolic link"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "written\n");
}

/// `-x` shows every message with its direction and time, `--json-log`
/// writes one event per line, SIGUSR1 prints the stats.
#[test]
fn dumps_json_log_and_stats_on_sigusr1() {
    let s = Scratch::new("dump");
    let sock = s.path("d.sock");
    let log = s.path("log.json");
    let relay = relay(&[
        "-x",
        "--json-log",
        &log,
        &format!("listen:unix:{sock}?frame=line"),
        "exec:tr a-z A-Z",
    ]);
    wait_for_path(&sock);
    let mut conn = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    conn.write_all(b"hello relay\n").unwrap();
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = String::new();
    conn.read_to_string(&mut back).unwrap();
    assert_eq!(back, "HELLO RELAY\n");
    relay.signal(libc::SIGUSR1);
    std::thread::sleep(Duration::from_millis(500));
    relay.signal(libc::SIGTERM);
    let out = relay.finish();
    let err = text(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("> 20") && err.contains("#1 11 bytes"), "{err}");
    assert!(err.contains("68 65 6c 6c 6f 20 72 65 6c 61 79"), "{err}");
    assert!(
        err.contains("< 20") && err.contains("|HELLO RELAY|"),
        "{err}"
    );
    assert!(
        err.contains("a>b 1 messages, 11 bytes"),
        "SIGUSR1 stats: {err}"
    );
    let events: Vec<serde_json::Value> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    for kind in [
        "start",
        "listening",
        "accepted",
        "message",
        "eof",
        "closed",
        "stats",
        "stopped",
    ] {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    assert!(events
        .iter()
        .all(|e| e["ts"].as_str().is_some_and(|t| t.ends_with('Z'))));
}

/// Mistakes get one clear line, before anything is opened.
#[test]
fn bad_addresses_are_explained() {
    for (args, says) in [
        (vec!["listen:mq:/x", "-"], "no connections to accept"),
        (
            vec!["listen:tcp:127.0.0.1:1", "listen:tcp:127.0.0.1:2"],
            "both addresses listen",
        ),
        (vec!["-u", "-U", "-", "-"], "no direction"),
        (
            vec!["udp:127.0.0.1:9?frame=line", "-"],
            "keeps message boundaries",
        ),
    ] {
        let out = ipcx().arg("relay").args(&args).output().unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            text(&out.stderr).contains(says),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// `owner=` hands what the relay creates to another user (as root here),
/// after creating it 0600: a socket file and an output file.
#[test]
fn owner_option_hands_created_files_over() {
    use std::os::unix::fs::MetadataExt;
    let s = Scratch::new("owner");
    let sock = s.path("owned.sock");
    let file = s.path("owned.txt");
    let relay = relay(&[
        "-u",
        &format!("listen:unix:{sock}?frame=none&owner=65534:65534"),
        &format!("file:{file}?owner=65534"),
    ]);
    wait_for_path(&sock);
    // Each is created 0600 by root first, then handed over: wait for both.
    let deadline = Instant::now() + Duration::from_secs(10);
    let owner = |path: &str| std::fs::metadata(path).map_or(0, |m| m.uid());
    while owner(&sock) != 65534 || owner(&file) != 65534 {
        assert!(Instant::now() < deadline, "the files were not handed over");
        std::thread::sleep(Duration::from_millis(5));
    }
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!((meta.gid(), meta.mode() & 0o777), (65534, 0o600));
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.mode() & 0o777), (65534, 0o600));
    let mut conn = std::os::unix::net::UnixStream::connect(&sock).unwrap();
    conn.write_all(b"to the file").unwrap();
    drop(conn);
    std::thread::sleep(Duration::from_millis(200));
    relay.signal(libc::SIGTERM);
    let out = relay.finish();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "to the file");
}
