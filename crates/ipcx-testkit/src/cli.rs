//! What the CLI tests share: scratch directories, the `ipcx` binary, a
//! receiver process killed on drop, endpoints of every transport, and
//! queues removed on drop.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;

/// A scratch directory removed on drop.
#[derive(Debug)]
pub struct Scratch(pub std::path::PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ipcx-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    pub fn path(&self, file: &str) -> String {
        self.0.join(file).to_str().unwrap().to_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(format!("/dev/shm/ipcx-cli-{}", std::process::id()));
    }
}

pub fn ipcx() -> Command {
    Command::cargo_bin("ipcx").unwrap()
}

/// Kills the child on drop, so a failing test leaves no process behind.
#[derive(Debug)]
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn spawn_recv(args: &[&str]) -> Running {
    Running(
        ipcx()
            .arg("recv")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    )
}

/// Waits for the receiver to exit; returns (success, stdout, stderr).
pub fn finish(mut r: Running) -> (bool, String, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = r.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "ipcx recv did not exit");
        std::thread::sleep(Duration::from_millis(5));
    };
    let (mut out, mut err) = (String::new(), String::new());
    if let Some(mut o) = r.0.stdout.take() {
        o.read_to_string(&mut out).unwrap();
    }
    if let Some(mut e) = r.0.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (status.success(), out, err)
}

/// A port the kernel says is free now (TCP and UDP alike, most likely).
pub fn free_port(any: &str) -> u16 {
    std::net::TcpListener::bind(any)
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn endpoints(s: &Scratch) -> Vec<String> {
    vec![
        format!("fifo:{}", s.path("fifo")),
        format!("unix:{}", s.path("stream.sock")),
        format!("unix:@ipcx-cli-{}", std::process::id()),
        format!("unix+seqpacket:{}", s.path("seq.sock")),
        format!("unix+dgram:{}", s.path("dgram.sock")),
        format!("tcp:127.0.0.1:{}", free_port("127.0.0.1:0")),
        format!("tcp:[::1]:{}", free_port("[::1]:0")),
        format!("udp:127.0.0.1:{}", free_port("127.0.0.1:0")),
        format!("mq:/ipcx-cli-{}", std::process::id()),
        format!("sysvmq:{:#x}", sysv_key(1)),
        format!("shm:/ipcx-cli-{}", std::process::id()),
    ]
}

/// A System V key of this test process's own.
pub fn sysv_key(n: u32) -> u32 {
    0x5000_0000 | (std::process::id() << 4) | n
}

/// Removes a POSIX queue and a System V queue on drop, even if the test fails.
#[derive(Debug)]
pub struct Queues(pub String, pub u32);

impl Drop for Queues {
    fn drop(&mut self) {
        let name = std::ffi::CString::new(self.0.as_str()).unwrap();
        // SAFETY: `name` is a valid C string; msgget/msgctl take integers and
        // IPC_RMID ignores the null buffer.
        unsafe {
            libc::mq_unlink(name.as_ptr());
            let id = libc::msgget(self.1 as i32, 0);
            if id >= 0 {
                libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut());
            }
        }
    }
}

/// Runs `ipcx ARGS`, which must succeed; its stdout.
pub fn run_ok(args: &[&str]) -> String {
    let out = ipcx().args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ipcx {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a shell script under `timeout -k`, which must succeed.
pub fn sh(script: &str) {
    let out = Command::new("timeout")
        .args(["-k", "2", "20", "bash", "-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until `path` exists (a receiver made its socket file or FIFO).
pub fn wait_for_file(path: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::path::Path::new(path).exists() {
        assert!(Instant::now() < deadline, "{path} never appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `ipcx recv ARGS` under `ulimit -n FDS`, once it listens on `sock`.
pub fn recv_with_fd_limit(fds: u32, sock: &str, args: &str, stdout: Stdio) -> Running {
    let rx = Running(
        Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit -n {fds}; exec {} recv {args}",
                assert_cmd::cargo::cargo_bin("ipcx").display()
            ))
            .stdout(stdout)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_file(sock);
    rx
}

/// `n` senders to `ep` at once, each sending `a{i}`, then `b{i}` a second
/// later (so each holds its connection for a second), waiting up to 30 s
/// for the receiver to take it: what exhausts a listener's fds.
pub fn two_message_senders(ep: &str, n: usize) -> Vec<Running> {
    let ipcx_bin = assert_cmd::cargo::cargo_bin("ipcx");
    (0..n)
        .map(|i| {
            Running(
                Command::new("bash")
                    .arg("-c")
                    .arg(format!(
                        "(echo a{i}; sleep 1; echo b{i}) | timeout -k 2 40 {} send {ep} --wait 30s",
                        ipcx_bin.display()
                    ))
                    .spawn()
                    .unwrap(),
            )
        })
        .collect()
}

/// CPU time (user + system) process `pid` has used, from /proc.
pub fn cpu_of(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command (in parentheses): fields 14 and 15 are utime, stime.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<u64> = rest
        .split(' ')
        .skip(11)
        .take(2)
        .map(|n| n.parse().unwrap())
        .collect();
    // SAFETY: sysconf takes a constant.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
    Duration::from_millis((f[0] + f[1]) * 1000 / hz)
}

/// Resident memory of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

/// A seqpacket connection to `addr` (close on exec: tests beside this one
/// start children with small fd limits), or the connect error.
pub fn seqpacket_connect(
    addr: &rustix::net::SocketAddrUnix,
) -> rustix::io::Result<std::os::fd::OwnedFd> {
    use rustix::net::{connect, socket_with, AddressFamily, SocketFlags, SocketType};
    let fd = socket_with(
        AddressFamily::UNIX,
        SocketType::SEQPACKET,
        SocketFlags::CLOEXEC,
        None,
    )?;
    connect(&fd, addr)?;
    Ok(fd)
}

/// Waits until process `pid` catches SIGTERM (its handler is installed):
/// from then on a SIGTERM is a stop, not a kill.
pub fn wait_for_handler(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let caught = status
            .lines()
            .find_map(|l| l.strip_prefix("SigCgt:"))
            .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
            .unwrap_or(0);
        if caught & (1 << (libc::SIGTERM - 1)) != 0 {
            return;
        }
        assert!(Instant::now() < deadline, "pid {pid} never caught SIGTERM");
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub fn sigterm(pid: u32) {
    // SAFETY: kill(2) with a live child's pid and a valid signal.
    assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGTERM) }, 0);
}

/// One `ipcx top --once --json` sample over 700 ms, parsed.
pub fn top_json() -> serde_json::Value {
    let out = ipcx()
        .args(["top", "--once", "--json", "--interval", "700ms"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ipcx top: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
