//! `ipcx send ENDPOINT [MESSAGE…]`

use std::io::{self, BufRead};
use std::process::ExitCode;

use anyhow::Context;
use ipcx::{ByteSender, SendError};

use crate::cli::SendArgs;

pub(crate) fn run(args: SendArgs) -> anyhow::Result<ExitCode> {
    let ep = super::endpoint_with(&args.endpoint, args.priority, args.msg_type)?;
    let tx = match args.wait {
        Some(wait) => ByteSender::open_timeout(&ep, wait),
        None => ByteSender::open(&ep),
    }
    .with_context(|| format!("cannot open {} for sending", args.endpoint))?;

    if !args.messages.is_empty() {
        for msg in &args.messages {
            send_one(&tx, msg.as_bytes())?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    for line in io::stdin().lock().split(b'\n') {
        let line = line.context("cannot read stdin")?;
        send_one(&tx, &line)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn send_one(tx: &ByteSender, msg: &[u8]) -> anyhow::Result<()> {
    tx.send_bytes(msg).map_err(|e| match e {
        SendError::Disconnected(_) => anyhow::anyhow!("{}: the receiver is gone", tx.endpoint()),
        SendError::Failed(_, err) => anyhow::Error::new(err),
    })
}
