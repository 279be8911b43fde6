//! `ipcx ls`, `ipcx rm` and `ipcx top` against real kernel objects, checked
//! against the tools people already use: `lsipc` (System V), `ss -xp`
//! (Unix sockets and their queues), `lsof` (pipe ends); and `ipcx top` in
//! a real terminal (tmux).

use std::io::Write;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use ipcx_testkit::cli::top_json;
use ipcx_testkit::tmux::Tmux;
use serde_json::Value;

fn ipcx() -> Command {
    Command::cargo_bin("ipcx").unwrap()
}

fn tag(what: &str) -> String {
    format!("ipcx-inv-{}-{what}", std::process::id())
}

/// A scratch directory, removed on drop (even when the test fails).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(what: &str) -> TempDir {
        let dir = std::env::temp_dir().join(tag(what));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Kills the child and its process group (a shell's pipeline) on drop.
struct Running(Child);

impl Running {
    /// Runs `cmd` in a process group of its own.
    fn spawn(cmd: &mut Command) -> Running {
        use std::os::unix::process::CommandExt;
        Running(cmd.process_group(0).spawn().unwrap())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let group = self.0.id() as i32;
        let members = group_members(group);
        // SAFETY: signalling the process group this test created.
        unsafe { libc::kill(-group, libc::SIGKILL) };
        let _ = self.0.wait();
        // Killed, they leave no statistics behind (ipcx::stats).
        if !std::thread::panicking() {
            for pid in members {
                assert_no_statistics_left(pid as u32);
            }
        }
    }
}

/// A process that is gone, however it ended, left no statistics: no
/// presence mark, and no file (older versions kept one in /dev/shm).
/// (A killed process not reaped by us may take a moment to finish dying.)
fn assert_no_statistics_left(pid: u32) {
    let mark = format!("@ipcx-stats.{pid}.");
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::fs::read_to_string("/proc/net/unix")
        .unwrap()
        .contains(&mark)
    {
        assert!(Instant::now() < deadline, "{mark} outlived its process");
        std::thread::sleep(Duration::from_millis(10));
    }
    let file = format!("/dev/shm/ipcx-stats.{pid}");
    assert!(!std::path::Path::new(&file).exists(), "{file} was made");
}

/// The processes in process group `group` (field 5 of /proc/PID/stat).
fn group_members(group: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(2)?.parse::<i32>().ok())
                    == Some(group)
            })
        })
        .collect()
}

fn ls(args: &[&str]) -> Value {
    let out = ipcx().arg("ls").arg("--json").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ipcx ls: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn objects<'a>(inv: &'a Value, kind: &str) -> Vec<&'a Value> {
    inv["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["type"] == kind)
        .collect()
}

fn holders(o: &Value) -> Vec<(i64, i64, String)> {
    let mut h: Vec<(i64, i64, String)> = o["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["pid"].as_i64().unwrap(),
                p["fd"].as_i64().unwrap_or(-1),
                p["access"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    h.sort();
    h
}

/// System V objects made here, removed on drop even if the test fails.
struct SysvObjects {
    msg: i32,
    shm: i32,
    sem: i32,
}

impl Drop for SysvObjects {
    fn drop(&mut self) {
        // SAFETY: IPC_RMID on ids this test created; no buffer needed.
        unsafe {
            libc::msgctl(self.msg, libc::IPC_RMID, std::ptr::null_mut());
            libc::shmctl(self.shm, libc::IPC_RMID, std::ptr::null_mut());
            libc::semctl(self.sem, 0, libc::IPC_RMID);
        }
    }
}

fn lsipc(flag: &str, section: &str) -> Vec<Value> {
    let out = Command::new("lsipc")
        .args([flag, "--json", "--notruncate"])
        .output()
        .expect("lsipc (util-linux) runs");
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v[section].as_array().cloned().unwrap_or_default()
}

/// `rw-r-----` → 0640.
fn octal(perms: &str) -> String {
    let bits = perms
        .chars()
        .fold(0u32, |acc, c| acc << 1 | u32::from(c != '-'));
    format!("{bits:04o}")
}

#[test]
fn system_v_objects_agree_with_lsipc() {
    let key = 0x1e1b_0000 + (std::process::id() as i32 & 0xffff);
    // SAFETY: plain System V calls with valid arguments; ids checked.
    let objs = unsafe {
        SysvObjects {
            msg: libc::msgget(key, libc::IPC_CREAT | libc::IPC_EXCL | 0o640),
            shm: libc::shmget(key + 1, 8192, libc::IPC_CREAT | libc::IPC_EXCL | 0o600),
            sem: libc::semget(key + 2, 3, libc::IPC_CREAT | libc::IPC_EXCL | 0o600),
        }
    };
    assert!(objs.msg >= 0 && objs.shm >= 0 && objs.sem >= 0, "created");
    #[repr(C)]
    struct Msg {
        mtype: libc::c_long,
        text: [u8; 5],
    }
    for _ in 0..2 {
        let m = Msg {
            mtype: 1,
            text: *b"hello",
        };
        // SAFETY: m is a valid msgbuf of 5 text bytes.
        let rc = unsafe { libc::msgsnd(objs.msg, std::ptr::addr_of!(m).cast(), 5, 0) };
        assert_eq!(rc, 0);
    }
    // SAFETY: attaching the segment just made; detached below.
    let addr = unsafe { libc::shmat(objs.shm, std::ptr::null(), 0) };
    assert_ne!(addr as isize, -1);

    let inv = ls(&["-t", "sysv"]);
    let ours = |kind: &str, id: i32| {
        objects(&inv, kind)
            .into_iter()
            .find(|o| o["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{kind} id {id} not listed"))
    };
    let theirs = |rows: &[Value], id: i32| {
        rows.iter()
            .find(|r| r["id"].as_str() == Some(&id.to_string()) || r["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("lsipc does not list id {id}"))
    };

    let q = ours("sysv-msg", objs.msg);
    let l = theirs(&lsipc("-q", "messages"), objs.msg);
    assert_eq!(q["key"], l["key"]);
    assert_eq!(q["user"], l["owner"]);
    assert_eq!(
        q["mode"].as_str().unwrap(),
        octal(l["perms"].as_str().unwrap())
    );
    assert_eq!(q["messages"].to_string(), l["msgs"].as_str().unwrap());
    assert_eq!(q["messages"], 2);
    assert_eq!(q["queued_bytes"], 10);
    assert_eq!(q["last_send_pid"], std::process::id());

    let m = ours("sysv-shm", objs.shm);
    let l = theirs(&lsipc("-m", "sharedmemory"), objs.shm);
    assert_eq!(m["key"], l["key"]);
    assert_eq!(m["attached"].to_string(), l["nattch"].as_str().unwrap());
    assert_eq!(m["size"], 8192);
    assert_eq!(
        holders(&m),
        [(i64::from(std::process::id()), -1, "map".into())],
        "the mapping is found through /proc/PID/maps"
    );

    let s = ours("sysv-sem", objs.sem);
    let l = theirs(&lsipc("-s", "semaphores"), objs.sem);
    assert_eq!(s["key"], l["key"]);
    assert_eq!(s["semaphores"].to_string(), l["nsems"].as_str().unwrap());
    // SAFETY: detaching what was attached above.
    unsafe { libc::shmdt(addr) };
}

/// `ss -xap` lines for our sockets: inode → (Recv-Q, Send-Q, has our pid).
fn ss_unix() -> Vec<(u64, u64, u64, String)> {
    let out = Command::new("ss").args(["-xap"]).output().expect("ss runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.get(5)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
                l.to_owned(),
            ))
        })
        .collect()
}

#[test]
fn unix_sockets_and_queues_agree_with_ss() {
    let dir = TempDir::new("ss");
    let path = dir.join("l.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let _waiting = [
        UnixStream::connect(&path).unwrap(),
        UnixStream::connect(&path).unwrap(),
    ];
    let accepted_path = dir.join("a.sock");
    let l2 = UnixListener::bind(&accepted_path).unwrap();
    let mut client = UnixStream::connect(&accepted_path).unwrap();
    let (_server, _) = l2.accept().unwrap();
    client.write_all(&[7u8; 100]).unwrap(); // unread by the server

    let inv = ls(&["-t", "unix", "--pid", &std::process::id().to_string()]);
    let ss = ss_unix();
    let me = std::process::id() as i64;
    let mut checked = 0;
    for o in objects(&inv, "unix") {
        let inode = o["inode"].as_u64().unwrap();
        let Some((_, rq, sq, line)) = ss.iter().find(|s| s.0 == inode) else {
            continue;
        };
        assert_eq!(o["recv_queue"].as_u64(), Some(*rq), "{o}\n{line}");
        assert_eq!(o["send_queue"].as_u64(), Some(*sq), "{o}\n{line}");
        assert!(line.contains(&format!("pid={me},")), "ss names us: {line}");
        assert!(holders(o).iter().any(|h| h.0 == me));
        checked += 1;
    }
    assert!(
        checked >= 5,
        "our listeners, their clients and the pair: {checked}"
    );
    let l = objects(&inv, "unix")
        .into_iter()
        .find(|o| o["name"] == path.to_str().unwrap() && o["state"] == "listen")
        .expect("the listener");
    assert_eq!(l["recv_queue"], 2, "two connections wait to be accepted");
    let server_end = objects(&inv, "unix")
        .into_iter()
        .find(|o| o["state"] == "established" && o["recv_queue"] == 100)
        .expect("the accepted end with 100 unread bytes");
    assert_eq!(server_end["socket_type"], "stream");
    drop(listener);
}

#[test]
fn pipe_ends_agree_with_lsof() {
    // The writer leaves 5 bytes that the reader never reads.
    let child = Running::spawn(Command::new("sh").arg("-c").arg("printf hello | sleep 30"));
    let deadline = Instant::now() + Duration::from_secs(10);
    let (sleeper, pipe) = loop {
        let inv = ls(&["-t", "pipe"]);
        let found = objects(&inv, "pipe").into_iter().find_map(|o| {
            let h = holders(o);
            (o["queued_bytes"] == 5 && h.len() == 1 && h[0].2 == "r").then(|| (h[0].0, o.clone()))
        });
        if let Some(f) = found {
            break f;
        }
        assert!(
            Instant::now() < deadline,
            "the pipe never showed 5 queued bytes"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(pipe["capacity"], 65536);
    let out = Command::new("lsof")
        .args(["-a", "-p", &sleeper.to_string(), "-d", "0", "-F", "fati"])
        .output()
        .expect("lsof runs");
    let fields = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(fields.lines().any(|l| l == "f0"), "{fields}");
    assert!(
        fields.lines().any(|l| l == "ar"),
        "lsof: read end: {fields}"
    );
    assert!(fields.lines().any(|l| l == "tFIFO"), "{fields}");
    let inode = pipe["inode"].as_u64().unwrap();
    assert!(
        fields.lines().any(|l| l == format!("i{inode}")),
        "same inode {inode}: {fields}"
    );
    drop(child);
}

#[test]
fn posix_queue_shm_and_ipcx_endpoints_are_listed_and_marked() {
    let q = format!("/{}", tag("mq"));
    let cq = std::ffi::CString::new(q.clone()).unwrap();
    // SAFETY: a valid name; default attributes; O_EXCL: ours.
    let mqd = unsafe {
        libc::mq_open(
            cq.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_RDWR,
            0o640 as libc::mode_t,
            std::ptr::null_mut::<libc::mq_attr>(),
        )
    };
    assert_ne!(mqd, -1, "{}", std::io::Error::last_os_error());
    struct Unlink(std::ffi::CString, libc::mqd_t);
    impl Drop for Unlink {
        fn drop(&mut self) {
            // SAFETY: closing and unlinking the queue this test made.
            unsafe {
                libc::mq_close(self.1);
                libc::mq_unlink(self.0.as_ptr());
            }
        }
    }
    let _q = Unlink(cq, mqd);
    for text in [&b"one"[..], b"three"] {
        // SAFETY: valid buffer and length.
        assert_eq!(
            // SAFETY: valid buffer and length, on the queue opened above.
            unsafe { libc::mq_send(mqd, text.as_ptr().cast(), text.len(), 0) },
            0
        );
    }
    let shm = format!("shm:/{}", tag("ring"));
    let dir = TempDir::new("eps");
    let unix = format!("unix:{}/e.sock", dir.display());
    let rx_shm = ipcx::ByteReceiver::open(&shm).unwrap();
    let rx_unix = ipcx::ByteReceiver::open(&unix).unwrap();
    let tx_unix = ipcx::ByteSender::open(&unix).unwrap();
    tx_unix.send_bytes(b"counted").unwrap();
    assert_eq!(rx_unix.recv_bytes().unwrap(), b"counted");

    let inv = ls(&[]);
    let me = std::process::id() as i64;
    let mq = objects(&inv, "mq")
        .into_iter()
        .find(|o| o["name"] == q)
        .expect("the POSIX queue is listed (through a private mqueue mount)");
    assert_eq!(
        (mq["messages"].as_u64(), mq["mode"].as_str()),
        (Some(2), Some("0640"))
    );
    assert_eq!(mq["max_message_size"], 8192);
    assert!(holders(mq).iter().any(|h| h.0 == me), "held by us: {mq}");

    let ring = objects(&inv, "posix-shm")
        .into_iter()
        .find(|o| o["ipcx"] == shm)
        .expect("the ring is marked as an ipcx endpoint");
    assert_eq!(ring["mode"], "0600");
    assert!(holders(ring).iter().any(|h| h.0 == me && h.2 == "map"));
    let listener = objects(&inv, "unix")
        .into_iter()
        .find(|o| o["ipcx"] == unix && o["state"] == "listen")
        .expect("the unix receiver is marked");
    assert!(holders(listener).iter().any(|h| h.0 == me));
    // Statistics are announced by an abstract socket, not a file.
    assert!(objects(&inv, "unix").iter().any(|o| o["name"]
        .as_str()
        .is_some_and(|n| n.starts_with(&format!("@ipcx-stats.{me}.")))
        && o["ipcx"] == "(statistics mark)"));
    assert!(!objects(&inv, "posix-shm")
        .iter()
        .any(|o| o["name"] == format!("/ipcx-stats.{me}")));

    // Filters.
    let only = ls(&["--ipcx", "--pid", &me.to_string()]);
    assert!(only["objects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["ipcx"].is_string()));
    let named = ls(&[&tag("ring")]);
    assert_eq!(named["objects"].as_array().unwrap().len(), 1);
    let nobody = ls(&["--user", "nobody", "-t", "posix"]);
    assert!(nobody["objects"]
        .as_array()
        .unwrap()
        .iter()
        .all(|o| o["user"] == "nobody"));
    drop((rx_shm, rx_unix, tx_unix));
}

#[test]
fn an_unprivileged_caller_sees_what_it_may_and_is_told_the_rest() {
    let (r, _w) = rustix::pipe::pipe().unwrap();
    let _keep = r;
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(Command::cargo_bin("ipcx").unwrap().get_program())
        .args(["ls", "--json"])
        .output()
        .expect("setpriv (util-linux) runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inv: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hidden = inv["hidden_processes"].as_array().unwrap();
    assert!(
        hidden.iter().any(|p| p == std::process::id()),
        "our fds are not nobody's to read, and that is said"
    );
    // Root's System V and /dev/shm objects are still listed, by name.
    assert!(inv["objects"].as_array().is_some());
}

#[test]
fn rm_removes_only_what_is_stale() {
    let live = format!("shm:/{}", tag("live"));
    let dead = format!("shm:/{}", tag("dead"));
    /// The killed receiver's segment goes even if an assertion fails.
    struct Gone(String);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _gone = Gone(format!("/dev/shm/{}", tag("dead")));
    let _keep = ipcx::ByteReceiver::open(&live).unwrap();
    let mut child = ipcx()
        .args(["recv", &dead, "--timeout", "30s"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let file = format!("/dev/shm/{}", tag("dead"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::path::Path::new(&file).exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(100));
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = TempDir::new("rm");
    let stale_sock = dir.join("stale.sock");
    drop(UnixListener::bind(&stale_sock).unwrap()); // the file stays
    let live_sock = dir.join("live.sock");
    let _l = UnixListener::bind(&live_sock).unwrap();

    assert_no_statistics_left(child.id());
    let names = [
        live.trim_start_matches("shm:"),
        dead.trim_start_matches("shm:"),
        stale_sock.to_str().unwrap(),
        live_sock.to_str().unwrap(),
    ];
    let dry = ipcx()
        .arg("rm")
        .arg("--dry-run")
        .args(names)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&dry.stdout).into_owned();
    assert!(
        text.contains(&format!("would remove posix-shm /{}", tag("dead"))),
        "{text}"
    );
    assert!(
        text.contains(&format!("kept posix-shm /{}", tag("live"))),
        "{text}"
    );
    assert!(
        text.contains("would remove socket file") && text.contains("stale.sock"),
        "{text}"
    );
    assert!(
        text.contains("kept socket file") && text.contains("live.sock"),
        "{text}"
    );
    assert!(
        std::path::Path::new(&file).exists(),
        "a dry run removes nothing"
    );

    let out = ipcx().arg("rm").args(names).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !std::path::Path::new(&file).exists(),
        "the dead segment is gone"
    );
    assert!(!stale_sock.exists());
    assert!(live_sock.exists());
    assert!(std::path::Path::new(&format!("/dev/shm/{}", tag("live"))).exists());

    // A stale socket file named alone: removed, and that is a success.
    let alone = dir.join("alone.sock");
    drop(UnixListener::bind(&alone).unwrap());
    let out = ipcx().arg("rm").arg(&alone).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!alone.exists());
}

/// Unlinks a POSIX queue on drop: a killed receiver cannot.
struct UnlinkQueue(String);

impl Drop for UnlinkQueue {
    fn drop(&mut self) {
        let name = std::ffi::CString::new(self.0.trim_start_matches("mq:")).unwrap();
        // SAFETY: a valid C string; removes only the name.
        unsafe { libc::mq_unlink(name.as_ptr()) };
    }
}

/// A sender and a receiver process on a POSIX queue, paced; the queue is
/// removed when the last of the three is dropped.
fn traffic(q: &str) -> (Running, Running, UnlinkQueue) {
    let rx = Running::spawn(
        ipcx()
            .args(["recv", q, "--timeout", "30s"])
            .stdout(Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(200));
    let tx = Running::spawn(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "i=0; while [ $i -lt 4000 ]; do echo msg$i; i=$((i+1)); sleep 0.002; done | {} send {q}",
                Command::cargo_bin("ipcx").unwrap().get_program().to_str().unwrap()
            ))
            .stdout(Stdio::null()),
    );
    (rx, tx, UnlinkQueue(q.to_owned()))
}

#[test]
fn top_once_json_shows_rates_and_peers() {
    let q = format!("mq:/{}", tag("top"));
    let (rx, _tx, _unlink) = traffic(&q);
    // A listening receiver too: its peers are found through the client's
    // socket, whose peer is the listener's path.
    let dir = TempDir::new("top");
    let unix = format!("unix:{}/top.sock", dir.display());
    let (_urx, _utx, _) = traffic(&unix);
    std::thread::sleep(Duration::from_millis(500));
    let v = top_json();
    let ours: Vec<&Value> = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["endpoint"] == q)
        .collect();
    assert_eq!(ours.len(), 2, "a sender and a receiver: {v}");
    for e in &ours {
        assert!(e["messages_per_s"].as_f64().unwrap() > 10.0, "{e}");
        assert!(e["bytes"].as_u64().unwrap() > 0);
        assert!(e["blocked_fraction"].as_f64().unwrap() >= 0.0);
    }
    let recv = ours.iter().find(|e| e["role"] == "receiver").unwrap();
    assert_eq!(recv["pid"], rx.0.id());
    let send = ours.iter().find(|e| e["role"] == "sender").unwrap();
    assert!(
        recv["peers"].as_array().unwrap().contains(&send["pid"]),
        "the receiver's peer is the sender: {recv}"
    );
    let on_unix: Vec<&Value> = v["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["endpoint"] == unix)
        .collect();
    let urecv = on_unix
        .iter()
        .find(|e| e["role"] == "receiver")
        .expect("unix receiver");
    let usend = on_unix
        .iter()
        .find(|e| e["role"] == "sender")
        .expect("unix sender");
    assert!(
        urecv["peers"].as_array().unwrap().contains(&usend["pid"]),
        "a listener's peer is its client: {urecv}"
    );
    assert!(urecv["messages_per_s"].as_f64().unwrap() > 10.0, "{urecv}");
}

#[test]
fn top_runs_in_a_real_terminal() {
    let q = format!("mq:/{}", tag("tmux"));
    let (_rx, _tx, _unlink) = traffic(&q);
    let exe = Command::cargo_bin("ipcx")
        .unwrap()
        .get_program()
        .to_str()
        .unwrap()
        .to_owned();
    let term = Tmux::start(
        &tag("tmux"),
        &format!("{exe} top --interval 300ms"),
        160,
        30,
    );
    let screen = term.until(Duration::from_secs(15), "showed the traffic", |screen| {
        let row = screen
            .lines()
            .find(|l| l.contains(&q) && l.contains("recv"));
        // A live rate: a number other than 0 in the MSG/S column.
        row.is_some_and(|r| r.split_whitespace().nth(4).is_some_and(|rate| rate != "0"))
    });
    assert!(screen.contains("ipcx top"), "{screen}");
    assert!(screen.contains("MSG/S"), "{screen}");
    term.keys(&["q"]);
    assert!(
        term.ended_within(Duration::from_secs(10)),
        "q did not quit:\n{}",
        term.screen()
    );
}

#[test]
fn limits_are_listed() {
    let out = ipcx().args(["ls", "--limits", "--json"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let get = |n: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|l| l["name"] == n)
            .and_then(|l| l["value"].as_str().map(str::to_owned))
    };
    let proc = |f: &str| std::fs::read_to_string(f).unwrap().trim().to_owned();
    assert_eq!(get("mq.msg_max"), Some(proc("/proc/sys/fs/mqueue/msg_max")));
    assert_eq!(get("sysv.msgmax"), Some(proc("/proc/sys/kernel/msgmax")));
    assert!(get("pipe.max_size").is_some());
}

/// A FIFO left by a killed receiver: listed by `ipcx rm --dry-run`,
/// removed when named; one a process holds open is kept.
#[test]
fn rm_removes_a_fifo_nobody_holds() {
    let dir = TempDir::new("rm-fifo");
    let left = dir.join("left");
    let held = dir.join("held");
    let mut rx = ipcx()
        .args(["recv", &format!("fifo:{}", left.display())])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !left.exists() {
        assert!(
            Instant::now() < deadline,
            "the receiver never made its FIFO"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    rx.kill().unwrap(); // SIGKILL: it cannot remove its FIFO
    rx.wait().unwrap();
    assert_no_statistics_left(rx.id());
    let mut holder = ipcx()
        .args(["recv", &format!("fifo:{}", held.display())])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    while !held.exists() {
        assert!(
            Instant::now() < deadline,
            "the second receiver never made its FIFO"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = ipcx()
        .args(["rm", "--dry-run"])
        .arg(&left)
        .arg(&held)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        text.contains(&format!(
            "would remove FIFO {}: no process has it open",
            left.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("kept FIFO {}: open in", held.display())),
        "{text}"
    );
    let out = ipcx().arg("rm").arg(&left).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!left.exists(), "the stale FIFO is gone");
    assert!(held.exists(), "the held one stays");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_no_statistics_left(holder.id());
}

/// A queue that holds messages is data, not litter: `ipcx rm` keeps it
/// (saying why) unless `--force`, for POSIX and System V alike.
#[test]
fn rm_keeps_a_queue_that_holds_messages() {
    let mq = format!("/{}", tag("rm-data"));
    let key = format!("{:#x}", 0x6000_0000u32 | std::process::id());
    for (ep, name) in [
        (format!("mq:{mq}"), mq.clone()),
        (format!("sysvmq:{key}"), key.clone()),
    ] {
        // The producer comes first: it creates the queue and leaves a job.
        let out = ipcx().args(["send", &ep, "job"]).output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let kept = ipcx().args(["rm", &name]).output().unwrap();
        let text = String::from_utf8_lossy(&kept.stdout).into_owned();
        assert!(
            text.contains("kept") && text.contains("data waiting for a receiver"),
            "{text}"
        );
        let forced = ipcx().args(["rm", "--force", &name]).output().unwrap();
        let text = String::from_utf8_lossy(&forced.stdout).into_owned();
        assert!(
            text.contains("removed") && text.contains("dropped (--force)"),
            "{ep}: {text}"
        );
    }
}
