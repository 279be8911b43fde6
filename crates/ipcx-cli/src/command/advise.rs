//! `ipcx advise`: a mechanism and endpoint for what the user needs, with
//! the reason in plain words, backed by figures measured on this machine.
//!
//! The rules are the seed material's audit rules: other machines → the
//! network; several receivers of every message, large payloads or high
//! rates → a shared-memory ring; priorities or messages that outlive their
//! processes → a kernel queue; related processes → a pipe; otherwise
//! co-located services → a Unix socket, never loopback TCP. The
//! measurements then say how far each choice is from the alternatives.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Args;

use crate::command::bench::mechanism::Mechanism;
use crate::command::bench::report::size_name;
use crate::command::bench::results::Results;
use crate::command::bench::{measure, Plan};

#[derive(Debug, Args)]
pub(crate) struct AdviseArgs {
    /// Typical payload size (e.g. 200, 64KiB, 8MiB).
    #[arg(long, default_value = "1KiB")]
    pub(crate) size: String,
    /// Messages per second needed.
    #[arg(long, default_value_t = 1000.0)]
    pub(crate) rate: f64,
    /// How many processes receive each message.
    #[arg(long, default_value_t = 1)]
    pub(crate) receivers: u32,
    /// The processes run on different machines.
    #[arg(long)]
    pub(crate) remote: bool,
    /// Messages need priorities.
    #[arg(long)]
    pub(crate) priorities: bool,
    /// Messages must outlive the processes (a queue kept by the kernel).
    #[arg(long)]
    pub(crate) persistent: bool,
    /// The processes are parent and child (they can share an anonymous pipe).
    #[arg(long)]
    pub(crate) related: bool,
    /// Figures from a saved `ipcx bench --json` (otherwise a quick run measures them).
    #[arg(long, value_name = "FILE.json")]
    pub(crate) from: Option<std::path::PathBuf>,
}

/// The last-level cache size, from sysfs (bytes).
fn llc_bytes() -> Option<usize> {
    (0..8).rev().find_map(|i| {
        let text =
            std::fs::read_to_string(format!("/sys/devices/system/cpu/cpu0/cache/index{i}/size"))
                .ok()?;
        ipcx::endpoint::parse_size(text.trim()).map(|n| n as usize)
    })
}

struct Choice {
    mechanism: Mechanism,
    endpoint: String,
    why: String,
    /// Which kind of rule chose it.
    by: Rule,
}

/// What a rule of thumb went by, which says what measurements may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// A requirement (remote, broadcast, priorities, persistence): the
    /// measurements can warn, not overrule it.
    Required,
    /// Payload size against the cache: a ring, whatever the rate.
    Size,
    /// The rate, or nothing in particular: the measurements decide.
    Rate,
}

fn choose(a: &AdviseArgs, size: usize) -> Choice {
    let llc = llc_bytes().unwrap_or(32 << 20);
    let pick = |m: Mechanism, endpoint: String, why: String| Choice {
        mechanism: m,
        endpoint,
        why,
        by: Rule::Rate,
    };
    let require = |c: Choice| Choice {
        by: Rule::Required,
        ..c
    };
    if a.remote {
        return require(pick(
            Mechanism::Tcp,
            "tcp:HOST:PORT".into(),
            "the processes are on different machines: only the network reaches them \
             (a message broker bridge is planned)"
                .into(),
        ));
    }
    if a.receivers > 1 {
        return require(pick(
            Mechanism::Shm,
            format!(
                "shm:/name?readers={}&capacity={}",
                a.receivers,
                ring_for(size)
            ),
            format!(
                "{} receivers each need every message: a shared-memory ring broadcasts \
                 one copy to all of them",
                a.receivers
            ),
        ));
    }
    if a.persistent || a.priorities {
        let need = if a.priorities {
            "priorities"
        } else {
            "messages that outlive the processes"
        };
        return require(pick(
            Mechanism::Mq,
            format!("mq:/name{}", if a.persistent { "?persist=true" } else { "" }),
            format!("you need {need}: a POSIX message queue keeps them in the kernel and orders by priority"),
        ));
    }
    if size > llc / 2 || size >= 1 << 20 {
        let by_size = |c: Choice| Choice {
            by: Rule::Size,
            ..c
        };
        let cache = if size > llc / 2 {
            format!(" (over half the {} last-level cache)", size_name(llc))
        } else {
            String::new()
        };
        return by_size(pick(
            Mechanism::Shm,
            format!("shm:/name?capacity={}", ring_for(size)),
            format!(
                "{} payloads{cache}: copying each through the kernel twice costs more \
                 than a ring the receiver reads in place",
                size_name(size)
            ),
        ));
    }
    if a.rate > 200_000.0 {
        return pick(
            Mechanism::Shm,
            format!("shm:/name?capacity={}", ring_for(size)),
            format!(
                "{:.0} messages/s: a system call per message would take most of a core; \
                 a shared-memory ring makes none while both sides are busy",
                a.rate
            ),
        );
    }
    if a.related {
        return pick(
            Mechanism::Pipe,
            "ipcx::pipe::to_child / pipe:N".into(),
            "parent and child: an anonymous pipe needs no name and no cleanup".into(),
        );
    }
    pick(
        Mechanism::Unix,
        "unix:/run/app/name.sock".into(),
        "co-located services: a Unix socket (peer credentials, file permissions), \
         not loopback TCP, which pays for a network stack it does not need"
            .into(),
    )
}

fn ring_for(size: usize) -> String {
    ipcx::endpoint::format_size((size as u64 * 8).max(1 << 20).next_power_of_two())
}

pub(crate) fn run(a: AdviseArgs) -> Result<ExitCode> {
    let size = ipcx::endpoint::parse_size(&a.size)
        .map(|n| n as usize)
        .with_context(|| format!("`{}` is not a size", a.size))?;
    let rule = choose(&a, size);
    let results = match &a.from {
        Some(path) => serde_json::from_str::<Results>(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{} is not an `ipcx bench --json` file", path.display()))?,
        None => {
            let compare = [
                Mechanism::Unix,
                Mechanism::SeqPacket,
                Mechanism::Tcp,
                Mechanism::Pipe,
                Mechanism::Mq,
                Mechanism::Shm,
            ];
            let mut mechanisms: Vec<_> = compare.to_vec();
            if !mechanisms.contains(&rule.mechanism) {
                mechanisms.push(rule.mechanism);
            }
            eprintln!("measuring (a quick run; --from FILE.json uses a saved one)…");
            measure(
                &Plan {
                    mechanisms,
                    sizes: vec![size.clamp(64, 64 << 10)],
                    quick: true,
                    scale: 0.5,
                    count: None,
                    duration: None,
                    senders: Vec::new(),
                    readers: Vec::new(),
                    pairs: true,
                },
                false,
            )?
        }
    };
    let choice = refine(&a, rule, &results, size);
    println!("use {}: {}", choice.mechanism.name(), choice.endpoint);
    println!("because {}.", choice.why);
    if let Some(warning) = beyond_this_machine(&a, &results, &choice, size) {
        println!("warning: {warning}");
    }
    explain(&results, &choice, size);
    Ok(ExitCode::SUCCESS)
}

/// Whether the bytes per second asked for pass what this machine can
/// move: one core's memcpy (every mechanism that copies a message copies
/// it at least once), or what the chosen mechanism moved at the nearest
/// measured size. Says what would be needed.
fn beyond_this_machine(
    a: &AdviseArgs,
    r: &Results,
    choice: &Choice,
    size: usize,
) -> Option<String> {
    let asked = size as f64 * a.rate;
    let memcpy = r.machine.memcpy_gbps * 1e9;
    let gb = |bps: f64| format!("{:.1} GB/s", bps / 1e9);
    if memcpy > 0.0 && asked > memcpy {
        return Some(format!(
            "{} messages/s of {} is {}, and one copy on this machine moves {} (memcpy, one \
             core): nothing that copies each message can carry it (at most {} messages/s of \
             this size). Write in place instead (shm: loans, Sender::send_with, and send \
             only what changed), send smaller messages, or fewer",
            short_rate(a.rate),
            size_name(size),
            gb(asked),
            gb(memcpy),
            short_rate(memcpy / size as f64)
        ));
    }
    let sizes = r.latency_sizes();
    let at = *sizes.iter().min_by_key(|s| s.abs_diff(size))?;
    let moved = r
        .throughput_of(choice.mechanism.name(), "ipcx", at)?
        .messages_per_s
        * at as f64;
    (asked > moved).then(|| {
        format!(
            "you ask for {} ({} messages/s of {}); {} moved {} here at {}, the nearest size \
             measured: measure at your size (ipcx bench --mechanisms {} --sizes {}) before \
             relying on it",
            gb(asked),
            short_rate(a.rate),
            size_name(size),
            choice.mechanism.name(),
            gb(moved),
            size_name(at),
            choice.mechanism.name(),
            ipcx::endpoint::format_size(size as u64)
        )
    })
}

/// How much more than the rate asked for a mechanism must have carried
/// here to be recommended for it: a measured best case is not a budget.
const HEADROOM: f64 = 2.0;

/// Lets the figures measured on this machine overrule a rule of thumb: a
/// mechanism that did not carry the rate asked for (with [`HEADROOM`]) at
/// the nearest measured size gives way to the one with the lowest latency
/// among those that did; a plainer kernel transport that does replaces a
/// ring chosen for rate alone. A required choice (remote, broadcast,
/// priorities, persistence) is kept, with a warning when it falls short.
fn refine(a: &AdviseArgs, rule: Choice, r: &Results, size: usize) -> Choice {
    let sizes = r.latency_sizes();
    let Some(&at) = sizes.iter().min_by_key(|s| s.abs_diff(size)) else {
        return rule;
    };
    let carries = |m: Mechanism| {
        r.throughput_of(m.name(), "ipcx", at)
            .map(|t| t.messages_per_s)
    };
    let enough = |m: Mechanism| carries(m).is_some_and(|c| c >= a.rate * HEADROOM);
    let measured = |m: Mechanism| match carries(m) {
        Some(c) => format!(
            "{} carried {} messages/s of {} here",
            m.name(),
            short_rate(c),
            size_name(at)
        ),
        None => format!("{} was not measured at {}", m.name(), size_name(at)),
    };
    if rule.by == Rule::Required {
        if carries(rule.mechanism).is_some_and(|c| c < a.rate * HEADROOM) {
            let why = format!(
                "{}; but {}, not twice the {} you need: batch several messages per send",
                rule.why,
                measured(rule.mechanism),
                short_rate(a.rate)
            );
            return Choice { why, ..rule };
        }
        return rule;
    }
    if rule.by == Rule::Size || (enough(rule.mechanism) && rule.mechanism != Mechanism::Shm) {
        return rule;
    }
    // Rate decides: the plainest mechanism that carries it, else the fastest.
    let mut open = vec![Mechanism::Unix, Mechanism::SeqPacket, Mechanism::Shm];
    if a.related {
        open.insert(0, Mechanism::Pipe);
    }
    let fits: Vec<Mechanism> = open.iter().copied().filter(|&m| enough(m)).collect();
    let best = if let Some(&kernel) = fits.iter().find(|&&m| m != Mechanism::Shm) {
        kernel
    } else if fits.contains(&Mechanism::Shm) {
        Mechanism::Shm
    } else {
        match open
            .iter()
            .copied()
            .filter(|&m| carries(m).is_some())
            .max_by(|&x, &y| {
                carries(x)
                    .unwrap_or(0.0)
                    .total_cmp(&carries(y).unwrap_or(0.0))
            }) {
            Some(m) => m,
            None => return rule,
        }
    };
    if best == rule.mechanism {
        if enough(best) {
            return rule;
        }
        let why = format!(
            "{}; but {}, not twice the {} messages/s you need, and nothing measured \
             here does better: batch several messages per send",
            rule.why,
            measured(best),
            short_rate(a.rate)
        );
        return Choice { why, ..rule };
    }
    let endpoint = match best {
        Mechanism::Shm => format!("shm:/name?capacity={}", ring_for(size)),
        Mechanism::SeqPacket => "unix+seqpacket:/run/app/name.sock".into(),
        Mechanism::Pipe => "ipcx::pipe::to_child / pipe:N".into(),
        _ => "unix:/run/app/name.sock".into(),
    };
    let why = format!(
        "{} (the rule of thumb said {}: {}); {}",
        if enough(best) {
            format!(
                "it carries twice the {} messages/s you need",
                short_rate(a.rate)
            )
        } else {
            format!(
                "nothing measured here carries twice the {} messages/s you need, and it comes closest",
                short_rate(a.rate)
            )
        },
        rule.mechanism.name(),
        rule.why,
        measured(best)
    );
    Choice {
        mechanism: best,
        endpoint,
        why,
        by: Rule::Rate,
    }
}

/// 1.36 M, 950 k, 12
fn short_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.0} k", r / 1e3)
    } else {
        format!("{r:.0}")
    }
}

/// The figures behind the choice: the chosen mechanism next to the others
/// measured at the nearest size.
fn explain(r: &Results, choice: &Choice, size: usize) {
    // Sizes the chosen mechanism was measured at (a signal's 4 bytes alone
    // would show nothing else), or any when it was not measured.
    let chosen: Vec<usize> = r
        .latency
        .iter()
        .filter(|p| p.mechanism == choice.mechanism.name())
        .map(|p| p.size)
        .collect();
    let sizes = if chosen.is_empty() {
        r.latency_sizes()
    } else {
        chosen
    };
    let Some(&at) = sizes.iter().min_by_key(|s| s.abs_diff(size)) else {
        return;
    };
    println!(
        "\nmeasured on this machine at {} (one-way p50, throughput):",
        size_name(at)
    );
    let mut rows: Vec<_> = r
        .latency
        .iter()
        .filter(|p| p.size == at && p.implementation == "ipcx")
        .collect();
    rows.sort_by(|a, b| a.one_way.p50.total_cmp(&b.one_way.p50));
    for p in rows {
        let tput = r
            .throughput_of(&p.mechanism, "ipcx", at)
            .map_or(String::new(), |t| {
                format!("{:.0} messages/s", t.messages_per_s)
            });
        let mark = if p.mechanism == choice.mechanism.name() {
            "→"
        } else {
            " "
        };
        println!(
            "  {mark} {:<15} {:>9.1} µs   {tput}",
            p.mechanism,
            p.one_way.p50 / 1e3
        );
    }
}
