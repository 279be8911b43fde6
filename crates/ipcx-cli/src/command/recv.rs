//! `ipcx recv ENDPOINT [-n COUNT] [--serve]`

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use ipcx::{signal, ByteReceiver, OpenOptions, RecvTimeoutError, Stop};

use crate::cli::RecvArgs;

pub(crate) fn run(args: RecvArgs) -> anyhow::Result<ExitCode> {
    // SIGTERM, SIGINT, SIGHUP: stop taking messages, print what is already
    // queued, exit 0. A second one kills at once.
    let stop = Stop::on_signals()?;
    let ep = super::endpoint_with(&args.endpoint, None, args.msg_type)?;
    let mut options = OpenOptions::new();
    options.stop(&stop);
    // With a count, a listening receiver takes new senders until it has
    // them all (`ipcx recv -n 3` and three `ipcx send` calls).
    if (args.serve || args.count.is_some()) && ep.scheme().options().contains(&"serve") {
        options.serve(true);
    }
    let rx = ByteReceiver::open_with(&ep, &options)
        .with_context(|| format!("cannot open {} for receiving", args.endpoint))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut received = 0u64;
    let mut failures = 0u64;
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
                eprintln!("ipcx recv: {err}");
                failures += 1;
            }
        }
    }
    if stop.is_stopped() {
        let name = stop
            .signal()
            .map_or_else(|| "a stop signal".into(), signal::name);
        eprintln!(
            "ipcx recv: {name}: stopped after printing what was queued ({received} received)"
        );
    }
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
