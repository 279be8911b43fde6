//! One look at one way of a connected Unix socket: what its peer sends
//! it. The readers are the processes holding the target socket, the
//! writers those holding its peer (from `sock_diag`, as `ss -x` shows).
//!
//! The kernel holds a stream's data in the reader's receive queue but
//! charges it to the writer: a writer blocks once what it has sent and
//! nobody has read yet (payload plus each buffer's overhead, the peer's
//! `udiag_wqueue`, what `ss` shows as its Send-Q) reaches its
//! `SO_SNDBUF`. So `queued` is that charge and `capacity` the writer's
//! `SO_SNDBUF` (read through a copy of its fd); `payload` is the bytes a
//! read would get (the reader's receive queue).

use anyhow::{bail, Result};

use super::look::{ends_of, Look};
use crate::inventory::procs::{FdTarget, ProcessTable};
use crate::inventory::sockets_unix;

/// `TCP_ESTABLISHED`, as `sock_diag` reports a connected Unix socket.
const ESTABLISHED: u8 = 1;

pub(crate) fn look(inode: u64, table: &ProcessTable) -> Result<Look> {
    let sockets = sockets_unix::dump()?;
    let Some(socket) = sockets.iter().find(|s| u64::from(s.inode) == inode) else {
        bail!(
            "socket:[{inode}] is not a Unix socket in this network namespace (TCP and UDP \
             sockets are not shown by plumber yet)"
        );
    };
    // A stream whose writer closed keeps what it sent until it is read.
    let peer = socket.peer.filter(|p| *p != 0);
    if peer.is_none() && socket.state != ESTABLISHED {
        bail!("socket:[{inode}] is not connected: it has no peer sending to it");
    }
    let writer_sock = peer.and_then(|peer| sockets.iter().find(|s| s.inode == peer));
    let me = std::process::id() as i32;
    let held_on = |ino: u64| -> Vec<(i32, i32)> {
        table
            .fds
            .iter()
            .filter(|f| f.pid != me && f.target == FdTarget::Socket(ino))
            .map(|f| (f.pid, f.fd))
            .collect()
    };
    let readers = held_on(inode);
    let writers = peer.map_or_else(Vec::new, |p| held_on(u64::from(p)));
    let mut note = None;
    let capacity = match writers.first() {
        Some(&(pid, fd)) => match send_buffer(pid, fd) {
            Ok(size) => Some(size),
            Err(e) => {
                note = Some(format!(
                    "the writer's SO_SNDBUF cannot be read through pid {pid}'s fd {fd}: {e} \
                     (it needs ptrace rights over it: same user, or root)"
                ));
                None
            }
        },
        None => {
            note = Some(match peer {
                Some(peer) => format!("nobody here holds the peer socket:[{peer}]"),
                None => "the writer has closed its end; what it sent waits to be read".into(),
            });
            None
        }
    };
    let payload = socket.rqueue.map(u64::from);
    Ok(Look {
        target: format!("socket:[{inode}]"),
        kind: "unix",
        capacity,
        // With the writer gone, nothing is charged: what waits is the payload.
        queued: match writer_sock {
            Some(w) => w.wqueue.map(u64::from),
            None => payload,
        },
        unit: "bytes",
        writers: ends_of(table, &writers),
        readers: ends_of(table, &readers),
        note,
        payload,
        messages: None,
        through: None,
    })
}

/// `SO_SNDBUF` of `pid`'s socket `fd` (through a copy of the fd).
fn send_buffer(pid: i32, fd: i32) -> std::io::Result<u64> {
    let copy = crate::inventory::pipes::copy_of(pid, fd)?;
    Ok(rustix::net::sockopt::socket_send_buffer_size(&copy)? as u64)
}
