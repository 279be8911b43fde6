//! What `ipcx plumber` looks at: an anonymous pipe (by inode, found
//! through an fd a process holds), a FIFO (by device and inode, so a
//! renamed one is still found), a POSIX message queue (by name), or one
//! way of a connected Unix socket (by inode, found through an fd).

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// `pipe:[INODE]`.
    Pipe { inode: u64 },
    /// A named pipe.
    Fifo { path: PathBuf, dev: u64, ino: u64 },
    /// A POSIX message queue, by name (`/jobs`).
    Mq { name: String },
    /// A connected Unix socket (`socket:[INODE]`): what its peer sends it.
    Socket { inode: u64 },
    /// A System V message queue, by key (`sysvmq:0x2a`).
    SysvMq { key: i32 },
    /// An ipcx shared-memory ring (`shm:/frames`).
    Shm { name: String },
}

impl Target {
    /// `PID:FD`, `fifo:/path` or a path.
    pub(crate) fn parse(text: &str) -> Result<Target> {
        if let Some((pid, fd)) = text.split_once(':') {
            if let (Ok(pid), Ok(fd)) = (pid.parse::<u32>(), fd.parse::<u32>()) {
                return Target::of_fd(pid, fd);
            }
        }
        if let Some(name) = text.strip_prefix("mq:") {
            return Target::of_mq(name);
        }
        if let Some(name) = text.strip_prefix("shm:") {
            let name = name.split('?').next().unwrap_or(name);
            if !name.starts_with('/') || name.len() < 2 || name[1..].contains('/') {
                bail!("`shm:{name}`: a ring is named like shm:/frames (one `/`, then the name)");
            }
            return Ok(Target::Shm {
                name: name.to_owned(),
            });
        }
        if let Some(key) = text.strip_prefix("sysvmq:") {
            let parsed = match key.strip_prefix("0x") {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => key.parse().ok(),
            };
            let Some(key) = parsed.filter(|k| *k != 0) else {
                bail!("`sysvmq:{key}`: a System V queue's key, like sysvmq:0x2a (`ipcx ls -t sysv-msg` lists them)");
            };
            return Ok(Target::SysvMq { key: key as i32 });
        }
        let path = text.strip_prefix("fifo:").unwrap_or(text);
        Target::of_path(PathBuf::from(path))
    }

    fn of_mq(name: &str) -> Result<Target> {
        if !name.starts_with('/') || name.len() < 2 || name[1..].contains('/') {
            bail!("`mq:{name}`: a POSIX queue is named like mq:/jobs (one `/`, then the name)");
        }
        Ok(Target::Mq {
            name: name.to_owned(),
        })
    }

    fn of_fd(pid: u32, fd: u32) -> Result<Target> {
        let link = format!("/proc/{pid}/fd/{fd}");
        let to = std::fs::read_link(&link).with_context(|| {
            format!("cannot read {link}: no such process or fd, or no right to look at pid {pid}")
        })?;
        let text = to.to_string_lossy();
        if let Some(inode) = text
            .strip_prefix("pipe:[")
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse().ok())
        {
            return Ok(Target::Pipe { inode });
        }
        if let Some(inode) = text
            .strip_prefix("socket:[")
            .and_then(|t| t.strip_suffix(']'))
            .and_then(|t| t.parse().ok())
        {
            return Ok(Target::Socket { inode });
        }
        if crate::inventory::mqueue::is_mqueue_fd(pid as i32, fd as i32) {
            return Target::of_mq(&text);
        }
        let meta = std::fs::metadata(&link).with_context(|| format!("cannot stat {link}"))?;
        if meta.file_type().is_fifo() {
            return Ok(Target::Fifo {
                path: to,
                dev: meta.dev(),
                ino: meta.ino(),
            });
        }
        bail!(
            "fd {fd} of pid {pid} is {text}, not a pipe, FIFO, POSIX queue or Unix socket \
             (what plumber shows)"
        )
    }

    fn of_path(path: PathBuf) -> Result<Target> {
        // No symlink is followed to somewhere unexpected: the FIFO itself.
        let meta = std::fs::symlink_metadata(&path)
            .with_context(|| format!("cannot look at {}", path.display()))?;
        if !meta.file_type().is_fifo() {
            bail!(
                "{} is not a FIFO (give PID:FD for an anonymous pipe, e.g. {}:1 for this shell's stdout)",
                path.display(),
                std::os::unix::process::parent_id()
            );
        }
        Ok(Target::Fifo {
            path,
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }

    /// As `ipcx ls` names it.
    pub(crate) fn name(&self) -> String {
        match self {
            Target::Pipe { inode } => format!("pipe:[{inode}]"),
            Target::Fifo { path, .. } => path.display().to_string(),
            Target::Mq { name } => format!("mq:{name}"),
            Target::Socket { inode } => format!("socket:[{inode}]"),
            Target::SysvMq { key } => format!("sysvmq:{key:#x}"),
            Target::Shm { name } => format!("shm:{name}"),
        }
    }

    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Target::Pipe { .. } => "pipe",
            Target::Fifo { .. } => "fifo",
            Target::Mq { .. } => "mq",
            Target::Socket { .. } => "unix",
            Target::SysvMq { .. } => "sysvmq",
            Target::Shm { .. } => "shm",
        }
    }
}
