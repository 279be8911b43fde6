//! POSIX shared memory: a named region mapped into every process that opens it.
//!
//! # References
//! - [shm_open(3)](https://man7.org/linux/man-pages/man3/shm_open.3.html)
//! - [mmap(2)](https://man7.org/linux/man-pages/man2/mmap.2.html)

#![allow(unsafe_code)] // mapping memory is unsafe by nature; each block says why it is sound.

use std::io;
use std::ptr::NonNull;

use std::os::fd::OwnedFd;

use rustix::fs::{Mode, OFlags};
use rustix::mm::{MapFlags, ProtFlags};

/// A shared mapping of a whole named region, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain shared memory, valid in every thread; what
// lives in it is synchronised by its users (process-shared pthread objects).
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

/// `/dev/shm` cannot hold a region of `wanted` bytes (`free` are left).
#[derive(Debug)]
pub(crate) struct NoRoom {
    pub(crate) wanted: u64,
    pub(crate) free: u64,
}

impl std::fmt::Display for NoRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "/dev/shm has room for {} KiB, the ring needs {} KiB",
            self.free / 1024,
            self.wanted / 1024
        )
    }
}

impl std::error::Error for NoRoom {}

impl Region {
    /// Creates region `name` of `len` zeroed bytes with `mode` (fails if it
    /// exists, and never through a symlink).
    pub(crate) fn create(name: &str, len: usize, mode: u32) -> io::Result<Region> {
        let fd = open_shm(
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::RDWR,
            Mode::from_raw_mode(mode),
        )?;
        // fchmod: the mode given to open went through the umask.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))?;
        if let Err(e) = rustix::fs::ftruncate(&fd, len as u64) {
            let _ = unlink(name);
            return Err(e.into());
        }
        // Take the pages now: a tmpfs that cannot hold them says ENOSPC
        // here, instead of SIGBUS when a page is first touched.
        if let Err(e) =
            rustix::fs::fallocate(&fd, rustix::fs::FallocateFlags::empty(), 0, len as u64)
        {
            let _ = unlink(name);
            if e == rustix::io::Errno::NOSPC {
                let free = rustix::fs::fstatvfs(&fd)
                    .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                    .unwrap_or(0);
                return Err(io::Error::new(
                    io::ErrorKind::StorageFull,
                    NoRoom {
                        wanted: len as u64,
                        free,
                    },
                ));
            }
            return Err(e.into());
        }
        Self::map(&fd, len)
    }

    /// Maps the existing region `name` whole; its length is what the file
    /// says. A symlink is refused.
    pub(crate) fn open(name: &str) -> io::Result<Region> {
        let fd = open_shm(name, OFlags::RDWR, Mode::empty())?;
        let len = rustix::fs::fstat(&fd)?.st_size as usize;
        Self::map(&fd, len)
    }

    /// The uid that owns region `name` (without opening it).
    pub(crate) fn owner(name: &str) -> io::Result<u32> {
        let st = rustix::fs::lstat(shm_path(name))?;
        Ok(st.st_uid)
    }

    /// A new anonymous region of `len` zeroed bytes (`memfd_create`, close
    /// on exec), and the fd that names it: gone when the last fd and
    /// mapping are, however the process ends.
    pub(crate) fn anonymous(name: &str, len: usize) -> io::Result<(Region, OwnedFd)> {
        let fd = rustix::fs::memfd_create(name, rustix::fs::MemfdFlags::CLOEXEC)?;
        rustix::fs::ftruncate(&fd, len as u64)?;
        Ok((Self::map(&fd, len)?, fd))
    }

    /// Maps all of `fd` for reading only (it may have been opened read-only).
    pub(crate) fn view(fd: &OwnedFd) -> io::Result<Region> {
        let len = rustix::fs::fstat(fd)?.st_size as usize;
        Self::map_with(fd, len, ProtFlags::READ)
    }

    fn map(fd: &OwnedFd, len: usize) -> io::Result<Region> {
        Self::map_with(fd, len, ProtFlags::READ | ProtFlags::WRITE)
    }

    fn map_with(fd: &OwnedFd, len: usize, prot: ProtFlags) -> io::Result<Region> {
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the shared region is empty",
            ));
        }
        // SAFETY: a fresh shared mapping of `len` bytes of `fd` at an address
        // the kernel chooses: it aliases no Rust object. It stays valid until
        // munmap in Drop; the fd may be closed after mmap.
        let ptr =
            unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, MapFlags::SHARED, fd, 0)? };
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Region { ptr, len })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `map`, unmapped once.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

pub(crate) fn unlink(name: &str) -> io::Result<()> {
    Ok(rustix::shm::unlink(name)?)
}

/// Where `shm_open(name)` puts the region (`name` starts with `/`).
pub(crate) fn shm_path(name: &str) -> String {
    format!("/dev/shm/{}", name.trim_start_matches('/'))
}

/// `shm_open`, plus `O_NOFOLLOW`: a symlink planted at the name is refused
/// (glibc's shm_open does the same; rustix's does not).
fn open_shm(name: &str, flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        shm_path(name),
        flags | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        mode,
    )?)
}
