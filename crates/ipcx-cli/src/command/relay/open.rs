//! Opening a relay address for the part it plays: where messages come
//! from, where they go, or both.
//!
//! | address                       | read from               | written to              |
//! |-------------------------------|-------------------------|-------------------------|
//! | `listen:unix:` / `listen:tcp:`| accepted client         | accepted client         |
//! | `unix:`, `tcp:` (connection)  | connects                | connects                |
//! | `unix+dgram:`, `udp:`         | binds (anyone sends)    | connects                |
//! | `fifo:`, `mq:`, `sysvmq:`, `shm:` | opens as receiver  | opens as sender         |
//! | `pipe:N`                      | inherited fd N          | inherited fd N          |
//! | `-`                           | stdin                   | stdout                  |
//! | `file:PATH`                   | reads                   | creates (0600) or truncates |
//! | `exec:CMD`                    | the child's stdout      | the child's stdin       |
//!
//! Behind a listener, every client gets its own open of the other address,
//! except a one-way target (queue, shared memory, FIFO, file, datagrams,
//! stdout): that is opened once and takes every client's messages, whole.

use std::fs::OpenOptions;
use std::os::fd::OwnedFd;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ipcx::raw::{Access, RawConn, RawListener};
use ipcx::{ByteReceiver, ByteSender, Bytes, Duplex, Endpoint, Listener, Scheme};

use super::address::{is_connection_socket, Frame, RelaySide, Target};
use super::sink::{FdSink, IpcxSink, Sink};
use super::source::{shared, Cut, FdSource, IpcxSource, Source};

mod ids {
    pub(super) fn uid(raw: u32) -> rustix::fs::Uid {
        rustix::fs::Uid::from_raw(raw)
    }

    pub(super) fn gid(raw: u32) -> rustix::fs::Gid {
        rustix::fs::Gid::from_raw(raw)
    }
}

/// The part an address plays in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Messages are read from it.
    Source,
    /// Messages are written to it.
    Sink,
    /// Both, over one connection.
    Both,
}

impl Role {
    fn reads(self) -> bool {
        self != Role::Sink
    }

    fn writes(self) -> bool {
        self != Role::Source
    }
}

/// An address, opened.
#[derive(Default)]
pub(crate) struct OpenedSide {
    pub(crate) source: Option<Box<dyn Source>>,
    pub(crate) sink: Option<Box<dyn Sink>>,
    /// An `exec:` child, waited for (or killed) when the session ends.
    pub(crate) child: Option<Child>,
    /// Who is on the other end, for the log.
    pub(crate) peer: Option<String>,
    /// A half this session does not use but must keep open (closing it
    /// would tell the peer we are gone).
    pub(crate) keep: Option<Box<dyn Send>>,
}

/// Opens `addr` (not a `listen:` one) for `role`. `wait`: how long a
/// target that is not there yet is waited for.
pub(crate) fn open(
    addr: &RelaySide,
    role: Role,
    wait: Option<Duration>,
) -> anyhow::Result<OpenedSide> {
    open_inner(addr, role, wait).with_context(|| format!("cannot open {addr}"))
}

fn open_inner(addr: &RelaySide, role: Role, wait: Option<Duration>) -> anyhow::Result<OpenedSide> {
    let cut = cut_of(addr);
    match &addr.target {
        Target::Stdio => {
            let mut opened = OpenedSide::default();
            if role.reads() {
                let fd = std::io::stdin().lock();
                let fd: OwnedFd = rustix::io::dup(&fd)?;
                opened.source = Some(Box::new(FdSource::new(shared(fd), cut)));
            }
            if role.writes() {
                let fd: OwnedFd = rustix::io::dup(std::io::stdout())?;
                opened.sink = Some(Box::new(FdSink::new(shared(fd), cut, None)));
            }
            Ok(opened)
        }
        Target::File { path, append, mode } => {
            let mut opened = OpenedSide::default();
            if role.reads() {
                let file = std::fs::File::open(path)?;
                opened.source = Some(Box::new(FdSource::new(shared(file), cut)));
            } else {
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .append(*append)
                    .truncate(!*append)
                    .mode(*mode)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                    .open(path)
                    .map_err(|e| match e.raw_os_error() {
                        Some(libc::ELOOP) => anyhow::anyhow!(
                            "refusing to write through {}: it is a symbolic link",
                            path.display()
                        ),
                        _ => e.into(),
                    })?;
                if let Some((uid, gid)) = addr.owner {
                    rustix::fs::fchown(&file, uid.map(ids::uid), gid.map(ids::gid))
                        .with_context(|| format!("cannot give {} to owner=", path.display()))?;
                }
                opened.sink = Some(Box::new(FdSink::new(shared(file), cut, None)));
            }
            Ok(opened)
        }
        Target::Exec(command) => spawn(command, role, cut),
        Target::Endpoint(ep) if addr.frame == Frame::Ipcx => open_framed(ep, role, wait),
        Target::Endpoint(ep) => open_raw(ep, role, cut, wait),
    }
}

pub(crate) fn cut_of(addr: &RelaySide) -> Cut {
    match (&addr.target, addr.frame) {
        (Target::Endpoint(ep), _) if ep.scheme().keeps_boundaries() => Cut::Packets,
        (_, Frame::Line) => Cut::Lines,
        _ => Cut::Reads,
    }
}

fn open_framed(ep: &Endpoint, role: Role, wait: Option<Duration>) -> anyhow::Result<OpenedSide> {
    let mut opened = OpenedSide::default();
    if is_connection_socket(ep) && role != Role::Sink {
        let conn: Duplex<Bytes, Bytes> = match wait {
            Some(t) => Duplex::connect_timeout(ep, t)?,
            None => Duplex::connect(ep)?,
        };
        opened.peer = conn
            .peer_cred()
            .map(|c| format!("pid {} uid {}", c.pid, c.uid));
        return Ok(from_duplex(conn, role, opened));
    }
    match role {
        Role::Source => opened.source = Some(Box::new(IpcxSource(ByteReceiver::open(ep)?))),
        Role::Sink => {
            let tx = match wait {
                Some(t) => ByteSender::open_timeout(ep, t)?,
                None => ByteSender::open(ep)?,
            };
            opened.sink = Some(Box::new(IpcxSink(Some(tx))));
        }
        Role::Both => unreachable!("only connections go both ways"),
    }
    Ok(opened)
}

fn from_duplex(conn: Duplex<Bytes, Bytes>, role: Role, mut opened: OpenedSide) -> OpenedSide {
    let (tx, rx) = conn.split();
    if role.reads() {
        opened.source = Some(Box::new(IpcxSource(rx)));
    } else {
        opened.keep = Some(Box::new(rx));
    }
    if role.writes() {
        opened.sink = Some(Box::new(IpcxSink(Some(tx))));
    } else {
        opened.keep = Some(Box::new(tx));
    }
    opened
}

fn open_raw(
    ep: &Endpoint,
    role: Role,
    cut: Cut,
    wait: Option<Duration>,
) -> anyhow::Result<OpenedSide> {
    let conn = match ep.scheme() {
        Scheme::Fifo | Scheme::Pipe => {
            let access = if role.reads() {
                Access::Read
            } else {
                Access::Write
            };
            RawConn::open(ep, access, wait)?
        }
        Scheme::UnixDgram | Scheme::Udp if role == Role::Source => RawConn::bind(ep)?,
        _ => RawConn::connect(ep, wait)?,
    };
    Ok(from_raw(conn, role, cut))
}

/// Opens the sides of a plain connection. The fd (and whatever the
/// connection created, such as a FIFO) lives as long as either side.
pub(crate) fn from_raw(conn: RawConn, role: Role, cut: Cut) -> OpenedSide {
    let peer = conn
        .peer_cred()
        .map(|c| format!("pid {} uid {}", c.pid, c.uid));
    let max_packet = conn.max_packet();
    let conn = Arc::new(conn);
    let fd: Arc<OwnedFd> = shared(rustix::io::dup(&*conn).expect("dup of an open fd"));
    let mut opened = OpenedSide {
        peer,
        keep: Some(Box::new(conn)),
        ..OpenedSide::default()
    };
    if role.reads() {
        opened.source = Some(Box::new(FdSource::new(fd.clone(), cut)));
    }
    if role.writes() {
        opened.sink = Some(Box::new(FdSink::new(fd, cut, max_packet)));
    }
    opened
}

fn spawn(command: &str, role: Role, cut: Cut) -> anyhow::Result<OpenedSide> {
    let piped_or = |yes: bool, no: fn() -> Stdio| if yes { Stdio::piped() } else { no() };
    let mut child = Command::new("/bin/sh")
        .arg("-c")
        .arg(command)
        .stdin(piped_or(role.writes(), Stdio::null))
        .stdout(piped_or(role.reads(), Stdio::inherit))
        .spawn()
        .with_context(|| format!("cannot run `{command}`"))?;
    let mut opened = OpenedSide {
        peer: Some(format!("pid {}", child.id())),
        ..OpenedSide::default()
    };
    if let Some(out) = child.stdout.take() {
        opened.source = Some(Box::new(FdSource::new(shared(out), cut)));
    }
    if let Some(inp) = child.stdin.take() {
        opened.sink = Some(Box::new(FdSink::new(shared(inp), cut, None)));
    }
    opened.child = Some(child);
    Ok(opened)
}

/// A `listen:` address, bound.
pub(crate) enum Listening {
    /// Clients speak ipcx (hello, frames).
    Framed(Listener),
    /// Clients are plain programs.
    Raw(RawListener, Cut),
}

impl Listening {
    /// Binds; a waiting accept ends when `stop` is triggered.
    pub(crate) fn bind(addr: &RelaySide, stop: &ipcx::Stop) -> anyhow::Result<Listening> {
        let Target::Endpoint(ep) = &addr.target else {
            unreachable!("listen: is only parsed on endpoints")
        };
        let options = ipcx::OpenOptions::new().stop(stop).clone();
        let bound = if addr.frame == Frame::Ipcx {
            Listening::Framed(Listener::bind_with(ep, &options)?)
        } else {
            Listening::Raw(RawListener::bind_with(ep, &options)?, cut_of(addr))
        };
        // Created 0600 by root first, then handed over: never looser.
        if let (Some((uid, gid)), Some(path)) = (addr.owner, ep.path()) {
            rustix::fs::chownat(
                rustix::fs::CWD,
                path,
                uid.map(ids::uid),
                gid.map(ids::gid),
                rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
            )
            .with_context(|| format!("cannot give {} to owner=", path.display()))?;
        }
        Ok(bound)
    }

    pub(crate) fn endpoint(&self) -> &Endpoint {
        match self {
            Listening::Framed(l) => l.endpoint(),
            Listening::Raw(l, _) => l.endpoint(),
        }
    }

    /// The next client, opened for `role`; `Ok(None)` when none came
    /// within `wait`.
    pub(crate) fn accept(
        &self,
        role: Role,
        wait: Duration,
    ) -> Result<Option<OpenedSide>, ipcx::Error> {
        let timed_out = |e: &ipcx::Error| {
            matches!(
                e.kind(),
                ipcx::ErrorKind::TimedOut | ipcx::ErrorKind::Stopped
            )
        };
        match self {
            Listening::Framed(l) => match l.accept_timeout::<Bytes, Bytes>(wait) {
                Ok(conn) => {
                    let peer = conn
                        .peer_cred()
                        .map(|c| format!("pid {} uid {}", c.pid, c.uid));
                    let opened = OpenedSide {
                        peer,
                        ..OpenedSide::default()
                    };
                    Ok(Some(from_duplex(conn, role, opened)))
                }
                Err(e) if timed_out(&e) => Ok(None),
                Err(e) => Err(e),
            },
            Listening::Raw(l, cut) => match l.accept_timeout(wait) {
                Ok(conn) => Ok(Some(from_raw(conn, role, *cut))),
                Err(e) if timed_out(&e) => Ok(None),
                Err(e) => Err(e),
            },
        }
    }
}
