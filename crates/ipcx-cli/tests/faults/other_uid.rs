//! Another user against every object ipcx creates: a receiver run by root
//! makes its socket file, FIFO, queue or ring with the default mode; a
//! sender run as `nobody` is refused with a clear error (permission, not a
//! hang or a crash), the receiver takes nothing from it, and root's own
//! sender gets through afterwards. (TCP and UDP have no owner: not here.)

use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::common::{self, ipcx, Queues, Running, Scratch};

const NOBODY: u32 = 65534;

pub struct Object {
    pub name: &'static str,
    endpoint: fn(&Scratch) -> String,
}

pub const OBJECTS: &[Object] = &[
    Object {
        name: "fifo",
        endpoint: |s| format!("fifo:{}", s.path("f")),
    },
    Object {
        name: "unix",
        endpoint: |s| format!("unix:{}", s.path("s")),
    },
    Object {
        name: "unix-abstract",
        endpoint: |_| format!("unix:@ipcx-uid-{}", std::process::id()),
    },
    Object {
        name: "unix+seqpacket",
        endpoint: |s| format!("unix+seqpacket:{}", s.path("q")),
    },
    Object {
        name: "unix+dgram",
        endpoint: |s| format!("unix+dgram:{}", s.path("d")),
    },
    Object {
        name: "mq",
        endpoint: |_| format!("mq:/ipcx-uid-{}", std::process::id()),
    },
    Object {
        name: "sysvmq",
        endpoint: |_| format!("sysvmq:{:#x}", common::sysv_key(11)),
    },
    Object {
        name: "shm",
        endpoint: |_| format!("shm:/ipcx-uid-{}", std::process::id()),
    },
];

fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

pub fn run(o: &Object) {
    if !running_as_root() {
        eprintln!("{}: not root: another user cannot be tried here", o.name);
        return;
    }
    let s = Scratch::new(&format!("uid-{}", o.name.replace('+', "_")));
    // The scratch directory must be reachable by nobody (the object's own
    // mode is what is tested).
    let _ = std::fs::set_permissions(&s.0, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let ep = (o.endpoint)(&s);
    let _queues = Queues(
        format!("/ipcx-uid-{}", std::process::id()),
        common::sysv_key(11),
    );
    let _ring = RemoveRing(format!("/dev/shm/ipcx-uid-{}", std::process::id()));
    let rx = Running(
        ipcx()
            .args(["recv", &ep, "-n", "1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    super::ready::wait_for(&ep);
    let started = Instant::now();
    let stranger = ipcx()
        .args(["send", &ep, "from nobody"])
        .current_dir("/")
        .uid(NOBODY)
        .gid(NOBODY)
        .env("IPCX_STATS", "0")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&stranger.stderr);
    // An abstract socket has no file mode: the connect succeeds and the
    // listener refuses the peer by its uid (SO_PEERCRED) before reading a
    // byte; the sender, which does not wait for the listener's answer, is
    // not told (the receiver is: checked below).
    let abstract_socket = ep.starts_with("unix:@");
    assert!(
        abstract_socket || !stranger.status.success(),
        "{}: nobody's send was accepted",
        o.name
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{}: the refusal took {:?}",
        o.name,
        started.elapsed()
    );
    assert!(
        abstract_socket
            || ["ermission denied", "not trusted", "refused"]
                .iter()
                .any(|w| err.contains(w)),
        "{}: not a clear refusal: {err}",
        o.name
    );
    let sent = ipcx().args(["send", &ep, "from root"]).output().unwrap();
    assert!(
        sent.status.success(),
        "{}: {}",
        o.name,
        String::from_utf8_lossy(&sent.stderr)
    );
    let (_, out, rx_err) = common::finish(rx);
    assert_eq!(
        out, "from root\n",
        "{}: the receiver took: {out:?} ({rx_err})",
        o.name
    );
    eprintln!(
        "{}: nobody refused: {}",
        o.name,
        err.lines().last().unwrap_or_default()
    );
}

/// Removes a ring's file on drop (the receiver may be killed).
struct RemoveRing(String);

impl Drop for RemoveRing {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
