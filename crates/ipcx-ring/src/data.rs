//! The record space: header words read and written atomically, payload
//! bytes copied.
//!
//! With [`Overflow::Block`](crate::Overflow::Block) a payload is only ever
//! touched by one side at a time (the commit protocol orders them), so it is
//! copied with `memcpy` and can be lent out as a slice. With
//! `DropOldest` the producer may overwrite a record while a lapped reader
//! copies it: both sides then copy word by word with relaxed atomics and
//! the reader checks afterwards that nothing was overwritten (a seqlock), so
//! even a lost race is not a data race. Under loom every copy is atomic, so
//! the model checker sees every byte.

#![allow(unsafe_code)]

use std::ptr::NonNull;

use crate::primitive::{AtomicU64, Ordering};

/// A view of `len` bytes of record space (8-aligned, `len` a power of two).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Data {
    words: NonNull<AtomicU64>,
    len: usize,
}

impl Data {
    /// # Safety
    /// `words` points to `len / 8` initialised `AtomicU64`s that stay valid
    /// as long as this `Data` (or a copy) is used.
    pub(crate) unsafe fn new(words: NonNull<AtomicU64>, len: usize) -> Data {
        Data { words, len }
    }

    /// The header word at byte `index` (8-aligned, below `len`).
    #[inline]
    pub(crate) fn header(&self, index: usize) -> &AtomicU64 {
        assert!(
            index % 8 == 0 && index < self.len,
            "header index {index} out of range"
        );
        // SAFETY: in bounds and aligned (checked above); `new`'s contract
        // keeps the memory valid.
        unsafe { &*self.words.as_ptr().add(index / 8) }
    }

    #[inline]
    fn check(&self, index: usize, len: usize) {
        assert!(
            index % 8 == 0 && index <= self.len && len <= self.len - index,
            "record bytes {index}+{len} out of range"
        );
    }

    /// Copies `src` to byte `index` (the caller owns those bytes now).
    #[inline]
    pub(crate) fn copy_in(&self, index: usize, src: &[u8]) {
        #[cfg(loom)]
        self.copy_in_atomic(index, src);
        #[cfg(not(loom))]
        {
            self.check(index, src.len());
            // SAFETY: in bounds (checked); the commit protocol gives the
            // producer these bytes alone until it commits them.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    src.as_ptr(),
                    self.words.as_ptr().cast::<u8>().add(index),
                    src.len(),
                )
            }
        }
    }

    /// Copies `dst.len()` bytes from byte `index` (the caller may read them).
    #[inline]
    pub(crate) fn copy_out(&self, index: usize, dst: &mut [u8]) {
        #[cfg(loom)]
        self.copy_out_atomic(index, dst);
        #[cfg(not(loom))]
        {
            self.check(index, dst.len());
            // SAFETY: in bounds (checked); the record is committed and the
            // producer does not touch it until this reader releases it.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    self.words.as_ptr().cast::<u8>().add(index),
                    dst.as_mut_ptr(),
                    dst.len(),
                )
            }
        }
    }

    /// Copies `src` to byte `index` one relaxed atomic word at a time; the
    /// last word is padded with zeros (records are whole words).
    pub(crate) fn copy_in_atomic(&self, index: usize, src: &[u8]) {
        self.check(index, src.len().next_multiple_of(8));
        for (i, chunk) in src.chunks(8).enumerate() {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.header(index + 8 * i)
                .store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
    }

    /// Copies out one relaxed atomic word at a time.
    pub(crate) fn copy_out_atomic(&self, index: usize, dst: &mut [u8]) {
        self.check(index, dst.len().next_multiple_of(8));
        for (i, chunk) in dst.chunks_mut(8).enumerate() {
            let word = self.header(index + 8 * i).load(Ordering::Relaxed);
            chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
        }
    }

    /// The bytes at `index..index + len`.
    ///
    /// # Safety
    /// The caller holds a committed, unreleased record there (blocking
    /// mode): the producer does not write it until it is released.
    #[cfg(not(loom))]
    pub(crate) unsafe fn slice(&self, index: usize, len: usize) -> &[u8] {
        self.check(index, len);
        // SAFETY: in bounds (checked); no writer while the caller holds the
        // record (the caller's contract).
        unsafe { std::slice::from_raw_parts(self.words.as_ptr().cast::<u8>().add(index), len) }
    }

    /// The bytes at `index..index + len`, for the producer to fill.
    ///
    /// # Safety
    /// The caller has reserved those bytes and nobody reads them until it
    /// commits; it must not hold two such slices at once.
    #[cfg(not(loom))]
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn slice_mut(&self, index: usize, len: usize) -> &mut [u8] {
        self.check(index, len);
        // SAFETY: in bounds (checked); reserved for the producer alone (the
        // caller's contract).
        unsafe { std::slice::from_raw_parts_mut(self.words.as_ptr().cast::<u8>().add(index), len) }
    }
}
