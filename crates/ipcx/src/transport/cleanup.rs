//! Removing what an endpoint created (FIFOs, socket files, message queues)
//! when it is dropped. A file is removed only if the path still names the
//! very file we made; someone else's replacement is left alone.

use std::path::{Path, PathBuf};

use rustix::fs::{statat, AtFlags, CWD};

use std::sync::Arc;

use crate::link::shm::segment::Segment;
use crate::sys::sysv::SysvQueue;

/// Removes one created object on drop.
#[derive(Debug)]
pub(crate) enum RemoveOnDrop {
    /// A file, identified by device and inode as well as path.
    File { path: PathBuf, dev: u64, ino: u64 },
    /// A POSIX message queue name; kept while it holds data (see [`Leftover`]).
    PosixMq(String, Leftover),
    /// A System V message queue (it outlives every process otherwise);
    /// kept while it holds data.
    SysvMq(SysvQueue, Leftover),
    /// This process's part in a shared-memory segment: dropped after the
    /// ring end, it leaves the segment, and the last party out removes the
    /// name unless `persist=true`.
    ShmSegment {
        segment: Arc<Segment>,
        persist: bool,
    },
}

/// What a queue's receiver knew when it was dropped: how many of its
/// senders' goodbyes it had not read. A queue left with no more messages
/// than that holds no data (each sender's last message is its goodbye) and
/// is removed; one with more is kept for the next receiver. (A sender that
/// is still sending when its receiver goes can lose its last message this
/// way: at most one per such sender, and only when nothing else is left.)
#[derive(Debug, Clone, Default)]
pub(crate) struct Leftover(pub(crate) Arc<std::sync::atomic::AtomicUsize>);

impl Leftover {
    fn only_goodbyes(&self, queued: usize) -> bool {
        queued <= self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl RemoveOnDrop {
    /// Guards the file now at `path` (not following a symlink).
    pub(crate) fn new(path: &Path) -> std::io::Result<Self> {
        let st = statat(CWD, path, AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(RemoveOnDrop::File {
            path: path.to_owned(),
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        match self {
            RemoveOnDrop::File { path, dev, ino } => {
                if let Ok(st) = statat(CWD, &*path, AtFlags::SYMLINK_NOFOLLOW) {
                    if st.st_dev == *dev && st.st_ino == *ino {
                        let _ = std::fs::remove_file(&*path);
                    }
                }
            }
            // A queue that holds messages keeps them for the next receiver.
            RemoveOnDrop::PosixMq(name, left) => {
                if crate::sys::mqueue::queued_in(name).is_ok_and(|n| left.only_goodbyes(n)) {
                    let _ = crate::sys::mqueue::unlink(name);
                }
            }
            RemoveOnDrop::SysvMq(queue, left) => {
                if queue.queued().is_ok_and(|n| left.only_goodbyes(n)) {
                    let _ = queue.remove();
                }
            }
            RemoveOnDrop::ShmSegment { segment, persist } => {
                segment.leave();
                if !*persist && segment.live_parties().is_empty() {
                    segment.unlink();
                }
            }
        }
    }
}
