//! `ipcx plumber TARGET`: a real pipe, FIFO or POSIX queue, seen live —
//! how full its kernel buffer is, who writes and who reads it, and who is
//! blocked because it is full (a writer) or empty (a reader).
//!
//! TARGET is `PID:FD` (an end another process holds), a FIFO's path,
//! `fifo:/path` or `mq:/name`. `--once` looks once (`--json` for scripts);
//! without it a full-screen view (`live.rs`, `view.rs`) looks again every
//! `--every` until `q`, Ctrl-C or the pipe is gone. `--demo` starts its
//! own writer and reader (`demo.rs`). How each figure is known is in
//! `look.rs`, `state.rs` and `history.rs`.

mod demo;
mod history;
mod live;
mod look;
mod ring;
mod socket;
mod state;
mod sysv;
mod target;
mod view;
mod web;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Args;

use crate::duration::parse_duration;
use look::Look;
use target::Target;

#[derive(Debug, Args)]
pub(crate) struct PlumberArgs {
    /// PID:FD (a pipe end or a Unix socket a process holds), a FIFO's path,
    /// fifo:/path, mq:/name, sysvmq:0xKEY or shm:/name (an ipcx ring).
    #[arg(required_unless_present_any = ["demo", "demo_side"])]
    pub(crate) target: Option<String>,
    /// Start a writer and a reader over a new pipe and watch it; keys
    /// steer each side and resize the pipe.
    #[arg(long, conflicts_with_all = ["target", "once"])]
    pub(crate) demo: bool,
    /// Serve the live view as a web page on this loopback address
    /// (e.g. 127.0.0.1:8090) instead of the terminal.
    #[arg(long, value_name = "ADDR", conflicts_with_all = ["demo", "once"])]
    pub(crate) web: Option<String>,
    /// One side of --demo (run by the demo itself).
    #[arg(long, hide = true, requires = "control", value_enum)]
    pub(crate) demo_side: Option<demo::Side>,
    #[arg(long, hide = true)]
    pub(crate) control: Option<std::path::PathBuf>,
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
    if let (Some(side), Some(control)) = (args.demo_side, &args.control) {
        demo::side(side, control)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.demo {
        demo::run(args.every)?;
        return Ok(ExitCode::SUCCESS);
    }
    let web = args.web.as_deref().map(web::address).transpose()?;
    let target = Target::parse(args.target.as_deref().unwrap_or_default())?;
    if let Some(at) = web {
        web::run(&target, at, args.every)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.once {
        let look = Look::take(&target)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&look)?);
        } else {
            print!("{}", look.render());
        }
        return Ok(ExitCode::SUCCESS);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        live::run(&target, args.every, None)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Not a terminal: the look as text, again and again.
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
