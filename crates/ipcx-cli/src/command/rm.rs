//! `ipcx rm`: removes IPC objects that are left over — nobody uses them and
//! whoever made them is gone — and nothing in use unless `--force`.
//!
//! What counts as stale:
//! * an ipcx `shm:` segment nobody maps (the segment records its parties);
//! * an ipcx statistics file whose process is dead;
//! * a socket file nobody listens on (every socket type refuses a connect);
//! * a FIFO named on the command line that no process has open (a FIFO
//!   nobody holds under /tmp or /run is listed, not removed: a script may
//!   be about to open it);
//! * a System V queue that is empty, or segment nobody attaches to, whose
//!   last users (pids the kernel records) are dead; a queue (System V or
//!   POSIX) that holds messages is data waiting for a receiver, never
//!   stale: only `--force` drops it;
//! * a POSIX queue, segment or semaphore named on the command line that no
//!   process holds or maps (their creators are not recorded anywhere).

use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use ipcx::inspect::SysvKind;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::inventory::{Inventory, Kind, Object};

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// What to look at: names, paths or keys (0x2a); none means every
    /// ipcx object and every socket file under /tmp and /run.
    pub(crate) names: Vec<String>,
    /// Say what would be removed, remove nothing.
    #[arg(long, short = 'n')]
    pub(crate) dry_run: bool,
    /// Remove the named objects even if in use or not known to be stale.
    #[arg(long)]
    pub(crate) force: bool,
}

/// One decision about one object.
struct Verdict {
    what: String,
    remove: bool,
    why: String,
}

pub(crate) fn run(args: RmArgs) -> anyhow::Result<ExitCode> {
    let inventory = Inventory::collect(|k| {
        matches!(
            k,
            Kind::Mq
                | Kind::PosixShm
                | Kind::PosixSem
                | Kind::SysvMsg
                | Kind::SysvShm
                | Kind::SysvSem
        )
    });
    let names: Vec<String> = args.names.iter().flat_map(|n| spellings(n)).collect();
    let named = |o: &Object| {
        names.iter().any(|n| {
            &o.name == n
                || o.name.trim_start_matches('/') == n.trim_start_matches('/')
                || o.key.as_deref() == Some(n.as_str())
                || o.id.is_some_and(|id| id.to_string() == *n)
                || o.ipcx.as_deref() == Some(n.as_str())
        })
    };
    let mut verdicts = Vec::new();
    for o in &inventory.objects {
        let explicit = named(o);
        if !args.names.is_empty() && !explicit {
            continue;
        }
        if let Some(v) = judge(o, explicit, args.force) {
            verdicts.push((v, o));
        }
    }
    // Looked at before anything is removed: a named file removed below
    // was found.
    let named_paths_existed = names.iter().any(|n| Path::new(n).exists());
    // Socket files: the paths named, or those under /tmp and /run.
    let mut sockets = Vec::new();
    let mut fifos = Vec::new();
    if args.names.is_empty() {
        for dir in ["/tmp", "/run"] {
            find_files(Path::new(dir), 3, &mut |ft| ft.is_socket(), &mut sockets);
            find_files(Path::new(dir), 3, &mut |ft| ft.is_fifo(), &mut fifos);
        }
    } else {
        fifos.extend(
            names
                .iter()
                .map(Path::new)
                .filter(|p| p.symlink_metadata().is_ok_and(|m| m.file_type().is_fifo()))
                .map(Path::to_path_buf),
        );
        sockets.extend(
            names
                .iter()
                .map(Path::new)
                .filter(|p| {
                    p.symlink_metadata()
                        .is_ok_and(|m| m.file_type().is_socket())
                })
                .map(Path::to_path_buf),
        );
    }
    let mut failed = 0;
    for (v, o) in &verdicts {
        report(&v.what, v.remove, &v.why, args.dry_run);
        if v.remove && !args.dry_run {
            if let Err(e) = remove(o) {
                eprintln!("ipcx rm: cannot remove {}: {e}", v.what);
                failed += 1;
            }
        }
    }
    for path in sockets {
        let live = listening(&path);
        let remove = !live || args.force && !args.names.is_empty();
        let why = if live {
            "somebody listens on it"
        } else {
            "nobody listens on it"
        };
        let what = format!("socket file {}", path.display());
        report(&what, remove, why, args.dry_run);
        if remove && !args.dry_run {
            if let Err(e) = std::fs::remove_file(&path) {
                eprintln!("ipcx rm: cannot remove {what}: {e}");
                failed += 1;
            }
        }
    }
    let processes = (!fifos.is_empty()).then(crate::inventory::procs::ProcessTable::scan);
    for path in fifos {
        let table = processes.as_ref().expect("scanned when there are FIFOs");
        let held = table.holders(&crate::inventory::procs::FdTarget::Path(path.clone()));
        let named = !args.names.is_empty();
        let remove = named && (held.is_empty() || args.force);
        let why = match (held.first(), named) {
            (Some(h), _) => format!("open in {} ({})", h.pid, h.command),
            (None, true) => "no process has it open".to_owned(),
            (None, false) => "no process has it open (name it to remove it)".to_owned(),
        };
        let what = format!("FIFO {}", path.display());
        report(&what, remove, &why, args.dry_run);
        if remove && !args.dry_run {
            if let Err(e) = std::fs::remove_file(&path) {
                eprintln!("ipcx rm: cannot remove {what}: {e}");
                failed += 1;
            }
        }
    }
    if !args.names.is_empty() && verdicts.is_empty() && !named_paths_existed {
        anyhow::bail!("nothing named {} was found", args.names.join(", "));
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The ways `arg` may name an object: as given; an endpoint's name, path
/// or key (`mq:/jobs` is `/jobs`, `sysvmq:0x2a` is `0x0000002a`); a key
/// written short (`0x2a`) as `ipcx ls` writes it.
fn spellings(arg: &str) -> Vec<String> {
    use ipcx::endpoint::{Address, SysvKey, UnixAddr};
    let mut all = vec![arg.to_owned()];
    let key = |k: u32| format!("0x{k:08x}");
    if let Ok(ep) = arg.parse::<ipcx::Endpoint>() {
        match ep.address() {
            Address::Mq(n) | Address::Shm(n) => all.push(n.clone()),
            Address::Fifo(p) | Address::Unix(_, UnixAddr::Path(p)) => {
                all.push(p.display().to_string())
            }
            Address::SysvMq(SysvKey::Key(k)) => all.push(key(*k)),
            _ => {}
        }
    } else if let Some(k) = arg
        .strip_prefix("0x")
        .and_then(|h| u32::from_str_radix(h, 16).ok())
    {
        all.push(key(k));
    }
    all
}

fn report(what: &str, remove: bool, why: &str, dry_run: bool) {
    let verb = match (remove, dry_run) {
        (true, true) => "would remove",
        (true, false) => "removed",
        (false, _) => "kept",
    };
    println!("{verb} {what}: {why}");
}

fn judge(o: &Object, explicit: bool, force: bool) -> Option<Verdict> {
    let what = format!("{} {}", o.kind().name(), o.name);
    let users: Vec<String> = o
        .processes
        .iter()
        .map(|h| format!("{} ({})", h.pid, h.command))
        .collect();
    let in_use = !users.is_empty() || o.attached.is_some_and(|n| n > 0);
    let verdict = |remove: bool, why: String| {
        Some(Verdict {
            what: what.clone(),
            remove,
            why,
        })
    };
    if in_use {
        let why = if users.is_empty() {
            "attached by a process".to_owned()
        } else {
            format!("in use by {}", users.join(", "))
        };
        return match (explicit, force) {
            (true, true) => verdict(true, format!("{why}, removed anyway (--force)")),
            (true, false) => verdict(false, format!("{why} (--force to remove anyway)")),
            _ => None,
        };
    }
    let alive = |pid: Option<i32>| pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
    match o.kind() {
        Kind::PosixShm
            if o.ipcx
                .as_deref()
                .is_some_and(|e| e.starts_with("(statistics")) =>
        {
            let pid: Option<i32> = o.name.rsplit('.').next().and_then(|p| p.parse().ok());
            (!alive(pid)).then(|| Verdict {
                what: what.clone(),
                remove: true,
                why: "ipcx statistics of a process that is gone".into(),
            })
        }
        Kind::PosixShm if o.ipcx.is_some() => verdict(true, "ipcx segment nobody maps".into()),
        // A queue that holds messages is data waiting for a receiver (ipcx
        // keeps such queues itself), not litter: only --force drops it.
        Kind::SysvMsg | Kind::Mq if o.messages.is_some_and(|n| n > 0) => {
            let n = o.messages.unwrap_or(0);
            match (explicit, force) {
                (true, true) => verdict(true, format!("held {n} message(s), dropped (--force)")),
                (true, false) => verdict(
                    false,
                    format!(
                        "holds {n} message(s): data waiting for a receiver, not litter \
                         (--force to drop them)"
                    ),
                ),
                _ => None,
            }
        }
        Kind::SysvMsg => {
            let last_alive = alive(o.last_send_pid) || alive(o.last_recv_pid);
            match (last_alive, explicit, force) {
                (false, _, _) => verdict(true, "empty, and its last users are gone".into()),
                (true, true, true) => verdict(true, "empty, removed anyway (--force)".into()),
                (true, true, false) => verdict(
                    false,
                    "empty, but its last users still run (--force to remove)".into(),
                ),
                (true, false, _) => None,
            }
        }
        Kind::SysvShm => {
            if !alive(o.creator_pid) || explicit && force {
                verdict(true, "nobody attached, and its creator is gone".into())
            } else if explicit {
                verdict(false, "its creator still runs (--force to remove)".into())
            } else {
                None
            }
        }
        _ if explicit => verdict(true, "named, and no process holds or maps it".into()),
        _ => None,
    }
}

fn remove(o: &Object) -> std::io::Result<()> {
    match o.kind() {
        Kind::PosixShm | Kind::PosixSem => {
            let file = match o.kind() {
                Kind::PosixSem => format!("sem.{}", o.name.trim_start_matches('/')),
                _ => o.name.trim_start_matches('/').to_owned(),
            };
            std::fs::remove_file(format!("/dev/shm/{file}"))
        }
        Kind::Mq => ipcx::inspect::remove_posix_queue(&o.name),
        Kind::SysvMsg | Kind::SysvShm | Kind::SysvSem => {
            let kind = match o.kind() {
                Kind::SysvMsg => SysvKind::Queue,
                Kind::SysvShm => SysvKind::Segment,
                _ => SysvKind::Semaphores,
            };
            ipcx::inspect::remove_sysv(kind, o.id.unwrap_or(-1) as i32)
        }
        _ => Ok(()),
    }
}

/// Whether anything accepts connections (or datagrams) at a socket file.
fn listening(path: &Path) -> bool {
    let Ok(addr) = SocketAddrUnix::new(path) else {
        return true;
    };
    [SocketType::STREAM, SocketType::SEQPACKET, SocketType::DGRAM]
        .into_iter()
        .any(|ty| {
            let Ok(fd) = rustix::net::socket_with(
                AddressFamily::UNIX,
                ty,
                SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
                None,
            ) else {
                return true;
            };
            !matches!(
                rustix::net::connect(&fd, &addr),
                Err(Errno::CONNREFUSED | Errno::PROTOTYPE)
            )
        })
}

/// The files under `dir` (at most `depth` levels down, not following
/// links) whose type `wanted` accepts.
fn find_files(
    dir: &Path,
    depth: u32,
    wanted: &mut dyn FnMut(&std::fs::FileType) -> bool,
    out: &mut Vec<std::path::PathBuf>,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let Ok(ft) = e.file_type() else { continue };
        if wanted(&ft) {
            out.push(e.path());
        } else if ft.is_dir() && depth > 0 {
            find_files(&e.path(), depth - 1, wanted, out);
        }
    }
}
