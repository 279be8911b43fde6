//! Test plumbing: unique scratch names removed on drop, and peer processes
//! (this same binary, re-run in a peer role) that are killed on drop.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

pub const PEER_ENV: &str = "IPCX_PEER";
pub const EP_ENV: &str = "IPCX_EP";
/// How long any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A private directory and name prefix for one test; removed on drop,
/// whether the test passed or panicked.
#[derive(Debug)]
pub struct Scratch {
    pub dir: PathBuf,
    pub name: String,
}

impl Scratch {
    pub fn new(test: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "ipcx-conf-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            test.replace(['/', ' ', '+'], "_")
        );
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        Scratch { dir, name }
    }

    pub fn path(&self, file: &str) -> String {
        self.dir
            .join(file)
            .to_str()
            .expect("utf-8 temp dir")
            .to_owned()
    }

    /// A POSIX queue name of this test's own.
    pub fn mq_name(&self) -> String {
        format!("/{}", self.name)
    }

    /// A System V key of this test's own (never 0, IPC_PRIVATE).
    pub fn sysv_key(&self) -> u32 {
        (crate::raw::fnv1a64(self.name.as_bytes()) as u32) | 0x4000_0000
    }
}

impl Scratch {
    /// The `/dev/shm` entries named after this scratch's segment, `NAME.…`
    /// (a call server's rings, say): what a test checks is gone.
    pub fn shm_left(&self) -> Vec<String> {
        let stem = format!("{}.", self.mq_name().trim_start_matches('/'));
        std::fs::read_dir("/dev/shm")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|f| f.starts_with(&stem))
            .collect()
    }
}

impl Drop for Scratch {
    /// Removes everything the test may have made, even after a failure:
    /// files, and the queues named after it (System V ones outlive processes).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        crate::raw::remove_queues(&self.mq_name(), self.sysv_key());
        let _ = std::fs::remove_file(format!("/dev/shm{}", self.mq_name()));
        for left in self.shm_left() {
            let _ = std::fs::remove_file(format!("/dev/shm/{left}"));
        }
    }
}

/// A peer process. Its stdout lines are read by a thread so the test can
/// wait for them with a deadline. Killed and reaped on drop.
#[derive(Debug)]
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

pub fn peer_command(role: &str, endpoint: &str, params: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
    cmd.env(PEER_ENV, role).env(EP_ENV, endpoint);
    for (k, v) in params {
        cmd.env(format!("IPCX_{}", k.to_uppercase()), v);
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    cmd
}

impl Peer {
    pub fn spawn(role: &str, endpoint: &str, params: &[(&str, String)]) -> Peer {
        Peer::from_child(
            peer_command(role, endpoint, params)
                .spawn()
                .expect("spawn peer"),
        )
    }

    /// A peer running as another user (this test process must be root).
    pub fn spawn_as(uid: u32, role: &str, endpoint: &str) -> Peer {
        use std::os::unix::process::CommandExt;
        let mut cmd = peer_command(role, endpoint, &[]);
        cmd.uid(uid).gid(uid);
        Peer::from_child(cmd.spawn().expect("spawn peer as another user"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// True once the peer process has ended (without waiting for it).
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn from_child(mut child: Child) -> Peer {
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Peer {
            child,
            stdin,
            lines,
        }
    }

    /// The next line the peer prints; panics after [`PATIENCE`].
    pub fn line(&self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(line) => line,
            Err(e) => panic!("peer printed nothing within {PATIENCE:?}: {e}"),
        }
    }

    /// Waits for a line starting with `prefix`; returns the rest.
    pub fn expect(&self, prefix: &str) -> String {
        let line = self.line();
        match line.strip_prefix(prefix) {
            Some(rest) => rest.trim().to_owned(),
            None => panic!("expected peer line `{prefix}…`, got `{line}`"),
        }
    }

    /// Tells the peer to go on (a line on its stdin).
    pub fn tell(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("peer stdin open");
        writeln!(stdin, "{text}").expect("write to peer");
        stdin.flush().expect("flush to peer");
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for a clean exit; panics on a failure status or after PATIENCE.
    pub fn finish(mut self) {
        self.stdin = None;
        let deadline = std::time::Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                assert!(status.success(), "peer exited with {status}");
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "peer did not exit within {PATIENCE:?}"
            );
            // Polling a child's exit: there is no fd to wait on in std.
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until `cond` holds, polling; panics with `what` after PATIENCE.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Ends the whole run (abort, with a message) if dropped later than
/// `within` after it was made: for a test that must block without a
/// timeout, so that a bug shows as a failure rather than a hang.
#[derive(Debug)]
pub struct Watchdog(Option<std::sync::mpsc::Sender<()>>);

impl Watchdog {
    pub fn new(what: &str, within: Duration) -> Watchdog {
        let (done, wait) = std::sync::mpsc::channel::<()>();
        let what = what.to_owned();
        std::thread::spawn(move || {
            if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = wait.recv_timeout(within) {
                eprintln!("{what}: still blocked after {within:?}; aborting the run");
                std::process::abort();
            }
        });
        Watchdog(Some(done))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(done) = self.0.take() {
            let _ = done.send(());
        }
    }
}

/// An example program of `package`, built (or found up to date) in the
/// target directory the running test lives in, with `features` on.
pub fn example(package: &str, name: &str, features: &[&str]) -> PathBuf {
    let profile_dir = std::env::current_exe()
        .expect("current exe")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_owned();
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-q", "-p", package, "--example", name]);
    if !features.is_empty() {
        build.arg("--features").arg(features.join(","));
    }
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(
        build.status().expect("cargo").success(),
        "cargo build --example {name}"
    );
    profile_dir.join("examples").join(name)
}
