//! `ipcx recv ENDPOINT [-n COUNT] [--serve]`

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ipcx::{signal, ByteReceiver, OpenOptions, RecvTimeoutError, Stop};

use super::error_report::ErrorReport;
use super::plain::{self, RecvPlan};
use crate::command::relay::address::RelaySide;
use crate::duration::parse_duration;

#[derive(Debug, Args)]
pub(crate) struct RecvArgs {
    /// Where to receive, e.g. unix:/run/app.sock.
    pub(crate) endpoint: String,
    /// Exit after this many messages, taking new senders until then
    /// (otherwise exit when every sender so far is gone).
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    pub(crate) count: Option<u64>,
    /// Keep taking new senders until stopped (SIGTERM, SIGINT, SIGHUP),
    /// as the endpoint option serve=true.
    #[arg(long)]
    pub(crate) serve: bool,
    /// Give up (exit status 1) when no message arrives for this long.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) timeout: Option<Duration>,
    /// Print each message as hexadecimal instead of raw bytes.
    #[arg(long)]
    pub(crate) hex: bool,
    /// System V queue: take only type N (N > 0), or the lowest type ≤ |N| first (N < 0).
    #[arg(long = "type", value_name = "N", allow_negative_numbers = true)]
    pub(crate) msg_type: Option<i64>,
}

pub(crate) fn run(args: RecvArgs) -> anyhow::Result<ExitCode> {
    // SIGTERM, SIGINT, SIGHUP: stop taking messages, print what is already
    // queued, exit 0. A second one kills at once.
    let stop = Stop::on_signals()?;
    if let Some(addr) = super::plain_address(&args.endpoint)? {
        return run_plain(&addr, &args, &stop);
    }
    let ep = super::endpoint_with(&args.endpoint, None, args.msg_type)?;
    let mut options = OpenOptions::new();
    options.stop(&stop);
    // With a count, a listening receiver takes new senders until it has
    // them all (`ipcx recv -n 3` and three `ipcx send` calls).
    let can_serve = ep.scheme().options().contains(&"serve");
    if args.serve && !can_serve {
        anyhow::bail!(
            "{}: --serve takes senders that come and go, and a {} has one sender for its life \
             (use unix:, tcp: or a queue for that)",
            args.endpoint,
            match ep.scheme() {
                ipcx::Scheme::Shm => "shared-memory ring",
                _ => "pipe",
            }
        );
    }
    if (args.serve || args.count.is_some()) && can_serve {
        options.serve(true);
    }
    let rx = ByteReceiver::open_with(&ep, &options)
        .with_context(|| format!("cannot open {} for receiving", args.endpoint))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut received = 0u64;
    let mut failures = 0u64;
    let mut errors = ErrorReport::new("ipcx recv");
    while args.count.is_none_or(|n| received < n) {
        match rx.recv_bytes_with(args.timeout, |msg| print(&mut out, msg, args.hex)) {
            Ok(written) => {
                written.context("cannot write to stdout")?;
                received += 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let t = args.timeout.unwrap_or_default();
                anyhow::bail!(
                    "{}: no message for {t:?} ({received} received)",
                    rx.endpoint()
                );
            }
            Err(RecvTimeoutError::Failed(err)) => {
                // One bad message or sender; the others go on.
                errors.error(&err);
                failures += 1;
            }
        }
    }
    drop(errors);
    Ok(finish(&stop, received, failures))
}

/// A plain peer (`?frame=line|none`): `nc`, `socat`, `echo`.
fn run_plain(addr: &RelaySide, args: &RecvArgs, stop: &Stop) -> anyhow::Result<ExitCode> {
    let plan = RecvPlan {
        count: args.count,
        serve: args.serve,
        timeout: args.timeout,
        stop,
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let tally = plain::recv(addr, &plan, &mut |msg| {
        print(&mut out, msg, args.hex).context("cannot write to stdout")
    })?;
    Ok(finish(stop, tally.received, tally.lost))
}

/// Says why it stopped, if a signal made it; the exit status.
fn finish(stop: &Stop, received: u64, failures: u64) -> ExitCode {
    if stop.is_stopped() {
        let name = stop
            .signal()
            .map_or_else(|| "a stop signal".into(), signal::name);
        eprintln!(
            "ipcx recv: {name}: stopped after printing what was queued ({received} received)"
        );
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print(out: &mut impl Write, msg: &[u8], hex: bool) -> io::Result<()> {
    if hex {
        for b in msg {
            write!(out, "{b:02x}")?;
        }
    } else {
        out.write_all(msg)?;
    }
    out.write_all(b"\n")?;
    out.flush()
}
