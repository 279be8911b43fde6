//! One kind of round: a transport, a victim, SIGKILL at a random moment.
//!
//! **Sender killed**: the test receives. Everything it gets is each
//! message once, in order, intact (UDP may drop, never repeat); a
//! connection's receiver then reports the end within [`NOTICE`]; a
//! connectionless one (datagrams, queues) cannot know and just goes quiet.
//!
//! **Receiver killed**: the test sends. The send that fails must fail as
//! "disconnected" within [`NOTICE`] of the kill. What the receiver
//! reported is a gapless run from #0. A queue keeps what it held: a new
//! receiver gets the rest, with at most one message lost (the one the dead
//! receiver had taken from the queue and not yet reported).
//!
//! After each round `ipcx rm` is run on what the dead may have left, and
//! nothing may remain: no socket file or FIFO, no `/dev/shm` entry, no
//! queue, no presence mark of the dead process, no fd of the test's own.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipcx::{ByteReceiver, ByteSender, RecvTimeoutError, SendTimeoutError};

use super::common;
use super::message::{self, Seen};
use super::peer;
use super::random::Rng;

/// How soon the survivor must notice the death.
const NOTICE: Duration = Duration::from_secs(5);
/// How long any round may take before it fails.
const PATIENCE: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Victim {
    Sender = 0,
    Receiver = 1,
}

impl Victim {
    pub fn name(self) -> &'static str {
        match self {
            Victim::Sender => "sender",
            Victim::Receiver => "receiver",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A connection: the survivor is told.
    Connected,
    /// Datagrams: a receiver is not told of a dead sender.
    Datagram,
    /// Message queues: the same, and they keep what they hold.
    Queue,
    /// The shared-memory ring (peers checked by pid).
    Ring,
}

pub struct Transport {
    pub name: &'static str,
    kind: Kind,
    endpoint: fn(&Names) -> String,
}

pub const TRANSPORTS: &[Transport] = &[
    Transport {
        name: "fifo",
        kind: Kind::Connected,
        endpoint: |n| format!("fifo:{}", n.path("f")),
    },
    Transport {
        name: "unix",
        kind: Kind::Connected,
        endpoint: |n| format!("unix:{}", n.path("s")),
    },
    Transport {
        name: "unix-abstract",
        kind: Kind::Connected,
        endpoint: |n| format!("unix:@{}", n.name),
    },
    Transport {
        name: "unix+seqpacket",
        kind: Kind::Connected,
        endpoint: |n| format!("unix+seqpacket:{}", n.path("q")),
    },
    Transport {
        name: "unix+dgram",
        kind: Kind::Datagram,
        endpoint: |n| format!("unix+dgram:{}", n.path("d")),
    },
    Transport {
        name: "tcp",
        kind: Kind::Connected,
        endpoint: |_| "tcp:127.0.0.1:0".into(),
    },
    Transport {
        name: "udp",
        kind: Kind::Datagram,
        endpoint: |_| "udp:127.0.0.1:0".into(),
    },
    Transport {
        name: "mq",
        kind: Kind::Queue,
        endpoint: |n| format!("mq:/{}", n.name),
    },
    Transport {
        name: "sysvmq",
        kind: Kind::Queue,
        endpoint: |n| format!("sysvmq:{:#x}", n.key),
    },
    Transport {
        name: "shm",
        kind: Kind::Ring,
        endpoint: |n| format!("shm:/{}?capacity=64KiB", n.name),
    },
];

/// One round's names: a directory, a name, a System V key; whatever they
/// name is removed on drop, even when the round fails.
struct Names {
    dir: std::path::PathBuf,
    name: String,
    key: u32,
}

impl Names {
    fn new(transport: &str, victim: Victim, round: u32) -> Names {
        let name = format!(
            "ipcx-fault-{}-{}-{}-{round}",
            std::process::id(),
            transport.replace('+', "_"),
            victim.name()
        );
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let key = 0x6000_0000 | (std::process::id() & 0xffff) << 12 | (round & 0xfff);
        let key = key ^ (transport.len() as u32) << 28 ^ (victim as u32) << 27;
        Names { dir, name, key }
    }

    fn path(&self, file: &str) -> String {
        self.dir.join(file).to_str().unwrap().to_owned()
    }
}

impl Drop for Names {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_file(format!("/dev/shm/{}", self.name));
        drop(common::Queues(format!("/{}", self.name), self.key));
    }
}

/// A peer process, killed and reaped on drop.
struct Peer(Child);

impl Peer {
    fn spawn(role: &str, ep: &str) -> (Peer, BufReader<std::process::ChildStdout>) {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(peer::ROLE_ENV, role)
            .env(peer::EP_ENV, ep)
            .env("IPCX_STATS", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        (Peer(child), out)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// SIGKILL for a peer after a delay, sent from another thread. Declared
/// after its [`Peer`], it is dropped first: the thread is joined before
/// the peer is reaped, so the pid cannot have been reused.
struct Kill {
    at: Arc<Mutex<Option<Instant>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Kill {
    fn after(peer: &Peer, delay: Duration) -> Kill {
        let pid = peer.pid() as i32;
        let at = Arc::new(Mutex::new(None));
        let slot = at.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(delay);
            // SAFETY: signalling our own child, not reaped yet (see above).
            unsafe { libc::kill(pid, libc::SIGKILL) };
            *slot.lock().unwrap() = Some(Instant::now());
        });
        Kill {
            at,
            thread: Some(thread),
        }
    }

    /// When the kill was sent, once it was.
    fn sent(&self) -> Option<Instant> {
        *self.at.lock().unwrap()
    }
}

impl Drop for Kill {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What a run of rounds saw, for the report.
#[derive(Debug, Default)]
pub struct Tally {
    rounds: u32,
    messages: u64,
    slowest_notice: Duration,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rounds, {} messages checked, slowest notice {:?}",
            self.rounds, self.messages, self.slowest_notice
        )
    }
}

pub fn run(t: &Transport, victim: Victim, rounds: u32, seed: u64) -> Tally {
    let mut rng = Rng(seed | 1);
    let mut tally = Tally::default();
    for round in 0..rounds {
        let names = Names::new(t.name, victim, round);
        let kill_after = Duration::from_millis(10 + rng.below(190));
        let fds_before = open_fds();
        let (messages, notice) = match victim {
            Victim::Sender => kill_sender(t, &names, kill_after),
            Victim::Receiver => kill_receiver(t, &names, kill_after),
        };
        assert_eq!(
            open_fds(),
            fds_before,
            "{}: the test process's fds after the round",
            t.name
        );
        tally.rounds += 1;
        tally.messages += messages;
        tally.slowest_notice = tally.slowest_notice.max(notice);
    }
    tally
}

/// The test receives; the peer sends until killed.
fn kill_sender(t: &Transport, names: &Names, kill_after: Duration) -> (u64, Duration) {
    let rx = ByteReceiver::open((t.endpoint)(names)).expect("open the receiver");
    let ep = rx.endpoint().to_string();
    let (sender, mut out) = Peer::spawn("send", &ep);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line, "READY\n",
        "{}: the sending peer did not start",
        t.name
    );
    let killed = Kill::after(&sender, kill_after);
    let mut seen = Seen::default();
    let start = Instant::now();
    let notice = loop {
        assert!(
            start.elapsed() < PATIENCE,
            "{}: the receiver never saw the end",
            t.name
        );
        match rx.recv_bytes_timeout(Duration::from_millis(300)) {
            Ok(bytes) => match message::decode(&bytes) {
                Some(seq) => seen.seqs.push(seq),
                None => seen.corrupt += 1,
            },
            Err(RecvTimeoutError::Disconnected) => {
                let at = killed.sent().expect("the end came before the kill");
                break at.elapsed();
            }
            // Datagrams and queues: no end comes; quiet since the kill is it.
            Err(RecvTimeoutError::Timeout) if matches!(t.kind, Kind::Datagram | Kind::Queue) => {
                if let Some(at) = killed.sent() {
                    if at.elapsed() > Duration::from_millis(300) {
                        break Duration::ZERO;
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(at) = killed.sent() {
                    assert!(
                        at.elapsed() < NOTICE,
                        "{}: no end {NOTICE:?} after the sender was killed",
                        t.name
                    );
                }
            }
            // A frame cut by the kill: reported, and the end follows.
            Err(RecvTimeoutError::Failed(_)) => {}
        }
    };
    assert!(
        notice < NOTICE,
        "{}: the end came {notice:?} after the kill",
        t.name
    );
    seen.check(0, t.name == "udp", &format!("{} (sender killed)", t.name));
    drop(rx);
    drop(killed);
    drop(sender);
    // The receiver removes what it made: nothing for `ipcx rm` to do.
    assert_nothing_left(t, names, &ep);
    (seen.seqs.len() as u64, notice)
}

/// The peer receives and reports; the test sends until the peer is killed.
fn kill_receiver(t: &Transport, names: &Names, kill_after: Duration) -> (u64, Duration) {
    let (receiver, mut out) = Peer::spawn("recv", &(t.endpoint)(names));
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let ep = line
        .strip_prefix("READY ")
        .unwrap_or_else(|| panic!("{}: the receiving peer said {line:?}", t.name))
        .trim()
        .to_owned();
    let tx = ByteSender::open_timeout(&ep, Duration::from_secs(10)).expect("open the sender");
    // Read as it comes: a full pipe would stall the receiver.
    let reports = std::thread::spawn(move || {
        let mut all = Vec::new();
        out.read_to_end(&mut all).map(|_| all)
    });
    let killed = Kill::after(&receiver, kill_after);
    let mut buf = Vec::new();
    let mut accepted = 0u64;
    let start = Instant::now();
    let notice = loop {
        assert!(start.elapsed() < PATIENCE, "{}: sends never failed", t.name);
        message::encode(accepted, &mut buf);
        match tx.send_bytes_timeout(&buf, Duration::from_millis(200)) {
            Ok(()) => accepted += 1,
            Err(SendTimeoutError::Timeout(_)) => {}
            Err(e) if e.is_disconnected() => match killed.sent() {
                Some(at) => break at.elapsed(),
                None => panic!("{}: disconnected before the kill", t.name),
            },
            Err(e) => panic!("{}: a send failed with {e}, not as disconnected", t.name),
        }
    };
    assert!(
        notice < NOTICE,
        "{}: the sender noticed after {notice:?}",
        t.name
    );
    let reported = reports.join().unwrap().unwrap();
    let mut seen = Seen::default();
    for record in reported.chunks_exact(8) {
        match u64::from_le_bytes(record.try_into().unwrap()) {
            peer::CORRUPT => seen.corrupt += 1,
            peer::END => panic!("{}: the killed receiver saw an end", t.name),
            seq => seen.seqs.push(seq),
        }
    }
    seen.check(0, t.name == "udp", &format!("{} (receiver killed)", t.name));
    let mut checked = seen.seqs.len() as u64;
    drop(tx);
    if t.kind == Kind::Queue {
        checked += rest_of_the_queue(t, &ep, seen.next(0), accepted);
    }
    let dead = receiver.pid();
    drop(killed);
    drop(receiver);
    remove_leftovers(t, names, &ep);
    assert_nothing_left(t, names, &ep);
    assert_no_mark_of(dead);
    (checked, notice)
}

/// A queue outlives its killed receiver with what it held: a new receiver
/// takes the rest, from `next` (or the one after: the dead had taken it)
/// to the last accepted. Returns how many it took.
fn rest_of_the_queue(t: &Transport, ep: &str, next: u64, accepted: u64) -> u64 {
    let rx = ByteReceiver::open(ep).expect("a new receiver on the queue");
    let mut seen = Seen::default();
    while let Ok(bytes) = rx.recv_bytes_timeout(Duration::from_millis(300)) {
        match message::decode(&bytes) {
            Some(seq) => seen.seqs.push(seq),
            None => seen.corrupt += 1,
        }
    }
    let first = seen.seqs.first().copied().unwrap_or(accepted);
    assert!(
        first == next || first == next + 1,
        "{}: the queue's next receiver began at #{first}, the dead one reported up to #{next} - 1",
        t.name
    );
    seen.check(first, false, &format!("{} (the queue's rest)", t.name));
    assert_eq!(
        seen.next(first),
        accepted,
        "{}: every accepted message is in the queue",
        t.name
    );
    seen.seqs.len() as u64
}

/// `ipcx rm` on what a killed receiver cannot remove itself: its socket
/// file or FIFO, its segment, its queue. System V records the test
/// process as the queue's last sender, which still runs: named with
/// `--force` (rm would rightly keep a queue whose users may come back).
fn remove_leftovers(t: &Transport, names: &Names, ep: &str) {
    let mut cmd = common::ipcx();
    cmd.arg("rm");
    if t.name == "sysvmq" {
        cmd.arg("--force");
    }
    let target = match t.kind {
        Kind::Ring => format!("/{}", names.name),
        _ => ep.split('?').next().unwrap().to_owned(),
    };
    if matches!(t.name, "tcp" | "udp" | "unix-abstract") {
        return; // nothing in any namespace outlives a process
    }
    let out = cmd.arg(&target).output().unwrap();
    // Already gone (the survivor removed it) is fine too.
    let gone = String::from_utf8_lossy(&out.stderr).contains("nothing named");
    assert!(
        out.status.success() || gone,
        "{}: ipcx rm {target}: {}{}",
        t.name,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn assert_nothing_left(t: &Transport, names: &Names, ep: &str) {
    let files: Vec<_> = std::fs::read_dir(&names.dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert!(
        files.is_empty(),
        "{}: left in the directory: {files:?}",
        t.name
    );
    let shm = format!("/dev/shm/{}", names.name);
    assert!(
        !std::path::Path::new(&shm).exists(),
        "{}: {shm} is left",
        t.name
    );
    if t.name == "mq" {
        let name = std::ffi::CString::new(format!("/{}", names.name)).unwrap();
        // SAFETY: a valid C string; a descriptor, if one is opened, is closed.
        let fd = unsafe { libc::mq_open(name.as_ptr(), libc::O_RDONLY) };
        if fd >= 0 {
            // SAFETY: the descriptor just opened.
            unsafe { libc::mq_close(fd) };
        }
        assert!(fd < 0, "{}: the queue {ep} is left", t.name);
    }
    if t.name == "sysvmq" {
        // SAFETY: msgget takes plain integers.
        let id = unsafe { libc::msgget(names.key as i32, 0) };
        assert!(id < 0, "{}: the queue {ep} is left", t.name);
    }
}

/// A process that was killed holds no presence mark (statistics, queue
/// receiver) any more.
fn assert_no_mark_of(pid: u32) {
    let table = std::fs::read_to_string("/proc/net/unix").unwrap();
    for prefix in ["@ipcx-stats.", "@ipcx-rx."] {
        let held = table
            .lines()
            .filter_map(|l| l.split_whitespace().nth(7))
            .filter(|n| n.starts_with(prefix))
            .any(|n| n.split('.').any(|part| part == pid.to_string()));
        assert!(!held, "a mark {prefix}… of the killed {pid} is left");
    }
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}
