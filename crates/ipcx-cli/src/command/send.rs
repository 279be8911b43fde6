//! `ipcx send ENDPOINT [MESSAGE…]`

use std::process::ExitCode;

use anyhow::Context;
use ipcx::{ByteSender, ErrorKind, OpenOptions, SendError, Stop};

use super::stdin_lines::StdinLines;
use crate::cli::SendArgs;

pub(crate) fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    // SIGTERM, SIGINT, SIGHUP: stop reading and sending, exit 0 (what was
    // sent stays sent). A second one kills at once.
    let stop = Stop::on_signals()?;
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
