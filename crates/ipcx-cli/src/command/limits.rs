//! `ipcx ls --limits`: the system limits that decide what each mechanism
//! can carry (as `lsipc -g` does for System V, and more).

use std::process::ExitCode;

use serde::Serialize;

#[derive(Debug, Serialize)]
struct Limit {
    name: &'static str,
    value: Option<String>,
    what: &'static str,
}

const LIMITS: [(&str, &str, &str); 20] = [
    (
        "pipe.max_size",
        "/proc/sys/fs/pipe-max-size",
        "largest pipe buffer an unprivileged F_SETPIPE_SZ may set (bytes)",
    ),
    (
        "pipe.user_pages_soft",
        "/proc/sys/fs/pipe-user-pages-soft",
        "pages of pipe buffers per user before new pipes get one page",
    ),
    (
        "mq.queues_max",
        "/proc/sys/fs/mqueue/queues_max",
        "POSIX queues in the system",
    ),
    (
        "mq.msg_max",
        "/proc/sys/fs/mqueue/msg_max",
        "most messages a POSIX queue may hold (mq_maxmsg)",
    ),
    (
        "mq.msgsize_max",
        "/proc/sys/fs/mqueue/msgsize_max",
        "largest POSIX queue message (bytes)",
    ),
    (
        "mq.msg_default",
        "/proc/sys/fs/mqueue/msg_default",
        "mq_maxmsg when none is given",
    ),
    (
        "mq.msgsize_default",
        "/proc/sys/fs/mqueue/msgsize_default",
        "mq_msgsize when none is given",
    ),
    (
        "sysv.msgmax",
        "/proc/sys/kernel/msgmax",
        "largest System V message (bytes)",
    ),
    (
        "sysv.msgmnb",
        "/proc/sys/kernel/msgmnb",
        "bytes a System V queue may hold",
    ),
    (
        "sysv.msgmni",
        "/proc/sys/kernel/msgmni",
        "System V queues in the system",
    ),
    (
        "sysv.shmmax",
        "/proc/sys/kernel/shmmax",
        "largest System V segment (bytes)",
    ),
    (
        "sysv.shmall",
        "/proc/sys/kernel/shmall",
        "pages of System V shared memory in all",
    ),
    (
        "sysv.shmmni",
        "/proc/sys/kernel/shmmni",
        "System V segments in the system",
    ),
    (
        "sysv.sem",
        "/proc/sys/kernel/sem",
        "semaphores per set, in all, ops per call, sets",
    ),
    (
        "unix.max_dgram_qlen",
        "/proc/sys/net/unix/max_dgram_qlen",
        "datagrams queued on a Unix datagram socket",
    ),
    (
        "net.somaxconn",
        "/proc/sys/net/core/somaxconn",
        "longest listen backlog",
    ),
    (
        "net.rmem_default",
        "/proc/sys/net/core/rmem_default",
        "default socket receive buffer (bytes)",
    ),
    (
        "net.rmem_max",
        "/proc/sys/net/core/rmem_max",
        "largest SO_RCVBUF without privilege (bytes)",
    ),
    (
        "net.wmem_default",
        "/proc/sys/net/core/wmem_default",
        "default socket send buffer (bytes)",
    ),
    (
        "net.wmem_max",
        "/proc/sys/net/core/wmem_max",
        "largest SO_SNDBUF without privilege (bytes)",
    ),
];

pub(crate) fn run(json: bool) -> anyhow::Result<ExitCode> {
    let limits: Vec<Limit> = LIMITS
        .iter()
        .map(|(name, file, what)| Limit {
            name,
            value: std::fs::read_to_string(file)
                .ok()
                .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" ")),
            what,
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&limits)?);
        return Ok(ExitCode::SUCCESS);
    }
    let width = limits.iter().map(|l| l.name.len()).max().unwrap_or(0);
    let vwidth = limits
        .iter()
        .map(|l| l.value.as_deref().unwrap_or("?").len())
        .max()
        .unwrap_or(0);
    println!("{:<width$}  {:<vwidth$}  WHAT", "LIMIT", "VALUE");
    for l in &limits {
        println!(
            "{:<width$}  {:<vwidth$}  {}",
            l.name,
            l.value.as_deref().unwrap_or("?"),
            l.what
        );
    }
    Ok(ExitCode::SUCCESS)
}
