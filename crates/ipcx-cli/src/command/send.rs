//! `ipcx send ENDPOINT [MESSAGE…]`

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use ipcx::{ByteSender, ErrorKind, OpenOptions, SendError, Stop};

use super::plain;
use super::stdin_lines::StdinLines;
use crate::command::relay::address::RelaySide;
use crate::duration::parse_duration;

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Where to send, e.g. unix:/run/app.sock.
    pub(crate) endpoint: String,
    /// Messages to send, one message each. Without any, each line of stdin is one message.
    pub(crate) messages: Vec<String>,
    /// Wait up to this long for a receiver to appear (e.g. 5s, 250ms).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) wait: Option<Duration>,
    /// Message priority on a POSIX queue (0-32767; higher is received first).
    #[arg(long, value_name = "N")]
    pub(crate) priority: Option<u32>,
    /// Message type on a System V queue (> 0).
    #[arg(long = "type", value_name = "N")]
    pub(crate) msg_type: Option<i64>,
}

pub(crate) fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    // SIGTERM, SIGINT, SIGHUP: stop reading and sending, exit 0 (what was
    // sent stays sent). A second one kills at once.
    let stop = Stop::on_signals()?;
    if let Some(addr) = super::plain_address(&args.endpoint)? {
        return run_plain(&addr, &args, &stop);
    }
    let ep = super::endpoint_with(&args.endpoint, args.priority, args.msg_type)?;
    let mut options = OpenOptions::new();
    options.stop(&stop);
    if let Some(wait) = args.wait {
        options.timeout(wait);
    }
    let tx = match ByteSender::open_with(&ep, &options) {
        Err(e) if e.kind() == ErrorKind::Stopped => return Ok(ExitCode::SUCCESS),
        other => other.with_context(|| format!("cannot open {} for sending", args.endpoint))?,
    };
    if !args.messages.is_empty() {
        for msg in &args.messages {
            if !send_one(&tx, msg.as_bytes())? {
                break;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = StdinLines::new(&stop);
    while let Some(line) = lines.next_line().context("cannot read stdin")? {
        if !send_one(&tx, line)? {
            break;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A plain peer (`?frame=line|none`): each message a line, the bytes, or
/// a packet.
fn run_plain(addr: &RelaySide, args: &SendArgs, stop: &Stop) -> anyhow::Result<ExitCode> {
    let mut given = args.messages.iter();
    let mut lines = StdinLines::new(stop);
    let from_args = !args.messages.is_empty();
    let refused = plain::send(
        addr,
        args.wait,
        &mut || {
            if from_args {
                return Ok(given.next().map(|m| m.as_bytes().to_vec()));
            }
            Ok(lines
                .next_line()
                .context("cannot read stdin")?
                .map(<[u8]>::to_vec))
        },
        stop,
    )
    .with_context(|| format!("cannot send to {}", args.endpoint))?;
    Ok(if refused == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Sends one message; `Ok(false)` when a stop ended the sending.
fn send_one(tx: &ByteSender, msg: &[u8]) -> anyhow::Result<bool> {
    match tx.send_bytes(msg) {
        Ok(()) => Ok(true),
        Err(SendError::Failed(_, err)) if err.kind() == ErrorKind::Stopped => Ok(false),
        Err(SendError::Disconnected(_)) => {
            anyhow::bail!("{}: the receiver is gone", tx.endpoint())
        }
        Err(SendError::Failed(_, err)) => Err(anyhow::Error::new(err)),
    }
}
