//! `ipcx plumber` on real pipes and FIFOs between real processes: a
//! writer blocked on a full buffer, then the buffer drained; a reader
//! blocked on an empty one; a FIFO by its path; bad targets and an
//! unprivileged caller get clear errors.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ipcx_testkit::tmux::Tmux;
use serde_json::Value;

/// A child killed and reaped when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cmd
}

/// `ipcx plumber --once --json TARGET`, bounded by `timeout -k`.
fn look(target: &str) -> Result<Value, String> {
    let out = Command::new("timeout")
        .args(["-k", "2", "20"])
        .arg(assert_cmd::cargo::cargo_bin("ipcx"))
        .args(["plumber", "--once", "--json", target])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("JSON"))
}

/// Looks until `cond` holds (10 s at most); the last look on failure.
fn until(target: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(v) = look(target) {
            if cond(&v) {
                return v;
            }
            last = Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: never seen; last look: {last:#?}");
}

fn states(v: &Value, side: &str) -> Vec<String> {
    v[side]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap().to_owned())
        .collect()
}

fn full_and_writer_blocked(v: &Value) -> bool {
    v["capacity"].as_u64().is_some()
        && v["queued"] == v["capacity"]
        && states(v, "writers") == ["blocked-full"]
}

#[test]
fn a_full_pipe_blocks_its_writer_then_drains() {
    let mut writer = Command::new("head")
        .args(["-c", "200000", "/dev/zero"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = Running(
        sh("sleep 2; cat > /dev/null; exec sleep 10")
            .stdin(writer.stdout.take().unwrap())
            .spawn()
            .unwrap(),
    );
    let writer = Running(writer);
    let target = format!("{}:0", reader.0.id());
    let v = until(
        &target,
        "a full pipe, its writer blocked",
        full_and_writer_blocked,
    );
    assert_eq!(v["kind"], "pipe");
    assert_eq!(v["unit"], "bytes");
    assert_eq!(v["writers"][0]["pid"], writer.0.id());
    assert_eq!(v["writers"][0]["command"], "head");
    assert!(
        !states(&v, "readers")
            .iter()
            .any(|s| s.starts_with("blocked")),
        "the reader sleeps, it does not read: {v:#}"
    );
    // The reader reads: the writer finishes, the pipe is empty.
    let v = until(&target, "the pipe drained", |v| {
        v["queued"] == 0 && v["writers"].as_array().unwrap().is_empty()
    });
    assert_eq!(v["capacity"], 65536, "{v:#}");
}

#[test]
fn a_reader_of_an_empty_pipe_is_blocked_empty() {
    let mut writer = sh("printf x; exec sleep 10")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = Running(
        Command::new("cat")
            .stdin(writer.stdout.take().unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _writer = Running(writer);
    let v = until(&format!("{}:0", reader.0.id()), "the reader blocked", |v| {
        v["queued"] == 0 && states(v, "readers") == ["blocked-empty"]
    });
    assert!(
        states(&v, "writers").iter().all(|s| s == "sleeping"),
        "{v:#}"
    );
}

#[test]
fn a_fifo_by_its_path() {
    let dir = tempdir("fifo");
    let fifo = format!("{dir}/plumber.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let _reader = Running(
        sh(&format!(
            "exec 3<'{fifo}'; sleep 2; cat <&3 >/dev/null; exec sleep 10"
        ))
        .spawn()
        .unwrap(),
    );
    let _writer = Running(
        sh(&format!("exec head -c 200000 /dev/zero > '{fifo}'"))
            .spawn()
            .unwrap(),
    );
    let v = until(
        &fifo,
        "a full FIFO, its writer blocked",
        full_and_writer_blocked,
    );
    assert_eq!(v["kind"], "fifo");
    assert_eq!(v["target"], fifo.as_str());
    until(&format!("fifo:{fifo}"), "the FIFO drained", |v| {
        v["queued"] == 0 && v["writers"].as_array().unwrap().is_empty()
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_targets_and_an_unprivileged_caller_get_clear_errors() {
    let err = look("999999999:0").unwrap_err();
    assert!(err.contains("no such process"), "{err}");
    let dir = tempdir("bad");
    let file = format!("{dir}/plain");
    std::fs::write(&file, b"x").unwrap();
    let err = look(&file).unwrap_err();
    assert!(err.contains("is not a FIFO"), "{err}");
    let err = look(&format!("{dir}/missing")).unwrap_err();
    assert!(err.contains("cannot look at"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    // Another user's pipe, seen by nobody (65534): refused with the reason.
    let mut writer = sh("exec sleep 10").stdout(Stdio::piped()).spawn().unwrap();
    let reader = Running(
        Command::new("sleep")
            .arg("10")
            .stdin(writer.stdout.take().unwrap())
            .spawn()
            .unwrap(),
    );
    let _writer = Running(writer);
    let out = Command::new("timeout")
        .args([
            "-k", "2", "20", "setpriv", "--reuid", "65534", "--regid", "65534",
        ])
        .arg("--clear-groups")
        .arg(assert_cmd::cargo::cargo_bin("ipcx"))
        .args([
            "plumber",
            "--once",
            "--json",
            &format!("{}:0", reader.0.id()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no right to look at pid"), "{err}");
}

fn tempdir(what: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ipcx-plumber-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

/// The peer of the queue case (this test binary re-run): with
/// `PLUMBER_MQ_ROLE=w` it fills the queue `PLUMBER_MQ` (10 one-byte
/// messages) and blocks in `mq_send` on the 11th; with `r` it blocks in
/// `mq_receive` on the empty queue. Plain libc calls: a writer that waits
/// the way most programs do (ipcx's own senders poll the queue's fd).
#[test]
#[ignore = "a peer process of a_full_queue_blocks_its_writer"]
fn mq_peer() {
    let (Ok(name), Ok(role)) = (
        std::env::var("PLUMBER_MQ"),
        std::env::var("PLUMBER_MQ_ROLE"),
    ) else {
        return;
    };
    let name = std::ffi::CString::new(name).unwrap();
    // SAFETY: mq_attr is plain data; zeroed is valid, then filled in.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    attr.mq_maxmsg = 10;
    attr.mq_msgsize = 64;
    let flags = libc::O_CREAT
        | if role == "w" {
            libc::O_WRONLY
        } else {
            libc::O_RDONLY
        };
    // SAFETY: a valid C string, flags, mode and attributes that live for the call.
    let q = unsafe { libc::mq_open(name.as_ptr(), flags, 0o600, &attr as *const libc::mq_attr) };
    assert_ne!(q, -1, "mq_open: {}", std::io::Error::last_os_error());
    let mut buf = [0u8; 64];
    if role == "w" {
        for _ in 0..11 {
            // SAFETY: q is open for writing; buf outlives the call.
            unsafe { libc::mq_send(q, buf.as_ptr().cast(), 1, 0) };
        }
    } else {
        // SAFETY: q is open for reading; buf has the queue's message size.
        unsafe { libc::mq_receive(q, buf.as_mut_ptr().cast(), 64, std::ptr::null_mut()) };
    }
}

fn mq_peer_process(name: &str, role: &str) -> Running {
    Running(
        Command::new(std::env::current_exe().unwrap())
            .args(["mq_peer", "--exact", "--ignored", "--nocapture", "--quiet"])
            .env("PLUMBER_MQ", name)
            .env("PLUMBER_MQ_ROLE", role)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Removes the queue when the case ends, passed or not.
struct Queue(String);

impl Drop for Queue {
    fn drop(&mut self) {
        let name = std::ffi::CString::new(self.0.clone()).unwrap();
        // SAFETY: a valid C string; unlinking a missing queue is harmless.
        unsafe { libc::mq_unlink(name.as_ptr()) };
    }
}

#[test]
fn a_full_queue_blocks_its_writer_and_an_empty_one_its_reader() {
    let queue = Queue(format!("/ipcx-plumber-{}", std::process::id()));
    let target = format!("mq:{}", queue.0);
    let writer = mq_peer_process(&queue.0, "w");
    let v = until(
        &target,
        "a full queue, its writer blocked",
        full_and_writer_blocked,
    );
    assert_eq!(
        (v["kind"].as_str(), v["unit"].as_str()),
        (Some("mq"), Some("messages"))
    );
    assert_eq!(v["capacity"], 10);
    assert_eq!(v["writers"][0]["pid"], writer.0.id());
    drop(writer);
    // The queue outlives its writer, messages and all.
    let v = until(&target, "the writer gone, the messages kept", |v| {
        v["writers"].as_array().unwrap().is_empty()
    });
    assert_eq!(v["queued"], 10, "{v:#}");
    drop(queue);
    let queue = Queue(format!("/ipcx-plumber-{}-r", std::process::id()));
    let _reader = mq_peer_process(&queue.0, "r");
    until(
        &format!("mq:{}", queue.0),
        "an empty queue, its reader blocked",
        |v| v["queued"] == 0 && states(v, "readers") == ["blocked-empty"],
    );
}

/// The live view: redrawn while the pipe sits idle, ended by SIGTERM
/// (exit 0, promptly); and when the pipe goes away under it, it ends with
/// exit 1 and says so, rather than drawing nothing forever.
#[test]
fn the_live_view_stops_on_sigterm_and_when_the_pipe_is_gone() {
    let live = |target: &str| {
        Command::new(assert_cmd::cargo::cargo_bin("ipcx"))
            .args(["plumber", "--every", "50ms", target])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // `exec`: no child of the shell outlives it holding the pipe.
    let mut writer = sh("exec sleep 30").stdout(Stdio::piped()).spawn().unwrap();
    let reader = Running(
        Command::new("sleep")
            .arg("30")
            .stdin(writer.stdout.take().unwrap())
            .spawn()
            .unwrap(),
    );
    let writer = Running(writer);
    let mut view = Running(live(&format!("{}:0", reader.0.id())));
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: kill with a pid of our own child.
    assert_eq!(unsafe { libc::kill(view.0.id() as i32, libc::SIGTERM) }, 0);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = view.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "SIGTERM not heeded"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    let mut out = String::new();
    std::io::Read::read_to_string(view.0.stdout.as_mut().unwrap(), &mut out).unwrap();
    assert!(
        out.matches("0 of 65536 bytes").count() >= 2,
        "redrawn while idle: {out}"
    );
    // The pipe goes: both ends' processes exit.
    let mut view = Running(live(&format!("{}:0", reader.0.id())));
    std::thread::sleep(Duration::from_millis(200));
    drop((reader, writer));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = view.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still drawing a gone pipe"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1));
    let mut err = String::new();
    std::io::Read::read_to_string(view.0.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(err.contains("is gone"), "{err}");
}

/// `ipcx plumber --demo` in a real terminal: the pipe fills and the writer
/// blocks, `+` doubles the pipe, a fast reader empties it and blocks;
/// when the terminal hangs up the demo and both its sides are gone.
#[test]
fn the_demo_fills_blocks_resizes_and_drains_in_a_terminal() {
    let exe = assert_cmd::cargo::cargo_bin("ipcx");
    let name = format!("plumber-demo-{}", std::process::id());
    let term = Tmux::start(
        &name,
        &format!("{} plumber --demo --every 100ms", exe.display()),
        110,
        30,
    );
    // The writer (64 KiB/s) outruns the reader (16 KiB/s); with the reader
    // paused the pipe stays full and the writer blocked.
    term.until(Duration::from_secs(15), "started", |s| {
        s.contains("demo-reader")
    });
    term.keys(&["k"]);
    let full = term.until(Duration::from_secs(15), "showed a full pipe", |s| {
        s.contains("65536 of 65536 bytes (100%)") && s.contains("writer blocked: pipe full")
    });
    assert!(full.contains("blocked writing: the pipe is full"), "{full}");
    let sides: Vec<i32> = full
        .lines()
        .filter(|l| l.contains("demo-writer") || l.contains("demo-reader"))
        .filter_map(|l| {
            l.trim_start_matches('│')
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(sides.len(), 2, "both sides listed with their pids:\n{full}");
    term.keys(&["+"]);
    term.until(Duration::from_secs(10), "doubled the pipe", |s| {
        s.contains("65536 → 131072") && s.contains("of 131072 bytes")
    });
    // The reader resumes, much faster than the writer: the pipe empties.
    term.keys(&["k", "l", "l", "l", "l", "a", "a"]);
    term.until(Duration::from_secs(20), "drained the pipe", |s| {
        s.contains("reader blocked: pipe empty") || s.contains("pipe empty: a read now waits")
    });
    term.hang_up();
    let deadline = Instant::now() + Duration::from_secs(10);
    while sides
        .iter()
        .any(|pid| std::path::Path::new(&format!("/proc/{pid}")).exists())
    {
        assert!(
            Instant::now() < deadline,
            "a demo side outlived the demo: {sides:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// One way of a Unix stream socket, two Python processes: the reader
/// sleeps, the writer's `sendall` blocks once what it sent reaches its
/// send buffer; then the reader reads and it drains.
#[test]
fn a_unix_socket_whose_reader_sleeps_blocks_its_writer() {
    let dir = tempdir("unix");
    let sock = format!("{dir}/s.sock");
    let mut reader = Running(
        Command::new("timeout")
            .args(["-k", "2", "30", "python3", "-c"])
            .arg(
                "import os, socket, sys, time\n\
                 s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()\n\
                 print('listening', flush=True)\n\
                 c, _ = s.accept(); print(os.getpid(), c.fileno(), flush=True)\n\
                 time.sleep(3)\n\
                 while c.recv(1 << 16): pass\n\
                 time.sleep(10)\n",
            )
            .arg(&sock)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = std::io::BufReader::new(reader.0.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "listening");
    let writer = Running(
        Command::new("python3")
            .arg("-c")
            .arg(
                "import socket, sys\n\
                 s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n\
                 s.sendall(b'x' * 3_000_000)\n",
            )
            .arg(&sock)
            .spawn()
            .unwrap(),
    );
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let (pid, fd) = line.trim().split_once(' ').unwrap();
    let target = format!("{pid}:{fd}");
    let v = until(&target, "the writer blocked on a full socket", |v| {
        states(v, "writers") == ["blocked-full"] && v["queued"].as_u64() >= v["capacity"].as_u64()
    });
    assert_eq!(v["kind"], "unix");
    assert_eq!(v["writers"][0]["pid"], writer.0.id());
    assert_eq!(v["readers"][0]["pid"].to_string(), pid);
    assert!(v["payload"].as_u64().unwrap() > 100_000, "{v:#}");
    let v = until(&target, "the socket drained", |v| {
        v["payload"] == 0 && v["writers"].as_array().unwrap().is_empty()
    });
    assert!(
        v["capacity"].is_null(),
        "no writer: its buffer is gone: {v:#}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn ipcx_cmd() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("ipcx"))
}

/// `--web`: the page, in headless Chromium, shows the bar and it moves
/// (the levels it showed are kept on the bar's element for this test);
/// `/look` is the JSON of `--once --json`; a non-loopback address is refused.
#[test]
fn the_web_view_moves_in_headless_chromium() {
    let refused = ipcx_cmd()
        .args(["plumber", "1:0", "--web", "0.0.0.0:8090"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("loopback only"), "{why}");
    // A writer of 4 KiB every 10 ms, a reader that takes 64 KiB every
    // 400 ms: the level climbs and falls.
    let mut writer = Command::new("python3")
        .args(["-c", PY_WRITER])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = Running(
        Command::new("python3")
            .args(["-c", PY_READER])
            .stdin(writer.stdout.take().unwrap())
            .spawn()
            .unwrap(),
    );
    let _writer = Running(writer);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _web = Running(
        ipcx_cmd()
            .args(["plumber", &format!("{}:0", reader.0.id())])
            .args(["--web", &format!("127.0.0.1:{port}"), "--every", "100ms"])
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let look: Value = loop {
        let got = Command::new("curl")
            .args(["-sf", &format!("http://127.0.0.1:{port}/look")])
            .output()
            .unwrap();
        if got.status.success() {
            break serde_json::from_slice(&got.stdout).unwrap();
        }
        assert!(Instant::now() < deadline, "the web view never answered");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(look["kind"], "pipe");
    assert_eq!(look["capacity"], 65536);
    // Hostile viewers: 16 connections that say nothing hold every place;
    // the next is told 503 at once; garbage gets 405; the view goes on.
    let idle: Vec<std::net::TcpStream> = (0..16)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    assert!(http(port, "GET /look HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 503"));
    drop(idle);
    std::thread::sleep(Duration::from_millis(200));
    assert!(http(port, "BLAH\r\n\r\n").starts_with("HTTP/1.1 405"));
    assert!(http(port, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    let dom = Command::new("timeout")
        .args([
            "-k",
            "5",
            "60",
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
        ])
        .arg("--dump-dom")
        // The page's load waits for 15 looks; then Chromium dumps it.
        .arg(format!("http://127.0.0.1:{port}/?looks=15"))
        .stderr(Stdio::null())
        .output()
        .expect("chromium (apt-get install chromium)");
    let dom = String::from_utf8_lossy(&dom.stdout);
    let bar = dom
        .lines()
        .find(|l| l.contains("id=\"fill\""))
        .unwrap_or_else(|| panic!("no bar on the page:\n{dom}"));
    let seen: Vec<&str> = bar
        .split("data-seen=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(seen.len() >= 2, "the bar moved: {bar}");
    assert!(
        dom.contains("of 65536 bytes"),
        "the numbers are shown:\n{bar}"
    );
    assert!(dom.contains("python3"), "the ends are listed");
}

const PY_WRITER: &str =
    "import os, time\nfor _ in range(3000):\n    os.write(1, b'x' * 4096); time.sleep(0.01)\n";
const PY_READER: &str = "import os, time\nwhile os.read(0, 65536): time.sleep(0.4)\n";

/// A Python peer on a System V queue (ctypes: plain `msgsnd`/`msgrcv`, the
/// way most programs wait): `send` sends 40 messages of 1000 bytes and
/// blocks once the queue's 16 KiB are full; `recv` takes 40 and then
/// blocks on the empty queue.
const PY_SYSV: &str = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
qid = libc.msgget(int(sys.argv[1], 16), 0o1600)
class Msg(ctypes.Structure):
    _fields_ = [("mtype", ctypes.c_long), ("mtext", ctypes.c_char * 1000)]
m = Msg(1, b"x" * 1000)
if sys.argv[2] == "send":
    for _ in range(40):
        libc.msgsnd(qid, ctypes.byref(m), 1000, 0)
else:
    for _ in range(41):
        libc.msgrcv(qid, ctypes.byref(m), 1000, 0, 0)
"#;

#[test]
fn a_full_sysv_queue_blocks_its_sender_and_an_empty_one_its_receiver() {
    let key = format!("{:#x}", 0x7100_0000 | (std::process::id() & 0xffff));
    /// Removes the queue whatever happens (System V objects outlive us).
    struct Remove(String);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = Command::new("ipcrm").args(["-Q", &self.0]).output();
        }
    }
    let _remove = Remove(key.clone());
    let py = |role: &str| {
        Running(
            Command::new("python3")
                .args(["-c", PY_SYSV, &key, role])
                .spawn()
                .unwrap(),
        )
    };
    let sender = py("send");
    let target = format!("sysvmq:{key}");
    let v = until(&target, "a full queue, its sender blocked", |v| {
        states(v, "writers") == ["blocked-full"]
    });
    assert_eq!(v["kind"], "sysvmq");
    assert_eq!(v["unit"], "bytes");
    assert_eq!(v["writers"][0]["pid"], sender.0.id());
    let (queued, capacity) = (
        v["queued"].as_u64().unwrap(),
        v["capacity"].as_u64().unwrap(),
    );
    assert!(queued + 1000 > capacity, "no room for one more: {v:#}");
    let receiver = py("recv");
    let v = until(&target, "an empty queue, its receiver blocked", |v| {
        v["queued"] == 0
            && v["readers"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["state"] == "blocked-empty" && e["pid"] == receiver.0.id())
    });
    assert_eq!(v["messages"], 0, "{v:#}");
}

/// An ipcx ring: its reader stopped (SIGSTOP), the sender fills it and
/// sleeps for room (`blocked-full`, as the ring itself announces); the
/// reader resumed drains it and then sleeps for data (`blocked-empty`).
#[test]
fn a_full_ring_blocks_its_producer_and_an_empty_one_its_reader() {
    let name = format!("/ipcx-plumber-ring-{}", std::process::id());
    let ep = format!("shm:{name}?capacity=4KiB");
    let reader = Running(
        ipcx_cmd()
            .args(["recv", &ep, "--timeout", "30s"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    /// The segment goes even when the test fails (its reader is killed).
    struct Unlink(String);
    impl Drop for Unlink {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(format!("/dev/shm{}", self.0));
        }
    }
    let _unlink = Unlink(name.clone());
    let target = format!("shm:{name}");
    // The ring is ready once plumber can read it (its header is complete).
    until(&target, "the ring made", |v| {
        v["readers"].as_array().is_some_and(|r| r.len() == 1)
    });
    let pid = reader.0.id() as i32;
    // SAFETY: kill(2) with our child's pid and a valid signal.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let mut sender = Running(
        ipcx_cmd()
            .args(["send", &format!("shm:{name}")])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut stdin = sender.0.stdin.take().unwrap();
    for i in 0..2000 {
        writeln!(stdin, "message {i}").unwrap();
    }
    stdin.flush().unwrap();
    let v = until(&target, "a full ring, its producer blocked", |v| {
        states(v, "writers") == ["blocked-full"]
    });
    assert_eq!(v["kind"], "shm");
    assert_eq!(v["capacity"], 4096);
    assert!(v["queued"].as_u64().unwrap() > 3000, "{v:#}");
    assert_eq!(v["readers"][0]["pid"], pid);
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGCONT) }, 0);
    let v = until(&target, "an empty ring, its reader asleep", |v| {
        v["queued"] == 0 && states(v, "readers") == ["blocked-empty"]
    });
    assert_eq!(
        states(&v, "writers"),
        ["sleeping"],
        "the sender waits on its stdin"
    );
    drop(stdin);
    let _ = sender.0.wait();
}

/// One request to the web view on `port`; the whole answer.
fn http(port: u16, request: &str) -> String {
    use std::io::Read;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    answer
}
