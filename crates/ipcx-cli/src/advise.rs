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

use crate::bench::mechanism::Mechanism;
use crate::bench::report::size_name;
use crate::bench::results::Results;
use crate::bench::{measure, Plan};
use crate::cli::AdviseArgs;

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
}

fn choose(a: &AdviseArgs, size: usize) -> Choice {
    let llc = llc_bytes().unwrap_or(32 << 20);
    let pick = |m: Mechanism, endpoint: String, why: String| Choice {
        mechanism: m,
        endpoint,
        why,
    };
    if a.remote {
        return pick(
            Mechanism::Tcp,
            "tcp:HOST:PORT".into(),
            "the processes are on different machines: only the network reaches them \
             (a message broker bridge is planned)"
                .into(),
        );
    }
    if a.receivers > 1 {
        return pick(
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
        );
    }
    if a.persistent || a.priorities {
        let need = if a.priorities {
            "priorities"
        } else {
            "messages that outlive the processes"
        };
        return pick(
            Mechanism::Mq,
            format!("mq:/name{}", if a.persistent { "?persist=true" } else { "" }),
            format!("you need {need}: a POSIX message queue keeps them in the kernel and orders by priority"),
        );
    }
    if size > llc / 2 || size >= 1 << 20 {
        return pick(
            Mechanism::Shm,
            format!("shm:/name?capacity={}", ring_for(size)),
            format!(
                "{} payloads (the last-level cache is {}): copying through the kernel \
                 twice costs more than a ring the receiver reads in place",
                size_name(size),
                size_name(llc)
            ),
        );
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
    let choice = choose(&a, size);
    println!("use {}: {}", choice.mechanism.name(), choice.endpoint);
    println!("because {}.", choice.why);
    let results = match &a.from {
        Some(path) => serde_json::from_str::<Results>(
            &std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?,
        )
        .with_context(|| format!("{} is not an `ipcx bench --json` file", path.display()))?,
        None => {
            let compare = [
                Mechanism::Unix,
                Mechanism::Tcp,
                Mechanism::Pipe,
                Mechanism::Mq,
                Mechanism::Shm,
            ];
            let mut mechanisms: Vec<_> = compare.to_vec();
            if !mechanisms.contains(&choice.mechanism) {
                mechanisms.push(choice.mechanism);
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
                },
                false,
            )?
        }
    };
    explain(&results, &choice, size);
    Ok(ExitCode::SUCCESS)
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
