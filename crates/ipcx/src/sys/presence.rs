//! Presence marks: a name that exists exactly as long as a process holds
//! it, which other processes can list without talking to it.
//!
//! A mark is a Unix stream socket bound in the abstract namespace and never
//! listening: nothing can connect to it or send to it, nothing is left in
//! any filesystem, and the kernel drops the name when the last fd closes —
//! including when the process is killed with SIGKILL. Others find marks by
//! prefix in `/proc/net/unix`, one read of one file.
//!
//! A mark says "someone is here", not who: anyone on the machine may bind
//! a name. Users must treat a mark as a hint whose forgery costs only the
//! forger (a sender that believes a receiver exists keeps waiting, as it
//! would without marks).
//!
//! Abstract names belong to a network namespace: processes in different
//! ones do not see each other's marks.

use std::io;
use std::os::fd::OwnedFd;

use rustix::net::{bind, socket_with, AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

/// A held mark; the name disappears when this is dropped.
#[derive(Debug)]
pub(crate) struct Mark {
    _socket: OwnedFd,
}

impl Mark {
    /// Binds the abstract name `name` (`AddrInUse` if taken).
    pub(crate) fn hold(name: &str) -> io::Result<Mark> {
        let socket = socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        bind(
            &socket,
            &SocketAddrUnix::new_abstract_name(name.as_bytes())?,
        )?;
        Ok(Mark { _socket: socket })
    }
}

/// The names of every mark (every bound abstract Unix socket) that starts
/// with `prefix`, as listed in `/proc/net/unix`.
pub(crate) fn listed(prefix: &str) -> io::Result<Vec<String>> {
    let table = std::fs::read_to_string("/proc/net/unix")?;
    Ok(names_in(&table, prefix))
}

/// The abstract names in a `/proc/net/unix` table that start with `prefix`.
/// Each line is `Num RefCount Protocol Flags Type St Inode Path`; an
/// abstract path is shown as `@` and the name.
fn names_in(table: &str, prefix: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(7)?.strip_prefix('@'))
        .filter(|name| name.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// A short, stable hash of `text` for use in names (FNV-1a, 64 bits).
pub(crate) fn name_hash(text: &str) -> u64 {
    crate::codec::fnv1a64(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_mark_is_listed_and_goes_when_dropped() {
        let name = format!("ipcx-test-mark.{}.{}", std::process::id(), line!());
        let mark = Mark::hold(&name).unwrap();
        assert_eq!(listed(&name).unwrap(), vec![name.clone()]);
        assert!(Mark::hold(&name).is_err(), "a name is held once");
        drop(mark);
        assert!(listed(&name).unwrap().is_empty());
    }

    #[test]
    fn the_table_is_parsed_by_prefix() {
        let table = "Num       RefCount Protocol Flags    Type St Inode Path\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 1234 @ipcx-rx.a.1\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 1235 /run/x.sock\n\
             0000000000000000: 00000002 00000000 00000000 0002 01 1236\n\
             0000000000000000: 00000002 00000000 00010000 0001 01 1237 @other\n";
        assert_eq!(names_in(table, "ipcx-rx."), vec!["ipcx-rx.a.1"]);
    }
}
