//! System V message queues, shared memory and semaphore sets, from
//! `/proc/sysvipc/{msg,shm,sem}` (columns found by their header names),
//! with the processes that map each segment.

use std::collections::HashMap;

use super::procs::ProcessTable;
use super::{Kind, Object};

pub(crate) fn collect(procs: &ProcessTable, out: &mut Vec<Object>) {
    for (file, kind) in [
        ("/proc/sysvipc/msg", Kind::SysvMsg),
        ("/proc/sysvipc/shm", Kind::SysvShm),
        ("/proc/sysvipc/sem", Kind::SysvSem),
    ] {
        let Ok(text) = std::fs::read_to_string(file) else {
            let mut o = Object::new(kind, "(all)");
            o.restrict(format!("cannot read {file}"));
            out.push(o);
            continue;
        };
        for row in rows(&text) {
            if let Some(o) = object(kind, &row, procs) {
                out.push(o);
            }
        }
    }
}

/// Each line as column name → value.
pub(crate) fn rows(text: &str) -> Vec<HashMap<String, String>> {
    let mut lines = text.lines();
    let Some(header) = lines.next() else {
        return Vec::new();
    };
    let names: Vec<&str> = header.split_whitespace().collect();
    lines
        .map(|l| {
            names
                .iter()
                .zip(l.split_whitespace())
                .map(|(n, v)| ((*n).to_owned(), v.to_owned()))
                .collect()
        })
        .collect()
}

fn object(kind: Kind, row: &HashMap<String, String>, procs: &ProcessTable) -> Option<Object> {
    let num = |k: &str| row.get(k).and_then(|v| v.parse::<i64>().ok());
    let key = num("key")? as i32 as u32;
    let id_column = match kind {
        Kind::SysvMsg => "msqid",
        Kind::SysvShm => "shmid",
        _ => "semid",
    };
    let id = num(id_column)?;
    let mode = row
        .get("perms")
        .and_then(|p| u32::from_str_radix(p, 8).ok());
    let key_text = format!("0x{key:08x}");
    let mut o = Object::new(kind, format!("{key_text} id {id}")).owned_by(num("uid")? as u32, mode);
    o.key = Some(key_text);
    o.id = Some(id);
    let pid = |k: &str| num(k).map(|p| p as i32).filter(|p| *p != 0);
    match kind {
        Kind::SysvMsg => {
            o.queued_bytes = num("cbytes").map(|n| n as u64);
            o.messages = num("qnum").map(|n| n as u64);
            o.last_send_pid = pid("lspid");
            o.last_recv_pid = pid("lrpid");
        }
        Kind::SysvShm => {
            o.size = num("size").map(|n| n as u64);
            o.attached = num("nattch").map(|n| n as u64);
            o.creator_pid = pid("cpid");
            o.processes = procs.mappers(&format!("/SYSV{key:08x} (deleted)"));
        }
        _ => o.semaphores = num("nsems").map(|n| n as u64),
    }
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_found_by_name() {
        let text = "       key      msqid perms      cbytes       qnum lspid lrpid   uid   gid  cuid  cgid      stime      rtime      ctime\n\
                    -1661336738     458776   640           5          1   42     0     0     0     0     0          0          0 1795358268\n";
        let r = rows(text);
        let o = object(Kind::SysvMsg, &r[0], &ProcessTable::default()).unwrap();
        assert_eq!(o.key.as_deref(), Some("0x9cfa035e"));
        assert_eq!((o.id, o.mode.as_deref()), (Some(458776), Some("0640")));
        assert_eq!(
            (o.messages, o.queued_bytes, o.last_send_pid),
            (Some(1), Some(5), Some(42))
        );
    }
}
