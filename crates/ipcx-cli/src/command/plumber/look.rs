//! One look at a pipe or FIFO: its fill level and its ends.
//!
//! Who holds it comes from every process's fds (`inventory::procs`), each
//! end's direction from `fdinfo`'s flags. A pipe's bytes queued and
//! capacity come through a copy of a holder's fd (`pidfd_getfd`, then
//! `FIONREAD` and `F_GETPIPE_SZ`, as `ipcx ls` does): the pipe is never
//! opened, so no reader or writer is added to it, and nothing is read. A
//! queue's messages and limit come from `mq_getattr` on a read-only
//! descriptor of our own, which takes nothing.

use std::os::unix::fs::MetadataExt;

use anyhow::{bail, Result};
use serde::Serialize;

use super::state::{self, State};
use super::target::Target;
use crate::inventory::mqueue::{describe_by_name, is_mqueue_fd};
use crate::inventory::pipes::measure;
use crate::inventory::procs::{Access, FdTarget, ProcessTable};

#[derive(Debug, Serialize)]
pub(crate) struct Look {
    pub(crate) target: String,
    pub(crate) kind: &'static str,
    /// Bytes the kernel buffer holds at most; `None` when it cannot be read.
    pub(crate) capacity: Option<u64>,
    /// Bytes waiting in it.
    pub(crate) queued: Option<u64>,
    pub(crate) unit: &'static str,
    pub(crate) writers: Vec<End>,
    pub(crate) readers: Vec<End>,
    /// What could not be known, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
    /// A Unix socket's payload bytes waiting to be read (`queued` is what
    /// the kernel counts against the writer's `SO_SNDBUF`: the payload and
    /// each buffer's overhead).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) payload: Option<u64>,
    /// A System V queue's messages (its `queued` and `capacity` are bytes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) messages: Option<u64>,
    /// The holder's fd the level was read through (for a resize).
    #[serde(skip)]
    pub(crate) through: Option<(i32, i32)>,
}

/// A process on one side of the pipe.
#[derive(Debug, Serialize)]
pub(crate) struct End {
    pub(crate) pid: i32,
    pub(crate) command: String,
    /// Its fds on the pipe.
    pub(crate) fds: Vec<i32>,
    pub(crate) state: State,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) note: Option<String>,
}

impl Look {
    pub(crate) fn take(target: &Target) -> Result<Look> {
        let table = ProcessTable::scan();
        match target {
            Target::Socket { inode } => return super::socket::look(*inode, &table),
            Target::SysvMq { key } => return super::sysv::look(*key, &table),
            Target::Shm { name } => return super::ring::look(name, &table),
            _ => {}
        }
        let me = std::process::id() as i32;
        // (pid, fd, access) of every fd on the target, ours left out.
        let held: Vec<(i32, i32, Access)> = table
            .fds
            .iter()
            .filter(|f| f.pid != me && is_on(target, &f.target, f.pid, f.fd))
            .map(|f| (f.pid, f.fd, f.access))
            .collect();
        if held.is_empty() && matches!(target, Target::Pipe { .. }) {
            bail!("{} is gone: no process holds it any more", target.name());
        }
        let through = match target {
            Target::Mq { .. } => None,
            _ => held.first().map(|&(pid, fd, _)| (pid, fd)),
        };
        let (capacity, queued, note) = match (target, held.first()) {
            // A queue is measured by name (mq_getattr on a descriptor of
            // our own, read-only: it takes no message), in messages; it
            // outlives its holders.
            (Target::Mq { name }, _) => {
                let q = describe_by_name(name);
                if q.curmsgs.is_none() {
                    bail!(
                        "{}: {}",
                        target.name(),
                        q.error.unwrap_or_else(|| "cannot be read".into())
                    );
                }
                (q.maxmsg, q.curmsgs, q.error)
            }
            (_, Some(&(pid, fd, _))) => match measure(pid, fd) {
                Ok((queued, capacity)) => (Some(capacity), Some(queued), None),
                Err(e) => (
                    None,
                    None,
                    Some(format!(
                        "the fill level cannot be read through pid {pid}'s fd {fd}: {e} \
                         (it needs ptrace rights over a holder: same user, or root)"
                    )),
                ),
            },
            // A FIFO nobody has open holds nothing (its bytes go with its last fd).
            (_, None) => (None, Some(0), Some("nobody has the FIFO open".into())),
        };
        let side = |wanted: fn(Access) -> bool| {
            let on: Vec<(i32, i32)> = held
                .iter()
                .filter(|h| wanted(h.2))
                .map(|h| (h.0, h.1))
                .collect();
            ends_of(&table, &on)
        };
        Ok(Look {
            target: target.name(),
            kind: target.kind(),
            capacity,
            queued,
            unit: if matches!(target, Target::Mq { .. }) {
                "messages"
            } else {
                "bytes"
            },
            writers: side(|a| matches!(a, Access::W | Access::Rw)),
            readers: side(|a| matches!(a, Access::R | Access::Rw)),
            note,
            payload: None,
            messages: None,
            through,
        })
    }

    /// The look as text: a bar, the numbers, each end and what it does.
    pub(crate) fn render(&self) -> String {
        let mut out = format!("{} ({})\n", self.target, self.kind);
        match (self.queued, self.capacity) {
            (Some(queued), Some(capacity)) if capacity > 0 => {
                const WIDTH: u64 = 40;
                let filled = (queued * WIDTH).div_ceil(capacity).min(WIDTH) as usize;
                out += &format!(
                    "  [{}{}] {queued} of {capacity} {} ({:.0}%)\n",
                    "█".repeat(filled),
                    "·".repeat(WIDTH as usize - filled),
                    self.unit,
                    queued as f64 * 100.0 / capacity as f64
                );
            }
            (Some(queued), _) => out += &format!("  {queued} {} queued\n", self.unit),
            _ => out += "  fill level unknown\n",
        }
        for (side, ends) in [("writer", &self.writers), ("reader", &self.readers)] {
            if ends.is_empty() {
                out += &format!("  no {side}\n");
            }
            for end in ends {
                out += &format!(
                    "  {side} {:>7} {:<16} {}\n",
                    end.pid,
                    end.command,
                    self.say(end)
                );
                if let Some(note) = &end.note {
                    out += &format!("         ({note})\n");
                }
            }
        }
        if let Some(note) = &self.note {
            out += &format!("  ({note})\n");
        }
        out
    }

    /// What the buffer is, in words.
    pub(crate) fn what(&self) -> &'static str {
        match self.kind {
            "fifo" => "FIFO",
            "mq" => "queue",
            "unix" => "socket",
            "sysvmq" => "queue",
            "shm" => "ring",
            _ => "pipe",
        }
    }

    /// What an end's state means, in plain words.
    pub(crate) fn say(&self, end: &End) -> String {
        let level = match (self.queued, self.capacity) {
            (Some(q), Some(c)) => format!("{q} of {c} {}", self.unit),
            _ => "level unknown".into(),
        };
        let what = self.what();
        match end.state {
            State::BlockedFull => format!("blocked writing: the {what} is full ({level})"),
            State::BlockedEmpty => format!("blocked reading: the {what} is empty"),
            other => other.name().to_owned(),
        }
    }
}

/// The processes holding `held` (pid, fd), one [`End`] each, with its state.
pub(crate) fn ends_of(table: &ProcessTable, held: &[(i32, i32)]) -> Vec<End> {
    let mut pids: Vec<i32> = held.iter().map(|h| h.0).collect();
    pids.dedup();
    pids.into_iter()
        .map(|pid| {
            let fds: Vec<i32> = held.iter().filter(|h| h.0 == pid).map(|h| h.1).collect();
            let (state, note) = state::of(pid, &fds);
            End {
                pid,
                command: table.command(pid),
                fds,
                state,
                note,
            }
        })
        .collect()
}

/// Whether `fd` of `pid`, pointing at `at`, is on the target.
fn is_on(target: &Target, at: &FdTarget, pid: i32, fd: i32) -> bool {
    match (target, at) {
        (Target::Pipe { inode }, FdTarget::Pipe(ino)) => inode == ino,
        (Target::Fifo { dev, ino, .. }, FdTarget::Path(_)) => {
            std::fs::metadata(format!("/proc/{pid}/fd/{fd}"))
                .is_ok_and(|m| m.dev() == *dev && m.ino() == *ino)
        }
        (Target::Mq { name }, FdTarget::Path(p)) => {
            p.as_os_str() == name.as_str() && is_mqueue_fd(pid, fd)
        }
        _ => false,
    }
}
