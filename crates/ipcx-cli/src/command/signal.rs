//! `ipcx signal send PID VALUE` and `ipcx signal wait`: signals that carry
//! an integer, with the sender's pid and uid on the receiving side.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use ipcx::signal::{self, SignalReceiver};

use crate::duration::parse_duration;

#[derive(Debug, Args)]
pub(crate) struct SignalArgs {
    #[command(subcommand)]
    pub(crate) command: SignalCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SignalCommand {
    /// Queue a signal carrying VALUE to process PID.
    Send {
        /// The receiving process.
        pid: i32,
        /// The integer the signal carries.
        #[arg(allow_negative_numbers = true)]
        value: i32,
        /// Which signal: RTMIN+N (queued, ordered), USR1, TERM, or a number.
        #[arg(long, short = 's', default_value = "RTMIN+1")]
        signal: String,
    },
    /// Wait for signals and print each as `SIGNAME value=N pid=P uid=U`.
    ///
    /// SIGKILL and SIGSTOP cannot be waited for: they cannot be caught.
    Wait {
        /// Which signals (repeatable).
        #[arg(long, short = 's', default_value = "RTMIN+1")]
        signal: Vec<String>,
        /// Exit after this many signals.
        #[arg(short = 'n', long = "count", value_name = "COUNT")]
        count: Option<u64>,
        /// Give up (exit status 1) when no signal arrives for this long.
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        timeout: Option<Duration>,
    },
}

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
