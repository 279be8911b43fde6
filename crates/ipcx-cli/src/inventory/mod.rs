//! Every IPC object visible to the caller, in one list: what `ipcx ls`
//! prints and `ipcx rm` and `ipcx top` build on. One module per family of
//! objects; each adds [`Object`]s to the list and never fails as a whole:
//! what it cannot read is listed as far as it is known and marked
//! (`restricted`).

pub(crate) mod mqueue;
pub(crate) mod pipes;
pub(crate) mod posix_shm;
pub(crate) mod procs;
pub(crate) mod sockets_inet;
pub(crate) mod sockets_unix;
pub(crate) mod sysv;

use serde::Serialize;

use procs::{Holder, ProcessTable};

/// The kinds of object, as `--type` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    Pipe,
    Fifo,
    Unix,
    Tcp,
    Udp,
    Mq,
    PosixShm,
    PosixSem,
    SysvMsg,
    SysvShm,
    SysvSem,
}

impl Kind {
    pub(crate) const ALL: [Kind; 11] = [
        Kind::Pipe,
        Kind::Fifo,
        Kind::Unix,
        Kind::Tcp,
        Kind::Udp,
        Kind::Mq,
        Kind::PosixShm,
        Kind::PosixSem,
        Kind::SysvMsg,
        Kind::SysvShm,
        Kind::SysvSem,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Pipe => "pipe",
            Kind::Fifo => "fifo",
            Kind::Unix => "unix",
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
            Kind::Mq => "mq",
            Kind::PosixShm => "posix-shm",
            Kind::PosixSem => "posix-sem",
            Kind::SysvMsg => "sysv-msg",
            Kind::SysvShm => "sysv-shm",
            Kind::SysvSem => "sysv-sem",
        }
    }

    /// `--type` also takes the family names `socket`, `sysv`, `posix`.
    pub(crate) fn matches(self, filter: &str) -> bool {
        filter == self.name()
            || match filter {
                "socket" => matches!(self, Kind::Unix | Kind::Tcp | Kind::Udp),
                "sysv" => matches!(self, Kind::SysvMsg | Kind::SysvShm | Kind::SysvSem),
                "posix" => matches!(self, Kind::Mq | Kind::PosixShm | Kind::PosixSem),
                "shm" => matches!(self, Kind::PosixShm | Kind::SysvShm),
                _ => false,
            }
    }
}

/// One IPC object. Fields that do not apply to its kind are left out of
/// the JSON (the schema: `docs/ls.md`).
#[derive(Debug, Clone, Serialize, Default)]
pub(crate) struct Object {
    #[serde(rename = "type")]
    pub(crate) kind: Option<Kind>,
    /// Path, abstract name (`@name`), address, key, or `pipe:[INODE]`.
    pub(crate) name: String,
    /// The ipcx endpoint string, when this is an ipcx endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) ipcx: Option<String>,
    /// The inode (pipes, FIFOs, sockets): what `lsof` and `ss` show.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) inode: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
    /// Permission bits, octal (`"0600"`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) mode: Option<String>,
    /// The processes holding it: fds (with access mode) and mappings.
    pub(crate) processes: Vec<Holder>,
    /// Socket type (`stream`, `seqpacket`, `dgram`) or state detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) socket_type: Option<&'static str>,
    /// Socket state (`listen`, `established`, `unconnected`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) local: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) peer: Option<String>,
    /// Bytes (or, on a listener, connections) waiting to be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) recv_queue: Option<u64>,
    /// Bytes sent but not yet taken by the peer (or a listener's backlog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) send_queue: Option<u64>,
    /// Messages waiting in a queue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) messages: Option<u64>,
    /// Bytes waiting (pipes, FIFOs, queues).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) queued_bytes: Option<u64>,
    /// Capacity in bytes (pipe buffer, queue byte limit, ring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) capacity: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_messages: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_message_size: Option<u64>,
    /// Size in bytes (shared memory).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) size: Option<u64>,
    /// System V: key (`0x…`) and id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<i64>,
    /// Attach count (System V shared memory), or semaphores in a set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) attached: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) semaphores: Option<u64>,
    /// System V: last sending / receiving / attaching process, creator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_send_pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_recv_pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) creator_pid: Option<i32>,
    /// What could not be read, and why (the object is listed anyway).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) restricted: Option<String>,
}

impl Object {
    pub(crate) fn new(kind: Kind, name: impl Into<String>) -> Object {
        Object {
            kind: Some(kind),
            name: name.into(),
            ..Object::default()
        }
    }

    pub(crate) fn kind(&self) -> Kind {
        self.kind.expect("every listed object has a kind")
    }

    pub(crate) fn owned_by(mut self, uid: u32, mode: Option<u32>) -> Object {
        self.uid = Some(uid);
        self.user = Some(crate::users::user_name(uid));
        self.mode = mode.map(|m| format!("{:04o}", m & 0o7777));
        self
    }

    /// Notes something that could not be read (kept with earlier notes).
    pub(crate) fn restrict(&mut self, why: impl Into<String>) {
        let why = why.into();
        self.restricted = Some(match self.restricted.take() {
            Some(before) => format!("{before}; {why}"),
            None => why,
        });
    }
}

/// The whole inventory.
#[derive(Debug, Serialize)]
pub(crate) struct Inventory {
    /// Schema version of this JSON.
    pub(crate) version: u32,
    pub(crate) objects: Vec<Object>,
    /// Processes whose fds the caller may not read: their objects may be
    /// missing holders.
    pub(crate) hidden_processes: Vec<i32>,
}

impl Inventory {
    /// Looks at everything, or only the kinds `wanted` says yes to.
    pub(crate) fn collect(wanted: impl Fn(Kind) -> bool) -> Inventory {
        let procs = ProcessTable::scan();
        let mut objects = Vec::new();
        if wanted(Kind::Pipe) || wanted(Kind::Fifo) {
            pipes::collect(&procs, &mut objects);
        }
        if wanted(Kind::Unix) {
            sockets_unix::collect(&procs, &mut objects);
        }
        if wanted(Kind::Tcp) || wanted(Kind::Udp) {
            sockets_inet::collect(&procs, &mut objects);
        }
        if wanted(Kind::Mq) {
            mqueue::collect(&procs, &mut objects);
        }
        if wanted(Kind::PosixShm) || wanted(Kind::PosixSem) {
            posix_shm::collect(&procs, &mut objects);
        }
        if wanted(Kind::SysvMsg) || wanted(Kind::SysvShm) || wanted(Kind::SysvSem) {
            sysv::collect(&procs, &mut objects);
        }
        objects.retain(|o| wanted(o.kind()));
        objects.sort_by(|a, b| (a.kind(), &a.name).cmp(&(b.kind(), &b.name)));
        Inventory {
            version: 1,
            objects,
            hidden_processes: procs.hidden,
        }
    }
}
