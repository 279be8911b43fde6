//! `ipcx ls`: every IPC object on the machine, one table (or `--json`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use ipcx::endpoint::{Address, UnixAddr};
use ipcx::Endpoint;

use crate::inventory::{Inventory, Kind, Object};

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only names (or ipcx endpoints) containing this text.
    pub(crate) name: Option<String>,
    /// Only these kinds, comma-separated: pipe, fifo, unix, tcp, udp, mq,
    /// posix-shm, posix-sem, sysv-msg, sysv-shm, sysv-sem (or socket, sysv, posix, shm).
    #[arg(long = "type", short = 't', value_name = "LIST")]
    pub(crate) r#type: Vec<String>,
    /// Only objects this process holds or maps.
    #[arg(long, short = 'p')]
    pub(crate) pid: Option<i32>,
    /// Only objects owned by this user (name or uid).
    #[arg(long, short = 'u')]
    pub(crate) user: Option<String>,
    /// Only ipcx endpoints.
    #[arg(long)]
    pub(crate) ipcx: bool,
    /// Print JSON (schema: docs/ls.md).
    #[arg(long)]
    pub(crate) json: bool,
    /// Print the system limits of each mechanism instead.
    #[arg(long)]
    pub(crate) limits: bool,
}

pub(crate) fn run(args: LsArgs) -> anyhow::Result<ExitCode> {
    if args.limits {
        return crate::command::limits::run(args.json);
    }
    let types: Vec<String> = args
        .r#type
        .iter()
        .flat_map(|t| t.split(','))
        .map(str::to_owned)
        .collect();
    for t in &types {
        if !Kind::ALL.iter().any(|k| k.matches(t)) {
            let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
            bail!(
                "--type {t}: expected one of {}, or socket, sysv, posix, shm",
                names.join(", ")
            );
        }
    }
    let uid = args.user.as_deref().map(crate::users::uid_of).transpose()?;
    let wanted = |k: Kind| types.is_empty() || types.iter().any(|t| k.matches(t));
    let mut inventory = Inventory::collect(wanted);
    mark_ipcx_endpoints(&mut inventory.objects);
    inventory.objects.retain(|o| {
        args.pid
            .is_none_or(|pid| o.processes.iter().any(|h| h.pid == pid))
            && uid.is_none_or(|u| o.uid == Some(u))
            && args.name.as_deref().is_none_or(|pat| {
                o.name.contains(pat) || o.ipcx.as_deref().is_some_and(|e| e.contains(pat))
            })
            && (!args.ipcx || o.ipcx.is_some())
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&inventory)?);
    } else {
        print!("{}", table(&inventory.objects));
        if !inventory.hidden_processes.is_empty() {
            eprintln!(
                "ipcx ls: {} processes' fds are not readable here; their ends are not shown (run as their user or root)",
                inventory.hidden_processes.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Names the ipcx endpoint of each object held by a process that
/// publishes statistics (`ipcx::stats`) for an endpoint matching it.
pub(crate) fn mark_ipcx_endpoints(objects: &mut [Object]) {
    let published: HashMap<i32, Vec<Endpoint>> = ipcx::stats::read_all()
        .into_iter()
        .map(|p| {
            let eps = p
                .endpoints
                .iter()
                .filter_map(|e| e.endpoint.parse().ok())
                .collect();
            (p.pid as i32, eps)
        })
        .collect();
    for o in objects.iter_mut().filter(|o| o.ipcx.is_none()) {
        let found = o
            .processes
            .iter()
            .filter_map(|h| published.get(&h.pid))
            .flatten()
            .find(|ep| names(ep, o));
        if let Some(ep) = found {
            o.ipcx = Some(ep.to_string());
        }
    }
}

/// Whether endpoint `ep` is (an end of) object `o`.
fn names(ep: &Endpoint, o: &Object) -> bool {
    let same = |text: &str| o.name == text || o.peer.as_deref() == Some(text);
    match (ep.address(), o.kind()) {
        (Address::Unix(_, UnixAddr::Path(p)), Kind::Unix) => same(&p.display().to_string()),
        (Address::Unix(_, UnixAddr::Abstract(n)), Kind::Unix) => {
            same(&format!("@{}", String::from_utf8_lossy(n)))
        }
        (Address::Fifo(p), Kind::Fifo) => o.name == p.display().to_string(),
        (Address::Mq(n), Kind::Mq) => &o.name == n,
        (Address::Tcp(hp), Kind::Tcp) | (Address::Udp(hp), Kind::Udp) => on_port(o, hp.port),
        (Address::WebSocket(ws), Kind::Tcp) => on_port(o, ws.at.port),
        // A NATS end's connection goes to one of its servers. (Several
        // ends of one process on one server show the first one's subject.)
        (Address::Nats(nats), Kind::Tcp) => nats.servers.iter().any(|hp| {
            let port = format!(":{}", hp.port);
            o.peer.as_deref().is_some_and(|p| p.ends_with(&port))
        }),
        (Address::SysvMq(ipcx::endpoint::SysvKey::Key(k)), Kind::SysvMsg) => {
            o.key.as_deref() == Some(&format!("0x{:08x}", *k))
        }
        (Address::Pipe(Some(fd)), Kind::Pipe) => o.processes.iter().any(|h| h.fd == Some(*fd)),
        _ => false,
    }
}

/// Whether socket `o` is bound to or connected to `port`.
fn on_port(o: &Object, port: u16) -> bool {
    let port = format!(":{port}");
    o.local.as_deref().is_some_and(|l| l.ends_with(&port))
        || o.peer.as_deref().is_some_and(|p| p.ends_with(&port))
}

fn queue(o: &Object) -> String {
    let bytes = |n: u64| ipcx::endpoint::format_size(n);
    match o.kind() {
        Kind::Unix | Kind::Tcp | Kind::Udp => match (o.recv_queue, o.send_queue) {
            (Some(r), Some(s)) if o.state.as_deref() == Some("listen") => {
                format!("{r}/{s} conn")
            }
            (Some(r), Some(s)) => format!("r{} s{}", bytes(r), bytes(s)),
            _ => String::new(),
        },
        Kind::Pipe | Kind::Fifo => match (o.queued_bytes, o.capacity) {
            (Some(q), Some(c)) => format!("{}/{}", bytes(q), bytes(c)),
            _ => "?".into(),
        },
        Kind::Mq | Kind::SysvMsg => match (o.messages, o.queued_bytes) {
            (Some(m), Some(b)) => format!("{m} msg {}", bytes(b)),
            (Some(m), None) => format!("{m} msg"),
            _ => "?".into(),
        },
        Kind::PosixShm | Kind::SysvShm => o.size.map(bytes).unwrap_or_default(),
        Kind::PosixSem => String::new(),
        Kind::SysvSem => o
            .semaphores
            .map(|n| format!("{n} sems"))
            .unwrap_or_default(),
    }
}

fn processes(o: &Object) -> String {
    let mut text = String::new();
    for (i, h) in o.processes.iter().enumerate() {
        if i == 4 {
            let _ = write!(text, " +{}", o.processes.len() - 4);
            break;
        }
        if i > 0 {
            text.push(' ');
        }
        let access = serde_json::to_value(h.access)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let _ = write!(text, "{}/{}[{access}]", h.pid, h.command);
    }
    text
}

/// The human table: one line per object, columns sized to fit.
pub(crate) fn table(objects: &[Object]) -> String {
    let header = [
        "TYPE",
        "NAME",
        "OWNER",
        "MODE",
        "STATE",
        "QUEUE",
        "PROCESSES",
        "IPCX",
    ];
    let rows: Vec<[String; 8]> = objects
        .iter()
        .map(|o| {
            let mut name = o.name.clone();
            if let Some(peer) = &o.peer {
                let _ = write!(name, " -> {peer}");
            }
            if o.restricted.is_some() {
                name.push_str(" (!)");
            }
            [
                o.kind().name().to_owned(),
                name,
                o.user.clone().unwrap_or_default(),
                o.mode.clone().unwrap_or_default(),
                o.state.clone().unwrap_or_default(),
                queue(o),
                processes(o),
                o.ipcx.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count()).min(60);
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[&str]| {
        let mut text = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut out, &header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&mut out, &cells);
    }
    if objects.iter().any(|o| o.restricted.is_some()) {
        out.push_str("(!) not everything could be read: see `ipcx ls --json` (\"restricted\")\n");
    }
    out
}
