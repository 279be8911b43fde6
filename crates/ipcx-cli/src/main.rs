//! `ipcx`: send, receive, measure and inspect inter-process communication.
//!
//! No unsafe code but in the few modules that must call libc themselves
//! (each opts in with `#![allow(unsafe_code)]` and says why); the rest
//! goes through the `ipcx` library's safe wrappers.
#![deny(unsafe_code)]

mod cli;
mod command;
mod duration;
mod inventory;
mod keys;
mod users;

use std::io;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(err) => {
            // Output cut short by a closed pipe (`ipcx recv ... | head`) is
            // the reader's choice, not a failure.
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            eprintln!("ipcx: {}", describe(&err));
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let cli = cli::Cli::parse();
    match cli.command {
        cli::Command::Send(args) => command::send::run(args),
        cli::Command::Recv(args) => command::recv::run(args),
        cli::Command::Signal(args) => command::signal::run(args),
        cli::Command::Relay(args) => command::relay::run(args),
        cli::Command::Serve(args) => command::serve::run(args),
        cli::Command::Call(args) => command::call::run(args),
        cli::Command::Ls(args) => command::ls::run(args),
        cli::Command::Rm(args) => command::rm::run(args),
        cli::Command::Top(args) => command::top::run(args),
        cli::Command::Plumber(args) => command::plumber::run(args),
        cli::Command::MqueueList => inventory::mqueue::helper_main().map(|()| ExitCode::SUCCESS),
        cli::Command::Bench(args) => command::bench::run(args),
        cli::Command::Advise(args) => command::advise::run(args),
        cli::Command::BenchPeer => command::bench::peer_main().map(|()| ExitCode::SUCCESS),
    }
}

/// The error and its causes, each said once: an ipcx error already ends
/// with the OS error behind it, which the chain would repeat.
fn describe(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|e| e.downcast_ref::<io::Error>())
        .any(|e| e.kind() == io::ErrorKind::BrokenPipe)
}
