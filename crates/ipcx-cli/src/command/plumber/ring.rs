//! One look at an ipcx shared-memory ring (`shm:/name`): no syscall per
//! message, so no `/proc` syscall tells who waits; the ring says so
//! itself. Its header names the producer and each attached reader (pid),
//! each reader's position gives its backlog, and a side about to sleep
//! announces it in the ring (the futex or doorbell waiter counts).
//!
//! `queued` is the slowest reader's backlog (what holds a `block` ring's
//! producer), `capacity` the ring's bytes. The producer is `blocked-full`
//! while it has announced it sleeps for room. Readers announce themselves
//! as a count, not by name: when that count is non-zero, the readers with
//! nothing to read are the ones asleep (`blocked-empty`); a reader never
//! sleeps with data waiting. Looking attaches nothing: the segment is
//! mapped read-only for the look (`ipcx::inspect`).

use anyhow::{Context, Result};

use super::look::{End, Look};
use super::state::State;
use crate::inventory::procs::ProcessTable;

pub(crate) fn look(name: &str, table: &ProcessTable) -> Result<Look> {
    let seg = ipcx::inspect::shm_segment(name)
        .with_context(|| format!("shm:{name}: cannot look at the ring"))?;
    let queued = seg.attached_readers.iter().map(|r| r.1).max().unwrap_or(0);
    let process = |pid: u32| super::state::of(pid as i32, &[]).0;
    let writers = seg
        .producer
        .map(|pid| {
            let state = if seg.producer_sleeping {
                State::BlockedFull
            } else {
                process(pid)
            };
            vec![end(table, pid, state)]
        })
        .unwrap_or_default();
    let readers = seg
        .attached_readers
        .iter()
        .map(|&(pid, backlog)| {
            let state = if seg.readers_sleeping > 0 && backlog == 0 {
                State::BlockedEmpty
            } else {
                process(pid)
            };
            end(table, pid, state)
        })
        .collect();
    Ok(Look {
        target: format!("shm:{name}"),
        kind: "shm",
        capacity: Some(seg.capacity),
        queued: Some(queued),
        unit: "bytes",
        writers,
        readers,
        note: None,
        payload: None,
        messages: None,
        through: None,
    })
}

fn end(table: &ProcessTable, pid: u32, state: State) -> End {
    End {
        pid: pid as i32,
        command: table.command(pid as i32),
        fds: Vec::new(),
        state,
        note: None,
    }
}
