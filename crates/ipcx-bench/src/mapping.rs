//! A file in /dev/shm mapped shared, for the rings that are not ipcx's
//! channel (the hand-written ring, ipcx-ring bare). The creator sizes and
//! sets it up under a temporary name, then renames it into place: the
//! peer never maps a file shorter than the ring, or one not set up yet.

#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

/// Maps `/dev/shm/<name>`, `len` bytes: created (zeroed, then `setup` on
/// the mapping before anyone else can open it) or opened (waiting up to
/// 10 s for its creator). The mapping lives until the process exits.
pub fn map(name: &str, len: usize, create: bool, setup: impl FnOnce(*mut u8)) -> *mut u8 {
    let path = format!("/dev/shm/{name}");
    let tmp = format!("{path}.tmp");
    let fd = if create {
        let fd = rustix::fs::open(
            &tmp,
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::from_raw_mode(0o600),
        )
        .expect("create ring");
        rustix::fs::ftruncate(&fd, len as u64).expect("truncate");
        fd
    } else {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match rustix::fs::open(&path, OFlags::RDWR, Mode::empty()) {
                Ok(fd) => break fd,
                Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(1)),
                Err(e) => panic!("open {path}: {e}"),
            }
        }
    };
    // SAFETY: a fresh shared mapping of the whole file, never unmapped
    // (the process exits with it).
    let base = unsafe {
        rustix::mm::mmap(
            std::ptr::null_mut(),
            len,
            rustix::mm::ProtFlags::READ | rustix::mm::ProtFlags::WRITE,
            rustix::mm::MapFlags::SHARED,
            &fd,
            0,
        )
        .expect("mmap")
        .cast::<u8>()
    };
    if create {
        setup(base);
        std::fs::rename(&tmp, &path).expect("rename");
    }
    base
}
