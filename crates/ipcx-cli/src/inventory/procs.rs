//! Every process the caller can see, with the IPC-relevant fds and
//! mappings it holds: the index that tells, for each kernel object, which
//! processes are on it.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

/// How a process holds an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Access {
    /// An fd open for reading.
    R,
    /// An fd open for writing.
    W,
    /// An fd open for both.
    Rw,
    /// A memory mapping.
    Map,
}

/// One process on one object.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Holder {
    pub(crate) pid: i32,
    pub(crate) command: String,
    /// The fd number (none for a mapping).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fd: Option<i32>,
    pub(crate) access: Access,
}

/// What an fd points at, from its `/proc/PID/fd` link.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum FdTarget {
    /// `pipe:[INODE]` (anonymous pipes).
    Pipe(u64),
    /// `socket:[INODE]`.
    Socket(u64),
    /// A path: FIFOs, files in `/dev/shm`, POSIX queues.
    Path(PathBuf),
}

/// One fd of one process.
#[derive(Debug, Clone)]
pub(crate) struct Fd {
    pub(crate) pid: i32,
    pub(crate) fd: i32,
    pub(crate) target: FdTarget,
    pub(crate) access: Access,
}

/// The processes, and who holds what.
#[derive(Debug, Default)]
pub(crate) struct ProcessTable {
    /// pid → command name.
    pub(crate) commands: HashMap<i32, String>,
    /// pid → real uid.
    pub(crate) uids: HashMap<i32, u32>,
    pub(crate) fds: Vec<Fd>,
    /// (pid, mapped path) for every mapping of a file in /dev/shm or of a
    /// System V segment (`/SYSV0000002a (deleted)`).
    pub(crate) maps: Vec<(i32, String)>,
    /// Processes whose fds could not be read (not ours, without privilege).
    pub(crate) hidden: Vec<i32>,
}

impl ProcessTable {
    pub(crate) fn scan() -> ProcessTable {
        let mut table = ProcessTable::default();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return table;
        };
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<i32>().ok())
            else {
                continue;
            };
            table.add(pid);
        }
        table
    }

    fn add(&mut self, pid: i32) {
        let base = format!("/proc/{pid}");
        let Ok(status) = std::fs::read_to_string(format!("{base}/status")) else {
            return; // gone meanwhile
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_owned())
        };
        let command = std::fs::read_to_string(format!("{base}/comm"))
            .map(|c| c.trim_end().to_owned())
            .or_else(|_| field("Name:").ok_or(()))
            .unwrap_or_default();
        if let Some(uid) = field("Uid:").and_then(|u| u.split_whitespace().next()?.parse().ok()) {
            self.uids.insert(pid, uid);
        }
        self.commands.insert(pid, command);
        match std::fs::read_dir(format!("{base}/fd")) {
            Ok(fds) => {
                for fd in fds.flatten() {
                    let Some(n) = fd.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
                    else {
                        continue;
                    };
                    let Ok(link) = std::fs::read_link(fd.path()) else {
                        continue;
                    };
                    if let Some(target) = classify(link) {
                        let access = fd_access(pid, n).unwrap_or(Access::Rw);
                        self.fds.push(Fd {
                            pid,
                            fd: n,
                            target,
                            access,
                        });
                    }
                }
            }
            Err(_) => self.hidden.push(pid),
        }
        if let Ok(maps) = std::fs::read_to_string(format!("{base}/maps")) {
            let mut seen = Vec::new();
            for line in maps.lines() {
                // address perms offset dev inode path
                let Some(path) = line.splitn(6, char::is_whitespace).nth(5) else {
                    continue;
                };
                let path = path.trim_start();
                if (path.starts_with("/dev/shm/") || path.starts_with("/SYSV"))
                    && !seen.contains(&path)
                {
                    seen.push(path);
                    self.maps.push((pid, path.to_owned()));
                }
            }
        }
    }

    pub(crate) fn command(&self, pid: i32) -> String {
        self.commands.get(&pid).cloned().unwrap_or_default()
    }

    /// The processes holding fds on `target`.
    pub(crate) fn holders(&self, target: &FdTarget) -> Vec<Holder> {
        self.fds
            .iter()
            .filter(|f| &f.target == target)
            .map(|f| Holder {
                pid: f.pid,
                command: self.command(f.pid),
                fd: Some(f.fd),
                access: f.access,
            })
            .collect()
    }

    /// The processes mapping `path` (as `/proc/PID/maps` shows it).
    pub(crate) fn mappers(&self, path: &str) -> Vec<Holder> {
        self.maps
            .iter()
            .filter(|(_, p)| p == path)
            .map(|(pid, _)| Holder {
                pid: *pid,
                command: self.command(*pid),
                fd: None,
                access: Access::Map,
            })
            .collect()
    }
}

fn classify(link: PathBuf) -> Option<FdTarget> {
    let text = link.to_str()?;
    let inode = |prefix: &str| {
        text.strip_prefix(prefix)?
            .strip_suffix(']')?
            .parse::<u64>()
            .ok()
    };
    if let Some(ino) = inode("pipe:[") {
        return Some(FdTarget::Pipe(ino));
    }
    if let Some(ino) = inode("socket:[") {
        return Some(FdTarget::Socket(ino));
    }
    // Files of interest: FIFOs anywhere, /dev/shm, POSIX queues (whose
    // links read `/NAME` when no mqueue file system is mounted).
    if text.starts_with('/') {
        return Some(FdTarget::Path(link));
    }
    None
}

/// The access mode from `/proc/PID/fdinfo/FD`'s octal `flags:`.
fn fd_access(pid: i32, fd: i32) -> Option<Access> {
    let info = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    let flags = info.lines().find_map(|l| l.strip_prefix("flags:"))?.trim();
    let flags = u32::from_str_radix(flags, 8).ok()?;
    Some(match flags & 0o3 {
        0 => Access::R,
        1 => Access::W,
        _ => Access::Rw,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_sees_its_own_pipe_ends() {
        let (r, w) = rustix::pipe::pipe().unwrap();
        let table = ProcessTable::scan();
        let me = std::process::id() as i32;
        let ends: Vec<&Fd> = table
            .fds
            .iter()
            .filter(|f| f.pid == me && matches!(f.target, FdTarget::Pipe(_)))
            .filter(|f| {
                use std::os::fd::AsRawFd;
                f.fd == r.as_raw_fd() || f.fd == w.as_raw_fd()
            })
            .collect();
        assert_eq!(ends.len(), 2);
        assert_eq!(ends[0].target, ends[1].target, "one pipe, one inode");
        let mut modes: Vec<Access> = ends.iter().map(|f| f.access).collect();
        modes.sort_by_key(|a| *a as u8);
        assert_eq!(modes, [Access::R, Access::W]);
        assert!(!table.command(me).is_empty());
    }
}
