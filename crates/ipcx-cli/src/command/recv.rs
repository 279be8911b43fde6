//! `ipcx recv ENDPOINT [-n COUNT]`

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use ipcx::signal::{self, Shutdown};
use ipcx::{ByteReceiver, RecvTimeoutError};

use crate::cli::RecvArgs;

/// How often a waiting receiver looks whether a stop was requested.
const STOP_CHECK: Duration = Duration::from_millis(100);

pub(crate) fn run(args: RecvArgs) -> anyhow::Result<ExitCode> {
    // SIGTERM, SIGINT, SIGHUP: stop taking messages, print what is already
    // queued, exit 0. A second one kills at once.
    let stop = Shutdown::install()?;
    let ep = super::endpoint_with(&args.endpoint, None, args.msg_type)?;
    let rx = ByteReceiver::open(&ep)
        .with_context(|| format!("cannot open {} for receiving", args.endpoint))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut received = 0u64;
    let mut failures = 0u64;
    let mut stopping = false;
    let mut last = Instant::now();
    while args.count.is_none_or(|n| received < n) {
        if stop.requested() && !stopping {
            rx.shutdown();
            stopping = true;
            let name = stop
                .signal()
                .map_or_else(|| "a stop signal".into(), signal::name);
            eprintln!("ipcx recv: {name}: no longer taking messages; printing what is queued");
        }
        let wait = match args.timeout {
            Some(t) => STOP_CHECK.min(t.saturating_sub(last.elapsed())),
            None => STOP_CHECK,
        };
        match rx.recv_bytes_with(Some(wait), |msg| print(&mut out, msg, args.hex)) {
            Ok(written) => {
                written.context("cannot write to stdout")?;
                received += 1;
                last = Instant::now();
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                if let Some(t) = args.timeout.filter(|t| last.elapsed() >= *t) {
                    anyhow::bail!(
                        "{}: no message for {t:?} ({received} received)",
                        rx.endpoint()
                    );
                }
            }
            Err(RecvTimeoutError::Failed(err)) => {
                // One bad message or sender; the others go on.
                eprintln!("ipcx recv: {err}");
                failures += 1;
            }
        }
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
