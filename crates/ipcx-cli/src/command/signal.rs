//! `ipcx signal send PID VALUE` and `ipcx signal wait`: signals that carry
//! an integer, with the sender's pid and uid on the receiving side.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use ipcx::signal::{self, SignalReceiver};

use crate::cli::{SignalArgs, SignalCommand};

pub(crate) fn run(args: SignalArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        SignalCommand::Send {
            pid,
            value,
            signal: name,
        } => {
            let sig = signal::parse(&name)?;
            signal::send(pid, sig, value)?;
            Ok(ExitCode::SUCCESS)
        }
        SignalCommand::Wait {
            signal: names,
            count,
            timeout,
        } => {
            let sigs = names
                .iter()
                .map(|n| signal::parse(n))
                .collect::<Result<Vec<_>, _>>()?;
            let rx = SignalReceiver::new(&sigs)?;
            let shown: Vec<String> = sigs.iter().map(|s| signal::name(*s)).collect();
            // Senders may signal from now on: say so where scripts can wait for it.
            eprintln!(
                "ipcx signal: pid {} waiting for {}",
                std::process::id(),
                shown.join(", ")
            );
            let mut out = std::io::stdout().lock();
            let mut seen = 0u64;
            while count.is_none_or(|n| seen < n) {
                let got = match timeout {
                    Some(t) => rx
                        .recv_timeout(t)?
                        .with_context(|| format!("no signal within {t:?}"))?,
                    None => rx.recv()?,
                };
                writeln!(
                    out,
                    "{} value={} pid={} uid={}",
                    signal::name(got.signal),
                    got.value,
                    got.pid,
                    got.uid
                )?;
                out.flush()?;
                seen += 1;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
