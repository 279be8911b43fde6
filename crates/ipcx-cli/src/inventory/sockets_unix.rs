//! Unix sockets through `sock_diag` netlink (what `ss -x` uses):
//! name, type, state, peer, and queue depths, which `/proc/net/unix` does
//! not have. Owners are matched by inode against every process's fds.

use std::collections::HashMap;

use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketType};

use super::procs::{FdTarget, ProcessTable};
use super::{Kind, Object};

const SOCK_DIAG_BY_FAMILY: u16 = 20;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_DUMP: u16 = 0x300;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

const UDIAG_SHOW_NAME: u32 = 0x01;
const UDIAG_SHOW_VFS: u32 = 0x02;
const UDIAG_SHOW_PEER: u32 = 0x04;
const UDIAG_SHOW_RQLEN: u32 = 0x10;
const UDIAG_SHOW_UID: u32 = 0x40;

const UNIX_DIAG_NAME: u16 = 0;
const UNIX_DIAG_PEER: u16 = 2;
const UNIX_DIAG_RQLEN: u16 = 4;
const UNIX_DIAG_UID: u16 = 7;

/// One socket as the kernel reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UnixSocket {
    pub(crate) inode: u32,
    pub(crate) socket_type: u8,
    pub(crate) state: u8,
    /// The bound name: a path, or `@name` for an abstract one.
    pub(crate) name: Option<String>,
    pub(crate) peer: Option<u32>,
    pub(crate) rqueue: Option<u32>,
    pub(crate) wqueue: Option<u32>,
    pub(crate) uid: Option<u32>,
}

pub(crate) fn collect(procs: &ProcessTable, out: &mut Vec<Object>) {
    let sockets = match dump() {
        Ok(s) => s,
        Err(e) => {
            let mut o = Object::new(Kind::Unix, "(all)");
            o.restrict(format!("sock_diag netlink failed: {e}"));
            out.push(o);
            return;
        }
    };
    let by_inode: HashMap<u32, &UnixSocket> = sockets.iter().map(|s| (s.inode, s)).collect();
    for s in &sockets {
        let holders = procs.holders(&FdTarget::Socket(u64::from(s.inode)));
        let name = s
            .name
            .clone()
            .unwrap_or_else(|| format!("socket:[{}]", s.inode));
        let mut o = Object::new(Kind::Unix, name);
        o.socket_type = Some(match s.socket_type {
            1 => "stream",
            2 => "dgram",
            5 => "seqpacket",
            _ => "other",
        });
        o.state = Some(
            match s.state {
                1 => "established",
                2 => "connecting",
                7 => "unconnected",
                10 => "listen",
                _ => "other",
            }
            .to_owned(),
        );
        o.local = s.name.clone();
        o.inode = Some(u64::from(s.inode));
        o.peer = s.peer.filter(|p| *p != 0).map(|p| match by_inode.get(&p) {
            Some(peer) => match (&peer.name, holder_of(procs, p)) {
                (Some(n), _) => n.clone(),
                (None, Some(h)) => format!("socket:[{p}] ({h})"),
                (None, None) => format!("socket:[{p}]"),
            },
            None => format!("socket:[{p}]"),
        });
        o.recv_queue = s.rqueue.map(u64::from);
        o.send_queue = s.wqueue.map(u64::from);
        if let Some(uid) = s.uid {
            o = o.owned_by(uid, None);
        }
        o.processes = holders;
        o.ipcx = s.name.as_deref().and_then(internal).map(str::to_owned);
        out.push(o);
    }
}

/// What an abstract socket ipcx binds for itself is for (nothing connects
/// to these; see `ipcx::sys::presence` and the shm doorbells).
fn internal(name: &str) -> Option<&'static str> {
    let name = name.strip_prefix('@')?;
    [
        ("ipcx-stats.", "(statistics mark)"),
        ("ipcx-rx.", "(queue receiver mark)"),
        ("ipcx-bell.", "(shm doorbell)"),
    ]
    .into_iter()
    .find_map(|(prefix, what)| name.starts_with(prefix).then_some(what))
}

fn holder_of(procs: &ProcessTable, inode: u32) -> Option<String> {
    procs
        .holders(&FdTarget::Socket(u64::from(inode)))
        .first()
        .map(|h| format!("pid {} {}", h.pid, h.command))
}

/// Every Unix socket in this network namespace.
pub(crate) fn dump() -> std::io::Result<Vec<UnixSocket>> {
    let fd = rustix::net::socket(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        Some(rustix::net::netlink::SOCK_DIAG),
    )?;
    let mut req = Vec::with_capacity(40);
    req.extend_from_slice(&40u32.to_ne_bytes()); // nlmsg_len
    req.extend_from_slice(&SOCK_DIAG_BY_FAMILY.to_ne_bytes());
    req.extend_from_slice(&(NLM_F_REQUEST | NLM_F_DUMP).to_ne_bytes());
    req.extend_from_slice(&1u32.to_ne_bytes()); // seq
    req.extend_from_slice(&0u32.to_ne_bytes()); // pid
    req.push(libc::AF_UNIX as u8); // sdiag_family
    req.push(0); // sdiag_protocol
    req.extend_from_slice(&0u16.to_ne_bytes()); // pad
    req.extend_from_slice(&u32::MAX.to_ne_bytes()); // every state
    req.extend_from_slice(&0u32.to_ne_bytes()); // any inode
    let show =
        UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
    req.extend_from_slice(&show.to_ne_bytes());
    req.extend_from_slice(&[0xff; 8]); // no cookie
    rustix::net::sendto(&fd, &req, SendFlags::empty(), &SocketAddrNetlink::new(0, 0))?;

    let mut sockets = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let (n, _) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty())?;
        if n == 0 {
            return Ok(sockets);
        }
        if parse_batch(&buf[..n], &mut sockets)? {
            return Ok(sockets);
        }
    }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Parses one datagram of netlink messages; `Ok(true)` at the end of the dump.
fn parse_batch(mut b: &[u8], out: &mut Vec<UnixSocket>) -> std::io::Result<bool> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed sock_diag reply");
    while b.len() >= 16 {
        let len = u32_at(b, 0).ok_or_else(bad)? as usize;
        let kind = u16_at(b, 4).ok_or_else(bad)?;
        if len < 16 || len > b.len() {
            return Err(bad());
        }
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                let errno = u32_at(b, 16).map(|e| -(e as i32)).unwrap_or(0);
                return Err(std::io::Error::from_raw_os_error(errno));
            }
            SOCK_DIAG_BY_FAMILY => out.push(parse_socket(&b[16..len]).ok_or_else(bad)?),
            _ => {}
        }
        b = &b[(len + 3) & !3..];
    }
    Ok(false)
}

/// `struct unix_diag_msg` (16 bytes) and its attributes.
fn parse_socket(m: &[u8]) -> Option<UnixSocket> {
    let mut s = UnixSocket {
        socket_type: *m.get(1)?,
        state: *m.get(2)?,
        inode: u32_at(m, 4)?,
        ..UnixSocket::default()
    };
    let mut attrs = m.get(16..)?;
    while attrs.len() >= 4 {
        let len = u16_at(attrs, 0)? as usize;
        let kind = u16_at(attrs, 2)?;
        if len < 4 || len > attrs.len() {
            return None;
        }
        let data = &attrs[4..len];
        match kind {
            UNIX_DIAG_NAME => s.name = Some(unix_name(data)),
            UNIX_DIAG_PEER => s.peer = u32_at(data, 0),
            UNIX_DIAG_RQLEN => {
                s.rqueue = u32_at(data, 0);
                s.wqueue = u32_at(data, 4);
            }
            UNIX_DIAG_UID => s.uid = u32_at(data, 0),
            _ => {}
        }
        attrs = attrs.get((len + 3) & !3..).unwrap_or(&[]);
    }
    Some(s)
}

/// A path, or `@name` for an abstract address (leading NUL).
fn unix_name(data: &[u8]) -> String {
    match data.split_first() {
        Some((0, rest)) => format!("@{}", String::from_utf8_lossy(rest)),
        _ => {
            let end = data.iter().position(|b| *b == 0).unwrap_or(data.len());
            String::from_utf8_lossy(&data[..end]).into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_socket_and_its_queue_are_reported() {
        let dir = std::env::temp_dir().join(format!("ipcx-diag-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("l.sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let _pending = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let sockets = dump().unwrap();
        let mine = sockets
            .iter()
            .find(|s| s.name.as_deref() == path.to_str())
            .expect("the listener is listed");
        assert_eq!((mine.socket_type, mine.state), (1, 10));
        assert_eq!(
            mine.rqueue,
            Some(1),
            "one connection waiting to be accepted"
        );
        drop(listener);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn garbage_replies_are_errors_not_panics() {
        let mut out = Vec::new();
        for junk in [
            &[0xffu8; 40][..],
            &[16, 0, 0, 0, 20, 0][..],
            &[200, 0, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0][..],
        ] {
            let _ = parse_batch(junk, &mut out);
        }
        assert_eq!(parse_socket(&[1, 1, 1]), None);
    }
}
