//! `ipcx relay A B`: socat for every mechanism ipcx knows.
//!
//! Each address is opened for the part it plays ([`open`]); a `listen:`
//! address accepts clients and each gets its own session with its own
//! open of the other address ([`session`]). Messages stay whole between
//! message transports; plain byte streams are cut by reads or lines
//! ([`address::Frame`]).

pub(crate) mod address;
mod log;
pub(crate) mod open;
mod session;
pub(crate) mod sink;
pub(crate) mod source;

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use ipcx::Stop;
use serde_json::json;

use crate::duration::parse_duration;
use address::{Ability, RelaySide};
use log::{Dir, Dump, Log};
use open::{Listening, OpenedSide, Role};
use session::{Session, SessionCtx};
use sink::SharedSink;

#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// The first address.
    #[arg(allow_hyphen_values = true)]
    pub(crate) a: String,
    /// The second address.
    #[arg(allow_hyphen_values = true)]
    pub(crate) b: String,
    /// One way only: from the first address to the second.
    #[arg(short = 'u')]
    pub(crate) unidirectional: bool,
    /// One way only: from the second address to the first.
    #[arg(short = 'U')]
    pub(crate) reverse: bool,
    /// Show each message on stderr as text, with its direction and time.
    #[arg(short = 'v')]
    pub(crate) verbose: bool,
    /// Show each message on stderr as a hex dump.
    #[arg(short = 'x')]
    pub(crate) hex: bool,
    /// Print messages, bytes and rates on exit (and on SIGUSR1).
    #[arg(long)]
    pub(crate) stats: bool,
    /// Write one JSON object per event to FILE (`-`: stderr).
    #[arg(long, value_name = "FILE")]
    pub(crate) json_log: Option<std::path::PathBuf>,
    /// At most this many clients at once on a listener (more wait in its backlog).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub(crate) max_clients: usize,
    /// After one direction ends, how long the other may go on.
    #[arg(short = 't', long, value_parser = parse_duration, default_value = "500ms", value_name = "DURATION")]
    pub(crate) close_delay: Duration,
    /// Wait up to this long for a target that is not there yet (a listener, a queue's receiver).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) wait: Option<Duration>,
}

/// How long the accept loop waits before looking at signals again.
const TICK: Duration = Duration::from_millis(100);

pub(crate) fn run(args: RelayArgs) -> anyhow::Result<ExitCode> {
    // SIGTERM/SIGINT/SIGHUP: stop accepting, write what was read, exit 0.
    let stop = Stop::on_signals()?;
    let usr1 = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(libc::SIGUSR1, Arc::clone(&usr1))
        .context("cannot install the SIGUSR1 handler")?;

    let a = RelaySide::parse(&args.a)?;
    let b = RelaySide::parse(&args.b)?;
    let dirs = directions(&a, &b, &args)?;
    let (role_a, role_b) = roles(&dirs);
    if a.listen && b.listen {
        bail!("both addresses listen; one side must connect or open (a relay has one listener)");
    }

    let dump = match (args.hex, args.verbose) {
        (true, _) => Dump::Hex,
        (false, true) => Dump::Text,
        _ => Dump::Off,
    };
    let log = Log::new(dump, json_log(args.json_log.as_deref())?);
    let ctx = SessionCtx {
        log: &log,
        stop: &stop,
        close_delay: args.close_delay,
    };
    log.event(
        None,
        "start",
        json!({"a": a.text, "b": b.text, "dirs": dirs.iter().map(|d| d.arrow()).collect::<Vec<_>>()}),
    );
    let plan = Plan {
        a: &a,
        b: &b,
        role_a,
        role_b,
        dirs: &dirs,
        wait: args.wait,
        max_clients: args.max_clients.max(1),
    };
    let outcome = if a.listen || b.listen {
        serve(&ctx, &plan, &usr1)
    } else {
        single(&ctx, &plan, &usr1)
    };
    if let Some(sig) = stop.signal() {
        log.event(None, "stopped", json!({"signal": ipcx::signal::name(sig)}));
    }
    if args.stats {
        log.report_stats();
    }
    outcome?;
    let s = &log.stats;
    let troubles = s.refused.load(Ordering::Relaxed)
        + s.lost.load(Ordering::Relaxed)
        + s.errors.load(Ordering::Relaxed);
    Ok(if troubles == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Which way messages go: both ways between two-way sides, else from the
/// first address to the second; `-u`/`-U` choose one way.
fn directions(a: &RelaySide, b: &RelaySide, args: &RelayArgs) -> anyhow::Result<Vec<Dir>> {
    Ok(match (args.unidirectional, args.reverse) {
        (true, true) => bail!("-u and -U together leave no direction"),
        (true, false) => vec![Dir::AtoB],
        (false, true) => vec![Dir::BtoA],
        _ if a.ability() == Ability::TwoWay && b.ability() == Ability::TwoWay => {
            vec![Dir::AtoB, Dir::BtoA]
        }
        _ => vec![Dir::AtoB],
    })
}

fn roles(dirs: &[Dir]) -> (Role, Role) {
    match dirs {
        [Dir::AtoB] => (Role::Source, Role::Sink),
        [Dir::BtoA] => (Role::Sink, Role::Source),
        _ => (Role::Both, Role::Both),
    }
}

fn json_log(path: Option<&std::path::Path>) -> anyhow::Result<Option<Box<dyn Write + Send>>> {
    Ok(match path {
        None => None,
        Some(p) if p.as_os_str() == "-" => Some(Box::new(std::io::stderr())),
        Some(p) => Some(Box::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
    })
}

/// What the command line asked for.
struct Plan<'a> {
    a: &'a RelaySide,
    b: &'a RelaySide,
    role_a: Role,
    role_b: Role,
    dirs: &'a [Dir],
    wait: Option<Duration>,
    max_clients: usize,
}

/// No listener: open both sides once and relay until the end.
fn single(ctx: &SessionCtx<'_>, plan: &Plan<'_>, usr1: &AtomicBool) -> anyhow::Result<()> {
    // The side that is read from is opened first: it may be the one that
    // creates the object (a queue, a FIFO) the other side waits for.
    let (opened_a, opened_b) = if plan.role_a == Role::Sink {
        let b = open::open(plan.b, plan.role_b, plan.wait)?;
        (open::open(plan.a, plan.role_a, plan.wait)?, b)
    } else {
        let a = open::open(plan.a, plan.role_a, plan.wait)?;
        (a, open::open(plan.b, plan.role_b, plan.wait)?)
    };
    ctx.log.event(Some(1), "open", json!({}));
    let session = Session::new(1, opened_a, opened_b, plan.dirs);
    std::thread::scope(|s| {
        let running = s.spawn(|| session.run(ctx));
        while !running.is_finished() {
            report_if_asked(ctx, usr1);
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = running.join();
    });
    Ok(())
}

/// A listener: one session per client, each with its own open of the
/// other side, at most `max_clients` at once. The other side is opened
/// once, for one client, when it cannot be opened again (stdio, `pipe:N`).
fn serve(ctx: &SessionCtx<'_>, plan: &Plan<'_>, usr1: &AtomicBool) -> anyhow::Result<()> {
    let listen_is_a = plan.a.listen;
    let (listen_addr, listen_role, other, other_role) = if listen_is_a {
        (plan.a, plan.role_a, plan.b, plan.role_b)
    } else {
        (plan.b, plan.role_b, plan.a, plan.role_a)
    };
    let listening = Listening::bind(listen_addr, ctx.stop)
        .with_context(|| format!("cannot listen on {listen_addr}"))?;
    let bound = listening.endpoint().to_string();
    ctx.log.event(None, "listening", json!({"endpoint": bound}));
    if ctx.log.verbose() {
        eprintln!("ipcx relay: listening on {bound}");
    }
    // A one-way target (a queue, shared memory, a FIFO, a file, stdout)
    // is opened once: every client's messages go there, whole.
    let shared = if other_role == Role::Sink
        && (other.ability() == Ability::OneWay || !other.reopenable())
    {
        let opened = open::open(other, other_role, plan.wait)?;
        Some(SharedSink(Arc::new(Mutex::new(
            opened.sink.expect("a target opened as a sink has one"),
        ))))
    } else {
        None
    };
    let once = shared.is_none() && !other.reopenable();
    let max = if once { 1 } else { plan.max_clients };
    let active = AtomicUsize::new(0);
    let mut next_id = 0u64;
    std::thread::scope(|s| {
        let mut listening = Some(listening);
        while let Some(listener) = &listening {
            report_if_asked(ctx, usr1);
            let served_once = once && next_id > 0;
            if ctx.stop.is_stopped() || (served_once && active.load(Ordering::SeqCst) == 0) {
                // Stop accepting: the socket (and its file) goes now.
                listening = None;
                continue;
            }
            if served_once || active.load(Ordering::SeqCst) >= max {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let client = match listener.accept(listen_role, TICK) {
                Ok(Some(client)) => client,
                Ok(None) => continue,
                Err(e) => {
                    ctx.log.warn(None, "accept", &format!("{e}"));
                    continue;
                }
            };
            next_id += 1;
            let id = next_id;
            ctx.log.stats.clients.fetch_add(1, Ordering::Relaxed);
            ctx.log
                .event(Some(id), "accepted", json!({"peer": client.peer.clone()}));
            let reopened = match &shared {
                Some(sink) => Ok(OpenedSide {
                    sink: Some(Box::new(sink.clone())),
                    ..OpenedSide::default()
                }),
                None => open::open(other, other_role, plan.wait),
            };
            let other_opened = match reopened {
                Ok(o) => o,
                Err(e) => {
                    ctx.log.stats.errors.fetch_add(1, Ordering::Relaxed);
                    ctx.log.warn(Some(id), "error", &format!("{e:#}"));
                    continue;
                }
            };
            let (opened_a, opened_b): (OpenedSide, OpenedSide) = if listen_is_a {
                (client, other_opened)
            } else {
                (other_opened, client)
            };
            let session = Session::new(id, opened_a, opened_b, plan.dirs);
            active.fetch_add(1, Ordering::SeqCst);
            ctx.log
                .stats
                .active
                .store(active.load(Ordering::SeqCst) as u64, Ordering::Relaxed);
            let active = &active;
            s.spawn(move || {
                session.run(ctx);
                let left = active.fetch_sub(1, Ordering::SeqCst) - 1;
                ctx.log.stats.active.store(left as u64, Ordering::Relaxed);
            });
        }
        while active.load(Ordering::SeqCst) > 0 {
            report_if_asked(ctx, usr1);
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    if let Some(SharedSink(sink)) = shared {
        if let Ok(mut sink) = sink.lock() {
            sink.finish();
        }
    }
    Ok(())
}

fn report_if_asked(ctx: &SessionCtx<'_>, usr1: &AtomicBool) {
    if usr1.swap(false, Ordering::Relaxed) {
        ctx.log.report_stats();
    }
}
