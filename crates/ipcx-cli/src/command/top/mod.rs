//! `ipcx top`: a live view of every ipcx endpoint on the machine, from the
//! statistics each process publishes (`ipcx::stats`): nothing attaches to
//! the processes. `--once` prints one snapshot (rates over one interval),
//! `--once --json` for scripts.

mod sample;
mod view;

pub(crate) use sample::short;

use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use ratatui::crossterm::event::{KeyCode, KeyModifiers};
use serde_json::json;

use crate::duration::parse_duration;
use crate::inventory::Inventory;
use crate::keys::Waited;
use sample::{rows, EndpointRow, Sample};
use view::SortBy;

#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// Print one snapshot and exit (with --json: machine-readable).
    #[arg(long)]
    pub(crate) once: bool,
    /// JSON output (with --once).
    #[arg(long)]
    pub(crate) json: bool,
    /// Time between refreshes, and the window rates are measured over (e.g. 1s, 500ms).
    #[arg(long, short = 'd', value_parser = parse_duration, default_value = "1s", value_name = "DURATION")]
    pub(crate) interval: Duration,
}

pub(crate) fn run(args: TopArgs) -> anyhow::Result<ExitCode> {
    if args.once || args.json {
        return once(&args);
    }
    interactive(&args)
}

/// The kernel's view, with ipcx endpoints named (for queues and peers).
fn inventory() -> Inventory {
    let mut inv = Inventory::collect(|_| true);
    crate::command::ls::mark_ipcx_endpoints(&mut inv.objects);
    inv
}

fn once(args: &TopArgs) -> anyhow::Result<ExitCode> {
    let first = Sample::take();
    std::thread::sleep(args.interval);
    let second = Sample::take();
    let inv = inventory();
    let rows = rows(&first, &second, Some(&inv));
    if args.json {
        let out = json!({
            "interval_s": second.at.duration_since(first.at).as_secs_f64(),
            "endpoints": rows,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_table(&rows)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(rows: &[EndpointRow]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:>7} {:<12} {:<5} {:<32} {:>7} {:>8} {:>8} {:>9} {:>7} {:>5} PEERS",
        "PID",
        "COMMAND",
        "ROLE",
        "ENDPOINT",
        "MSG/S",
        "BYTES/S",
        "TOTAL",
        "QUEUE",
        "BLOCKED",
        "ERR"
    )?;
    for r in rows {
        writeln!(
            out,
            "{:>7} {:<12} {:<5} {:<32} {:>7} {:>8} {:>8} {:>9} {:>6.0}% {:>5} {}",
            r.pid,
            r.command,
            r.role.label(),
            r.endpoint,
            short(r.messages_per_s),
            short(r.bytes_per_s),
            short(r.messages as f64),
            r.queue.as_deref().unwrap_or(""),
            r.blocked_fraction * 100.0,
            r.errors,
            r.peers
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",")
        )?;
    }
    Ok(())
}

fn interactive(args: &TopArgs) -> anyhow::Result<ExitCode> {
    // SIGINT, SIGTERM, SIGHUP end the view (the terminal restored).
    let stop = ipcx::Stop::on_signals()?;
    let mut terminal = ratatui::try_init()?;
    let result = (|| -> anyhow::Result<()> {
        let mut sort = SortBy::default();
        let mut prev = Sample::take();
        let mut shown: Vec<EndpointRow> = rows(&prev, &prev, None);
        let mut next_sample = Instant::now() + args.interval;
        loop {
            terminal.draw(|f| view::render(f, &shown, sort, args.interval.as_secs_f64()))?;
            let wait = next_sample.saturating_duration_since(Instant::now());
            match crate::keys::wait_key(&stop, wait.min(Duration::from_millis(250)))? {
                Waited::Gone => return Ok(()),
                Waited::Nothing => {}
                Waited::Key(key) => match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(())
                    }
                    KeyCode::Char('s') => {
                        sort = sort.next();
                        sort.sort(&mut shown);
                    }
                    _ => {}
                },
            }
            if Instant::now() >= next_sample {
                let cur = Sample::take();
                let inv = inventory();
                shown = rows(&prev, &cur, Some(&inv));
                sort.sort(&mut shown);
                prev = cur;
                next_sample = Instant::now() + args.interval;
            }
        }
    })();
    ratatui::restore();
    result.map(|()| ExitCode::SUCCESS)
}
