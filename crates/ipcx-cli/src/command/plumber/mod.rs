//! `ipcx plumber TARGET`: a real pipe, FIFO or POSIX queue, seen live —
//! how full its kernel buffer is, who writes and who reads it, and who is
//! blocked because it is full (a writer) or empty (a reader).
//!
//! TARGET is `PID:FD` (an end another process holds), a FIFO's path,
//! `fifo:/path` or `mq:/name`. `--once` looks once (`--json` for scripts); without it
//! the look is redrawn every `--every` until Ctrl-C or the pipe is gone.
//! How each figure is known is in `look.rs` and `state.rs`.

mod look;
mod state;
mod target;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::duration::parse_duration;
use look::Look;
use target::Target;

#[derive(Debug, Args)]
pub(crate) struct PlumberArgs {
    /// PID:FD (an end of a pipe a process holds), a FIFO's path, fifo:/path, or mq:/name.
    pub(crate) target: String,
    /// Look once and exit.
    #[arg(long)]
    pub(crate) once: bool,
    /// With --once: print the look as JSON (the fields: docs/plumber.md).
    #[arg(long, requires = "once")]
    pub(crate) json: bool,
    /// How often the live view looks again (e.g. 250ms, 1s).
    #[arg(long, default_value = "250ms", value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) every: Duration,
}

pub(crate) fn run(args: PlumberArgs) -> Result<ExitCode> {
    let target = Target::parse(&args.target)?;
    if args.once {
        let look = Look::take(&target)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&look)?);
        } else {
            print!("{}", look.render());
        }
        return Ok(ExitCode::SUCCESS);
    }
    // SIGINT, SIGTERM: leave the screen as it is and exit 0.
    let stop = ipcx::Stop::on_signals()?;
    loop {
        let look = Look::take(&target)?;
        // Home, clear, then the look: one write, so the screen never flickers half-drawn.
        print!("\x1b[H\x1b[2J{}", look.render());
        use std::io::Write;
        std::io::stdout().flush()?;
        if stop.wait(Some(args.every)) {
            return Ok(ExitCode::SUCCESS);
        }
    }
}
