//! Is a process still alive? A pid alone can be reused, so a process is
//! named by its pid and its start time (field 22 of `/proc/PID/stat`, in
//! clock ticks since boot): both must match.

use std::sync::OnceLock;

/// A process, as recorded in shared memory so other processes can tell
/// whether it still runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcessId {
    pub(crate) pid: u32,
    pub(crate) start: u64,
}

impl ProcessId {
    /// This process.
    pub(crate) fn me() -> ProcessId {
        static ME: OnceLock<(u32, u64)> = OnceLock::new();
        let pid = std::process::id();
        // After fork the cached value belongs to the parent: look again.
        let &(cached_pid, start) = ME.get_or_init(|| (pid, start_time(pid).unwrap_or(0)));
        if cached_pid == pid {
            ProcessId { pid, start }
        } else {
            ProcessId {
                pid,
                start: start_time(pid).unwrap_or(0),
            }
        }
    }

    /// True while that very process runs (a zombie counts as gone). When
    /// it cannot be told (this process is out of fds, say), it counts as
    /// alive: a live peer taken for dead would be dropped, a dead one
    /// taken for alive is only noticed at the next look.
    pub(crate) fn is_alive(self) -> bool {
        if self.pid == 0 {
            return false;
        }
        match std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            Ok(stat) => parse_stat(&stat)
                .is_some_and(|(state, start)| start == self.start && state != 'Z' && state != 'X'),
            Err(e) => e.kind() != std::io::ErrorKind::NotFound,
        }
    }
}

/// The start time of `pid`, if it runs.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat).map(|(_, start)| start)
}

/// (state, start time) from a `/proc/PID/stat` line. The command name is in
/// parentheses and may itself contain `)` and spaces: parse after the last `)`.
fn parse_stat(stat: &str) -> Option<(char, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4..=22 follow the state (field 3): the start time is the 19th of them.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Pids of the processes that map `path` (from `/proc/*/maps`; processes
/// this one may not inspect are skipped).
pub(crate) fn mappers_of(path: &str) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/maps"))
                .is_ok_and(|maps| maps.lines().any(|line| line.ends_with(path)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_changed_start_time_is_not() {
        let me = ProcessId::me();
        assert!(me.start > 0);
        assert!(me.is_alive());
        assert!(!ProcessId {
            start: me.start + 1,
            ..me
        }
        .is_alive());
        assert!(!ProcessId { pid: 0, start: 0 }.is_alive());
    }

    #[test]
    fn command_names_with_parentheses_parse() {
        let line = "42 (a) b (c)) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 777 19 20";
        assert_eq!(parse_stat(line), Some(('S', 777)));
    }
}
