//! POSIX message queues. Their names live in the IPC namespace's mqueue
//! file system; when none is mounted (as on this kind of machine), a
//! helper process (`ipcx` itself, hidden subcommand `mqueue-list`)
//! mounts one in a private mount namespace, lists it and exits, leaving
//! nothing mounted. Without the privilege for that, queues are found
//! through the fds of the processes that have them open.
//!
//! For each queue: owner, mode, bytes queued (the file's `QSIZE:`), and
//! from `mq_getattr` the messages waiting and the limits.

#![allow(unsafe_code)] // libc's mq_* and mount calls; each block says why it is sound.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::procs::{FdTarget, ProcessTable};
use super::{Kind, Object};

/// `statfs` magic of the mqueue file system.
const MQUEUE_MAGIC: i64 = 0x1980_0202;

/// One queue, as the helper reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct QueueInfo {
    pub(crate) name: String,
    pub(crate) uid: u32,
    pub(crate) mode: u32,
    pub(crate) qsize: Option<u64>,
    pub(crate) curmsgs: Option<u64>,
    pub(crate) maxmsg: Option<u64>,
    pub(crate) msgsize: Option<u64>,
    pub(crate) error: Option<String>,
}

pub(crate) fn collect(procs: &ProcessTable, out: &mut Vec<Object>) {
    let mut listed = match list() {
        Ok(queues) => queues,
        Err(why) => {
            // Fall back to the queues someone has open.
            let mut names: Vec<String> = procs
                .fds
                .iter()
                .filter_map(|f| match &f.target {
                    FdTarget::Path(p) if is_mqueue_fd(f.pid, f.fd) => Some(p.display().to_string()),
                    _ => None,
                })
                .collect();
            names.sort();
            names.dedup();
            names
                .into_iter()
                .map(|name| {
                    let mut q = describe_by_name(&name);
                    q.error = Some(format!(
                        "not every queue is visible ({why}); this one is open in a process"
                    ));
                    q
                })
                .collect()
        }
    };
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    for q in listed {
        let mut o = Object::new(Kind::Mq, q.name.clone()).owned_by(q.uid, Some(q.mode));
        o.queued_bytes = q.qsize;
        o.messages = q.curmsgs;
        o.max_messages = q.maxmsg;
        o.max_message_size = q.msgsize;
        if let Some(e) = q.error {
            o.restrict(e);
        }
        let target = FdTarget::Path(q.name.clone().into());
        o.processes = procs
            .holders(&target)
            .into_iter()
            .filter(|h| h.fd.is_some_and(|fd| is_mqueue_fd(h.pid, fd)))
            .collect();
        out.push(o);
    }
}

pub(crate) fn is_mqueue_fd(pid: i32, fd: i32) -> bool {
    rustix::fs::statfs(format!("/proc/{pid}/fd/{fd}"))
        .map(|st| st.f_type == MQUEUE_MAGIC)
        .unwrap_or(false)
}

/// Every queue: from a mounted mqueue file system, or through the helper.
fn list() -> Result<Vec<QueueInfo>, String> {
    if let Some(dir) = mounted() {
        return Ok(read_dir(Path::new(&dir)));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = std::process::Command::new(exe)
        .arg("mqueue-list")
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run the mqueue helper: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("the mqueue helper said nonsense: {e}"))
}

/// Where an mqueue file system is mounted, if anywhere.
fn mounted() -> Option<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        (right.split_whitespace().next()? == "mqueue")
            .then(|| left.split_whitespace().nth(4).map(str::to_owned))?
    })
}

fn read_dir(dir: &Path) -> Vec<QueueInfo> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| {
            let name = format!("/{}", e.file_name().to_string_lossy());
            let mut q = describe_by_name(&name);
            if let Ok(meta) = e.metadata() {
                q.uid = meta.uid();
                q.mode = meta.mode() & 0o7777;
            }
            q.qsize = std::fs::read_to_string(e.path()).ok().and_then(|t| {
                t.split_whitespace()
                    .find_map(|f| f.strip_prefix("QSIZE:"))
                    .and_then(|n| n.parse().ok())
            });
            q
        })
        .collect()
}

/// What `mq_open` + `mq_getattr` + `fstat` tell of one queue.
pub(crate) fn describe_by_name(name: &str) -> QueueInfo {
    let mut q = QueueInfo {
        name: name.to_owned(),
        uid: 0,
        mode: 0,
        qsize: None,
        curmsgs: None,
        maxmsg: None,
        msgsize: None,
        error: None,
    };
    let Ok(c) = CString::new(name) else {
        q.error = Some("name with a NUL".into());
        return q;
    };
    // SAFETY: a valid C string; O_RDONLY|O_NONBLOCK opens an existing
    // queue without creating one and without taking any message.
    let mqd = unsafe { libc::mq_open(c.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK) };
    if mqd == -1 {
        q.error = Some(format!("cannot open: {}", std::io::Error::last_os_error()));
        return q;
    }
    // SAFETY: mq_attr is plain old data; zeroed is a valid value.
    let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
    // SAFETY: mqd is the descriptor just opened; attr is a valid out-pointer.
    if unsafe { libc::mq_getattr(mqd, &mut attr) } == 0 {
        q.curmsgs = Some(attr.mq_curmsgs as u64);
        q.maxmsg = Some(attr.mq_maxmsg as u64);
        q.msgsize = Some(attr.mq_msgsize as u64);
    }
    // On Linux a queue descriptor is a file descriptor: fstat gives owner and mode.
    // SAFETY: stat is plain old data; mqd is open.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; st is a valid out-pointer.
    if unsafe { libc::fstat(mqd, &mut st) } == 0 {
        q.uid = st.st_uid;
        q.mode = st.st_mode & 0o7777;
    }
    // SAFETY: closing the descriptor opened above, once.
    unsafe { libc::mq_close(mqd) };
    q
}

/// The hidden `ipcx mqueue-list`: lists the queues through a private
/// mount (this process only; the mount goes when it exits) and prints
/// them as JSON.
pub(crate) fn helper_main() -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("ipcx-mqueue-{}", std::process::id()));
    std::fs::create_dir(&dir)?;
    let result = mount_and_read(&dir);
    let _ = std::fs::remove_dir(&dir);
    let queues = result?;
    println!("{}", serde_json::to_string(&queues)?);
    Ok(())
}

fn mount_and_read(dir: &Path) -> anyhow::Result<Vec<QueueInfo>> {
    use anyhow::Context;
    // SAFETY: unshare(CLONE_NEWNS) changes only this process's view of
    // mounts; this helper is single-threaded and exits right after.
    if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
        return Err(std::io::Error::last_os_error())
            .context("cannot make a private mount namespace to list POSIX queues");
    }
    let root = CString::new("/")?;
    let none = CString::new("none")?;
    let fstype = CString::new("mqueue")?;
    let target = CString::new(dir.as_os_str().as_encoded_bytes())?;
    // SAFETY: valid C strings; making every mount private keeps the next
    // mount from propagating to the rest of the system.
    if unsafe {
        libc::mount(
            std::ptr::null(),
            root.as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error()).context("cannot make mounts private");
    }
    // SAFETY: valid C strings; mounts this IPC namespace's queues on dir,
    // in this process's mount namespace only.
    if unsafe {
        libc::mount(
            none.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    } != 0
    {
        return Err(std::io::Error::last_os_error()).context("cannot mount an mqueue file system");
    }
    let queues = read_dir(dir);
    // SAFETY: unmounting what was mounted above, in this namespace only,
    // so the (shared) directory can be removed.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    Ok(queues)
}
