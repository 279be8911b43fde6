//! What a writer or reader of the pipe is doing, from `/proc`:
//!
//! - **blocked-full** / **blocked-empty**: one of its threads is in a
//!   `write`/`writev`/`pwrite64` (or `read`/`readv`/`pread64`; on a queue
//!   `mq_timedsend`/`mq_timedreceive`, asleep in `wq_sleep`) on an fd of
//!   this pipe — `/proc/PID/task/TID/syscall` gives the call and its first
//!   argument, the fd — and sleeps in the pipe (`wchan` is `pipe_write` or
//!   `pipe_read`; `anon_pipe_write`/`anon_pipe_read` for anonymous pipes on
//!   newer kernels): the kernel is holding it because the buffer is full
//!   (or empty). Both files need ptrace rights over the process (same user,
//!   or root); without them the state below is all that can be known, and
//!   the end says so in its `note`.
//! - **running** / **sleeping**: the process's state in `/proc/PID/stat`
//!   (R; anything else, such as a `sleep` between reads).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum State {
    Running,
    Sleeping,
    BlockedFull,
    BlockedEmpty,
}

impl State {
    pub(crate) fn name(self) -> &'static str {
        match self {
            State::Running => "running",
            State::Sleeping => "sleeping",
            State::BlockedFull => "blocked-full",
            State::BlockedEmpty => "blocked-empty",
        }
    }
}

/// The system calls that block on a full buffer (writes) or an empty one
/// (reads): a pipe's, or a socket's.
const WRITES: [i64; 5] = [
    libc::SYS_write,
    libc::SYS_writev,
    libc::SYS_pwrite64,
    libc::SYS_sendto,
    libc::SYS_sendmsg,
];
const READS: [i64; 5] = [
    libc::SYS_read,
    libc::SYS_readv,
    libc::SYS_pread64,
    libc::SYS_recvfrom,
    libc::SYS_recvmsg,
];

/// Where a thread sleeps when a Unix socket's writer waits for room
/// (stream: its send buffer charge; datagram: the peer's queue).
const SOCKET_FULL: [&str; 2] = ["sock_alloc_send_pskb", "unix_wait_for_peer"];
/// Where a reader of an empty Unix socket sleeps.
const SOCKET_EMPTY: [&str; 3] = [
    "unix_stream_data_wait",
    "unix_stream_read_generic",
    "__skb_wait_for_more_packets",
];

/// What `pid` is doing with the pipe it holds as `fds`; and, when the
/// blocked states cannot be told, why not.
pub(crate) fn of(pid: i32, fds: &[i32]) -> (State, Option<String>) {
    let mut unreadable = false;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            let base = task.path();
            let Ok(syscall) = std::fs::read_to_string(base.join("syscall")) else {
                unreadable = true;
                continue;
            };
            let wchan = std::fs::read_to_string(base.join("wchan")).unwrap_or_default();
            if let Some(state) = blocked(&syscall, wchan.trim(), fds) {
                return (state, None);
            }
        }
    }
    let state = match process_state(pid) {
        Some('R') => State::Running,
        _ => State::Sleeping,
    };
    let note = unreadable.then(|| {
        format!("no right to read pid {pid}'s system calls: blocked or not cannot be told")
    });
    (state, note)
}

/// `blocked-full`/`blocked-empty` from one thread's `syscall` line
/// ("NR ARG1 …", hex arguments; "running" or "-1 …" when not in a call)
/// and its `wchan`.
fn blocked(syscall: &str, wchan: &str, fds: &[i32]) -> Option<State> {
    let mut fields = syscall.split_whitespace();
    let nr: i64 = fields.next()?.parse().ok()?;
    let fd = i64::from_str_radix(fields.next()?.trim_start_matches("0x"), 16).ok()?;
    if !fds.iter().any(|&f| i64::from(f) == fd) {
        return None;
    }
    // `pipe_write`, or `anon_pipe_write` for anonymous pipes on newer
    // kernels; a queue's send and receive both wait in `wq_sleep`.
    let queue_wait = wchan == "wq_sleep";
    let full = wchan.ends_with("pipe_write") || SOCKET_FULL.contains(&wchan);
    let empty = wchan.ends_with("pipe_read") || SOCKET_EMPTY.contains(&wchan);
    if (full && WRITES.contains(&nr)) || (queue_wait && nr == libc::SYS_mq_timedsend) {
        Some(State::BlockedFull)
    } else if (empty && READS.contains(&nr)) || (queue_wait && nr == libc::SYS_mq_timedreceive) {
        Some(State::BlockedEmpty)
    } else {
        None
    }
}

/// The state letter of `/proc/PID/stat` (after the command's parentheses).
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_or_read_sleeping_in_the_pipe_on_its_fd_is_blocked() {
        let write = format!(
            "{} 0x1 0x5600 0x10000 0x0 0x0 0x0 0x7ffd 0x7f00",
            libc::SYS_write
        );
        assert_eq!(
            blocked(&write, "pipe_write", &[1]),
            Some(State::BlockedFull)
        );
        assert_eq!(
            blocked(&write, "anon_pipe_write", &[1]),
            Some(State::BlockedFull)
        );
        let read = format!(
            "{} 0x0 0x5600 0x10000 0x0 0x0 0x0 0x7ffd 0x7f00",
            libc::SYS_read
        );
        assert_eq!(
            blocked(&read, "pipe_read", &[0, 3]),
            Some(State::BlockedEmpty)
        );
        // Another fd, another wait, or not in a call: not blocked on this pipe.
        assert_eq!(blocked(&write, "pipe_write", &[4]), None);
        assert_eq!(blocked(&write, "do_select", &[1]), None);
        assert_eq!(blocked("running", "0", &[1]), None);
        let send = format!(
            "{} 0x3 0x7ffd 0x1 0x0 0x0 0x0 0x0 0x0",
            libc::SYS_mq_timedsend
        );
        assert_eq!(blocked(&send, "wq_sleep", &[3]), Some(State::BlockedFull));
        let receive = format!(
            "{} 0x3 0x7ffd 0x40 0x0 0x0 0x0 0x0 0x0",
            libc::SYS_mq_timedreceive
        );
        assert_eq!(
            blocked(&receive, "wq_sleep", &[3]),
            Some(State::BlockedEmpty)
        );
        assert_eq!(blocked("-1 0x7ffd 0x7f00", "0", &[1]), None);
        let sendto = format!(
            "{} 0x3 0x7f00 0x989680 0x0 0x0 0x0 0x0 0x0",
            libc::SYS_sendto
        );
        assert_eq!(
            blocked(&sendto, "sock_alloc_send_pskb", &[3]),
            Some(State::BlockedFull)
        );
        let recv = format!(
            "{} 0x4 0x7f00 0x1000 0x0 0x0 0x0 0x0 0x0",
            libc::SYS_recvfrom
        );
        assert_eq!(
            blocked(&recv, "unix_stream_data_wait", &[4]),
            Some(State::BlockedEmpty)
        );
    }
}
