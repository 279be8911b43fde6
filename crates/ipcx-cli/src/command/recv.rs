//! `ipcx recv ENDPOINT [-n COUNT]`

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use ipcx::{ByteReceiver, RecvTimeoutError};

use crate::cli::RecvArgs;

pub(crate) fn run(args: RecvArgs) -> anyhow::Result<ExitCode> {
    let ep = super::endpoint_with(&args.endpoint, None, args.msg_type)?;
    let rx = ByteReceiver::open(&ep)
        .with_context(|| format!("cannot open {} for receiving", args.endpoint))?;
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut received = 0u64;
    let mut failures = 0u64;
    while args.count.is_none_or(|n| received < n) {
        let result = rx.recv_bytes_with(args.timeout, |msg| print(&mut out, msg, args.hex));
        match result {
            Ok(written) => {
                written.context("cannot write to stdout")?;
                received += 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                anyhow::bail!(
                    "{}: no message for {:?} ({received} received)",
                    rx.endpoint(),
                    args.timeout.unwrap_or_default()
                )
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
