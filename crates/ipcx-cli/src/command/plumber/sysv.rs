//! One look at a System V message queue (`sysvmq:0xKEY`): its bytes
//! queued against `msg_qbytes` (a `msgsnd` that does not fit waits), from
//! `IPC_STAT` (read permission on the queue; it takes no message).
//!
//! A System V queue has no fds, so its ends are found by what they do:
//! every thread in `msgsnd` or `msgrcv` on this queue's id
//! (`/proc/PID/task/TID/syscall`, whose first argument is the id) is a
//! writer or a reader, blocked when it sleeps in `do_msgsnd` /
//! `do_msgrcv`; and the last sender and receiver the kernel remembers
//! (`msg_lspid`, `msg_lrpid`) are listed too, with their process state.

use anyhow::{Context, Result};

use super::look::{End, Look};
use super::state::State;
use crate::inventory::procs::ProcessTable;

pub(crate) fn look(key: i32, table: &ProcessTable) -> Result<Look> {
    let q = ipcx::inspect::sysv_queue(key).with_context(|| {
        format!("sysvmq:{key:#x}: cannot look at the queue (missing, or no read permission on it)")
    })?;
    let me = std::process::id() as i32;
    let (mut writers, mut readers) = (Vec::new(), Vec::new());
    let mut pids: Vec<i32> = table
        .commands
        .keys()
        .copied()
        .filter(|p| *p != me)
        .collect();
    pids.sort_unstable();
    let mut unreadable = false;
    for pid in pids {
        match in_call(pid, q.id) {
            Some((true, blocked)) => writers.push(end(table, pid, blocked, State::BlockedFull)),
            Some((false, blocked)) => readers.push(end(table, pid, blocked, State::BlockedEmpty)),
            None if std::fs::read_dir(format!("/proc/{pid}/task")).is_err() => unreadable = true,
            None => {}
        }
    }
    for (pid, list) in [
        (q.last_sender, &mut writers),
        (q.last_receiver, &mut readers),
    ] {
        let Some(pid) = pid.map(|p| p as i32) else {
            continue;
        };
        if table.commands.contains_key(&pid) && !list.iter().any(|e: &End| e.pid == pid) {
            let mut last = end(table, pid, false, State::Sleeping);
            last.note = Some("the last to use it (msg_lspid/msg_lrpid); not in a call now".into());
            list.push(last);
        }
    }
    Ok(Look {
        target: format!("sysvmq:{key:#x}"),
        kind: "sysvmq",
        capacity: Some(q.limit),
        queued: Some(q.bytes),
        unit: "bytes",
        writers,
        readers,
        note: unreadable.then(|| {
            "some processes' system calls cannot be read here: their sends and receives are not shown"
                .into()
        }),
        payload: None,
        messages: Some(q.messages),
        through: None,
    })
}

fn end(table: &ProcessTable, pid: i32, blocked: bool, when_blocked: State) -> End {
    let state = if blocked {
        when_blocked
    } else {
        super::state::of(pid, &[]).0
    };
    End {
        pid,
        command: table.command(pid),
        fds: Vec::new(),
        state,
        note: None,
    }
}

/// Whether a thread of `pid` is in `msgsnd` (true) or `msgrcv` (false) on
/// queue `id`, and whether it sleeps there (blocked).
fn in_call(pid: i32, id: i32) -> Option<(bool, bool)> {
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let Ok(syscall) = std::fs::read_to_string(task.path().join("syscall")) else {
            continue;
        };
        let mut fields = syscall.split_whitespace();
        let Some(nr) = fields.next().and_then(|n| n.parse::<i64>().ok()) else {
            continue;
        };
        let arg = fields
            .next()
            .and_then(|a| i64::from_str_radix(a.trim_start_matches("0x"), 16).ok());
        if arg != Some(i64::from(id)) || (nr != libc::SYS_msgsnd && nr != libc::SYS_msgrcv) {
            continue;
        }
        let wchan = std::fs::read_to_string(task.path().join("wchan")).unwrap_or_default();
        let sending = nr == libc::SYS_msgsnd;
        let asleep = wchan.trim() == if sending { "do_msgsnd" } else { "do_msgrcv" };
        return Some((sending, asleep));
    }
    None
}
