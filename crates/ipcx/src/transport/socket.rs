//! What the connection-oriented socket transports share: binding a Unix
//! address safely, and the hello handshake on a fresh connection.

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::Arc;

use rustix::fs::{statat, AtFlags, FileType, Mode, CWD};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use super::cleanup::RemoveOnDrop;
use crate::endpoint::{UnixAddr, UnixKind};
use crate::error::{Error, ErrorKind, Fail};
use crate::link::packet::{PacketReader, PacketWriter};
use crate::link::stream::{StreamReader, StreamWriter};
use crate::link::{Inbound, Outbound, PeerHello};
use crate::sys::{Deadline, FdKind};
use crate::wire::hello::Hello;

pub(crate) fn socket_type(kind: UnixKind) -> SocketType {
    match kind {
        UnixKind::Stream => SocketType::STREAM,
        UnixKind::SeqPacket => SocketType::SEQPACKET,
        UnixKind::Dgram => SocketType::DGRAM,
    }
}

pub(crate) fn unix_address(addr: &UnixAddr) -> Result<SocketAddrUnix, Error> {
    let made = match addr {
        UnixAddr::Path(p) => SocketAddrUnix::new(p.as_path()),
        UnixAddr::Abstract(name) => SocketAddrUnix::new_abstract_name(name),
    };
    made.map_err(|e| Error::io("bad Unix socket address", e.into()))
}

pub(crate) fn new_unix_socket(kind: UnixKind, flags: SocketFlags) -> Result<OwnedFd, Error> {
    rustix::net::socket_with(
        AddressFamily::UNIX,
        socket_type(kind),
        SocketFlags::CLOEXEC | flags,
        None,
    )
    .map_err(|e| Error::io("cannot create a Unix socket", e.into()))
}

/// Binds a Unix socket (and listens, for stream and seqpacket).
///
/// A socket file is created with `mode` (set on the socket before `bind`,
/// so it is never looser, even for an instant). If the path exists: a
/// symlink or a non-socket is refused; a socket somebody listens on is
/// `AddrInUse`; a stale socket file (connect refused) is replaced.
pub(crate) fn bind_unix(
    kind: UnixKind,
    addr: &UnixAddr,
    mode: u32,
) -> Result<(OwnedFd, Option<RemoveOnDrop>), Error> {
    let fd = new_unix_socket(kind, SocketFlags::NONBLOCK)?;
    let sockaddr = unix_address(addr)?;
    let mut guard = None;
    match addr {
        UnixAddr::Abstract(_) => match rustix::net::bind(&fd, &sockaddr) {
            Ok(()) => {}
            Err(Errno::ADDRINUSE) => {
                return Err(Error::new(
                    ErrorKind::AddrInUse,
                    "abstract name in use by a live socket",
                ))
            }
            Err(e) => return Err(Error::io("bind failed", e.into())),
        },
        UnixAddr::Path(path) => {
            rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
                .map_err(|e| Error::io("cannot set the socket's mode", e.into()))?;
            match rustix::net::bind(&fd, &sockaddr) {
                Ok(()) => {}
                Err(Errno::ADDRINUSE) => {
                    replace_stale_socket(kind, path, &sockaddr)?;
                    rustix::net::bind(&fd, &sockaddr)
                        .map_err(|e| Error::io("bind failed", e.into()))?;
                }
                Err(Errno::NOENT) => return Err(missing_directory(path)),
                Err(e) => return Err(Error::io("bind failed", e.into())),
            }
            guard =
                Some(RemoveOnDrop::new(path).map_err(|e| Error::io("bound socket vanished", e))?);
            set_exact_mode(path, mode)?;
        }
    }
    if kind != UnixKind::Dgram {
        rustix::net::listen(&fd, 128).map_err(|e| Error::io("listen failed", e.into()))?;
    }
    Ok((fd, guard))
}

/// `bind` applies the umask; widen to exactly `mode` if it narrowed it.
pub(crate) fn set_exact_mode(path: &Path, mode: u32) -> Result<(), Error> {
    let st = statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io("stat failed", e.into()))?;
    if st.st_mode & 0o7777 != mode {
        rustix::fs::chmodat(CWD, path, Mode::from_raw_mode(mode), AtFlags::empty())
            .map_err(|e| Error::io("cannot set mode", e.into()))?;
    }
    Ok(())
}

fn replace_stale_socket(
    kind: UnixKind,
    path: &Path,
    sockaddr: &SocketAddrUnix,
) -> Result<(), Error> {
    let st = statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io("stat failed", e.into()))?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Socket => {}
        FileType::Symlink => {
            return Err(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "refusing to replace {}: it is a symbolic link",
                    path.display()
                ),
            ))
        }
        other => {
            return Err(Error::new(
                ErrorKind::AddrInUse,
                format!(
                "{} exists and is not a socket (it is a {other:?}); remove it or pick another path",
                path.display()
            ),
            ))
        }
    }
    let probe = new_unix_socket(kind, SocketFlags::NONBLOCK)?;
    match rustix::net::connect(&probe, sockaddr) {
        Err(Errno::CONNREFUSED) => std::fs::remove_file(path)
            .map_err(|e| Error::io("cannot remove the stale socket file", e)),
        Ok(()) | Err(Errno::AGAIN | Errno::INPROGRESS) => Err(Error::new(
            ErrorKind::AddrInUse,
            "address in use by a live listener",
        )),
        Err(e) => Err(Error::io("cannot probe the existing socket file", e.into())),
    }
}

/// A socket path whose directory does not exist: not "nobody there".
fn missing_directory(path: &std::path::Path) -> Error {
    let dir = path.parent().unwrap_or(path);
    Error::new(
        ErrorKind::Io,
        format!(
            "cannot create {}: the directory {} does not exist (create it first)",
            path.display(),
            dir.display()
        ),
    )
}

/// Connects a Unix socket; "nobody there" becomes a [`ErrorKind::NoPeer`] error.
pub(crate) fn connect_unix(kind: UnixKind, addr: &UnixAddr) -> Result<OwnedFd, Error> {
    let fd = new_unix_socket(kind, SocketFlags::empty())?;
    let sockaddr = unix_address(addr)?;
    loop {
        return match rustix::net::connect(&fd, &sockaddr) {
            Ok(()) => Ok(fd),
            Err(Errno::INTR) => continue,
            Err(e @ (Errno::NOENT | Errno::CONNREFUSED)) => Err(Error::io(
                "nobody is listening (start the receiver first, or wait for it: \
                 Sender::open_timeout, ipcx send --wait)",
                e.into(),
            )),
            Err(e) => Err(Error::io("connect failed", e.into())),
        };
    }
}

/// The two halves of a connection after the hello exchange (either may be
/// absent when this end does not use it).
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) outbound: Option<Outbound>,
    pub(crate) inbound: Option<Inbound>,
}

/// Who waits for whose hello.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The connecting end sends its hello and goes on at once: the peer may
    /// not accept until later (a receiver in the same thread accepts inside
    /// `recv`). The peer's hello is checked when it arrives.
    Connecting,
    /// Connecting, to a listener that will not answer (TCP, this end only sends).
    ConnectingNoAnswer,
    /// The accepting end: the peer's hello was sent at connect, so wait for it.
    Accepting,
}

/// A peer that only sends may have sent its hello and messages and closed
/// before it was accepted: our hello then cannot go out, but what it sent
/// is queued and still to be read, so the accepting end goes on.
fn hello_unless_gone(sent: Result<(), Fail>, side: Side) -> Result<(), Fail> {
    match sent {
        Err(Fail::Disconnected) if side == Side::Accepting => Ok(()),
        other => other,
    }
}

/// Sends this end's hello on a fresh connection and sets up the checks of
/// the peer's. `max_msg` is this end's own limit for what it sends. Keeps the halves `local` says this end uses.
pub(crate) fn handshake(
    fd: OwnedFd,
    packets: bool,
    local: &Hello,
    side: Side,
    max_msg: u32,
    label: &Arc<str>,
    deadline: Deadline<'_>,
) -> Result<Connection, Error> {
    let fd = Arc::new(fd);
    let fail = |f: Fail| match f {
        Fail::Error(e) => e,
        Fail::Stopped => crate::Stop::error("handshake").at(label),
        Fail::NotReady => Error::new(
            ErrorKind::TimedOut,
            "the peer did not send its hello in time",
        )
        .at(label),
        Fail::Disconnected => Error::new(
            ErrorKind::NoPeer,
            "the peer closed the connection during the hello (refused, or not an ipcx endpoint)",
        )
        .at(label),
    };
    let (outbound, inbound) = if packets {
        let mut writer = PacketWriter::new(fd.clone(), max_msg, label.clone());
        hello_unless_gone(writer.send_hello(local, deadline), side).map_err(fail)?;
        let mut reader = PacketReader::new(fd, local.clone(), label.clone())?;
        if side == Side::Accepting {
            writer.limit_to(reader.recv_hello(deadline).map_err(fail)?.max_msg);
        } else if local.receives.is_none() {
            if side == Side::Connecting {
                writer.await_peer(PeerHello::Packet(reader));
            }
            return Ok(Connection {
                outbound: Some(Outbound::Packet(writer)),
                inbound: None,
            });
        }
        (Outbound::Packet(writer), Inbound::Packet(reader))
    } else {
        let mut writer = StreamWriter::new(fd.clone(), FdKind::Socket, max_msg, label.clone());
        hello_unless_gone(writer.send_hello(local, deadline), side).map_err(fail)?;
        if side == Side::ConnectingNoAnswer {
            return Ok(Connection {
                outbound: Some(Outbound::Stream(writer)),
                inbound: None,
            });
        }
        if side == Side::Connecting && local.receives.is_none() {
            let reader = StreamReader::for_hello(fd, FdKind::Socket, local.clone(), label.clone());
            writer.await_peer(PeerHello::Stream(reader));
            return Ok(Connection {
                outbound: Some(Outbound::Stream(writer)),
                inbound: None,
            });
        }
        let mut reader = StreamReader::new(fd, FdKind::Socket, local.clone(), label.clone());
        if side == Side::Accepting {
            writer.limit_to(reader.recv_hello(deadline).map_err(fail)?.max_msg);
        }
        (Outbound::Stream(writer), Inbound::Stream(reader))
    };
    Ok(Connection {
        outbound: local.sends.is_some().then_some(outbound),
        inbound: local.receives.is_some().then_some(inbound),
    })
}
