//! A large receive buffer in anonymous memory of its own.
//!
//! A seqpacket connection must be able to take a packet of up to
//! `max_msg` (megabytes) in one `recv`. A heap buffer that size is zeroed
//! by `calloc` and, once the allocator starts reusing such blocks, stays
//! resident: a receiver that had 1 000 connections at once, three times
//! over, sat at 4 GB (wmem_max 4 MiB here). A mapping of its own has pages
//! only where the kernel wrote a packet, gives everything back when
//! dropped, and after a large packet its pages beyond the first 64 KiB are
//! given back too ([`BigBuf::shrink`]).

#![allow(unsafe_code)] // mmap/munmap/madvise; each block says why it is sound.

use std::io;
use std::ptr::NonNull;

use rustix::mm::{Advice, MapFlags, ProtFlags};

/// Bytes a buffer keeps resident after a large packet.
const KEEP: usize = 64 * 1024;

pub(crate) struct BigBuf {
    ptr: NonNull<u8>,
    len: usize,
    /// The furthest byte written since the last shrink.
    used: usize,
}

// SAFETY: the mapping is owned by this value alone (like a Box<[u8]>).
unsafe impl Send for BigBuf {}
// SAFETY: shared access is read-only through &self.
unsafe impl Sync for BigBuf {}

impl BigBuf {
    pub(crate) fn new(len: usize) -> io::Result<BigBuf> {
        let len = len.max(1);
        // SAFETY: a fresh private anonymous mapping at an address the
        // kernel chooses: it aliases nothing.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::NORESERVE,
            )
        }?;
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave null"))?;
        Ok(BigBuf { ptr, len, used: 0 })
    }

    /// Notes that `n` bytes at the start were just written (a packet).
    pub(crate) fn wrote(&mut self, n: usize) {
        self.used = self.used.max(n.min(self.len));
    }

    /// Gives back the pages beyond the first 64 KiB if a large packet
    /// touched them (call before the next receive, never while a message
    /// in the buffer is still lent).
    pub(crate) fn shrink(&mut self) {
        if self.used <= KEEP {
            return;
        }
        let page = rustix::param::page_size();
        let from = KEEP.next_multiple_of(page);
        let end = self.used.next_multiple_of(page).min(self.len);
        if end > from {
            // SAFETY: [from, end) lies inside our mapping (page-aligned);
            // MADV_DONTNEED on private anonymous memory makes it read back
            // as zeroes, which nothing here depends on either way.
            let _ = unsafe {
                rustix::mm::madvise(
                    self.ptr.as_ptr().add(from).cast(),
                    end - from,
                    Advice::LinuxDontNeed,
                )
            };
        }
        self.used = KEEP;
    }
}

impl std::ops::Deref for BigBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `len` mapped, initialised (zero-filled) bytes owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for BigBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for BigBuf {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, unmapped once; no slice of it
        // outlives self.
        let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

impl std::fmt::Debug for BigBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigBuf")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}
