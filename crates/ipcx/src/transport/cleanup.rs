//! Removing the files an endpoint created (FIFOs, socket files) when it is
//! dropped, but only if the path still names the very file we made.

use std::path::{Path, PathBuf};

use rustix::fs::{statat, AtFlags, CWD};

/// Unlinks `path` on drop if it is still the file (device + inode) it was
/// when the guard was made. Someone else's replacement is left alone.
#[derive(Debug)]
pub(crate) struct RemoveOnDrop {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl RemoveOnDrop {
    /// Guards the file now at `path` (not following a symlink).
    pub(crate) fn new(path: &Path) -> std::io::Result<Self> {
        let st = statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(RemoveOnDrop {
            path: path.to_owned(),
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Ok(st) = statat(CWD, &self.path, AtFlags::SYMLINK_NOFOLLOW) {
            if st.st_dev == self.dev && st.st_ino == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}
