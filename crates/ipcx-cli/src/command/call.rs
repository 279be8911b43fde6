//! `ipcx call ENDPOINT [MESSAGE…] [--timeout D] [--wait D]`: one call per
//! MESSAGE (or per line of stdin), each reply printed on its own line.
//! Exit status 1 if any call got a remote error, 2 if any got no reply
//! (timeout, the server gone), with the error on stderr.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ipcx::rpc::{CallError, Client};
use ipcx::{Bytes, Stop};

use super::stdin_lines::StdinLines;
use crate::duration::parse_duration;

#[derive(Debug, Args)]
pub(crate) struct CallArgs {
    /// The server, e.g. unix:/run/app.sock (see `ipcx serve`).
    pub(crate) endpoint: String,
    /// Requests, one call each. Without any, each line of stdin is one call.
    pub(crate) messages: Vec<String>,
    /// Give up on a call after this long (e.g. 5s, 250ms).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) timeout: Option<Duration>,
    /// Wait up to this long for the server to appear.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) wait: Option<Duration>,
}

pub(crate) fn run(args: CallArgs) -> anyhow::Result<ExitCode> {
    let stop = Stop::on_signals()?;
    let client = match args.wait {
        Some(wait) => Client::<Bytes, Bytes>::connect_timeout(&args.endpoint, wait),
        None => Client::<Bytes, Bytes>::connect(&args.endpoint),
    }
    .with_context(|| format!("cannot call {}", args.endpoint))?;
    let mut worst = 0u8;
    let mut out = std::io::stdout().lock();
    let mut one = |request: &[u8]| -> anyhow::Result<()> {
        match client.call_bytes(request, args.timeout) {
            Ok(reply) => {
                out.write_all(&reply)?;
                if reply.last() != Some(&b'\n') {
                    out.write_all(b"\n")?;
                }
                out.flush()?;
            }
            Err(e) => {
                eprintln!("ipcx call: {}: {e}", args.endpoint);
                worst = worst.max(match e {
                    CallError::Remote(_) => 1,
                    _ => 2,
                });
            }
        }
        Ok(())
    };
    if args.messages.is_empty() {
        let mut lines = StdinLines::new(&stop);
        while let Some(line) = lines.next_line().context("cannot read stdin")? {
            one(line)?;
        }
    } else {
        for msg in &args.messages {
            if stop.is_stopped() {
                break;
            }
            one(msg.as_bytes())?;
        }
    }
    Ok(ExitCode::from(worst))
}
