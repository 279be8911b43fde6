//! The limit: a minimal hand-written SPSC byte ring over the same kind of
//! shared memory. Head and tail on their own lines, each side caching the
//! other's index, 4-byte length + payload records padded to 8 bytes, a
//! padding marker at the wrap. No checks, no commit markers, no waiting
//! but spinning: what a careful engineer writes for one job.

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};

const CTL: usize = 256;
const PAD: u32 = u32::MAX;

/// One ring in a shared mapping (`/dev/shm/<name>`).
pub struct Ring {
    base: *mut u8,
    cap: usize,
    local: u64,
    cached: u64,
}

fn round8(n: usize) -> usize {
    (n + 7) & !7
}

impl Ring {
    /// Creates (`create`) or opens the ring `name` with `cap` bytes of records.
    pub fn open(name: &str, cap: usize, create: bool) -> Ring {
        let base = crate::mapping::map(name, CTL + cap, create, |_| {});
        Ring {
            base,
            cap,
            local: 0,
            cached: 0,
        }
    }

    fn head(&self) -> &AtomicU64 {
        // SAFETY: offset 0 of the mapping, 8-aligned.
        unsafe { &*self.base.cast::<AtomicU64>() }
    }

    fn tail(&self) -> &AtomicU64 {
        // SAFETY: offset 128 of the mapping, 8-aligned.
        unsafe { &*self.base.add(128).cast::<AtomicU64>() }
    }

    fn at(&self, pos: u64) -> *mut u8 {
        // SAFETY: masked into the record area.
        unsafe { self.base.add(CTL + (pos as usize & (self.cap - 1))) }
    }

    /// Producer: copies `msg` in, spinning while full.
    pub fn send(&mut self, msg: &[u8]) {
        let rec = 8 + round8(msg.len());
        let idx = self.local as usize & (self.cap - 1);
        let pad = if idx + rec > self.cap {
            self.cap - idx
        } else {
            0
        };
        while self.local + (pad + rec) as u64 - self.cached > self.cap as u64 {
            self.cached = self.head().load(Ordering::Acquire);
            std::hint::spin_loop();
        }
        if pad > 0 {
            // SAFETY: room checked above; 8-aligned record start.
            unsafe { self.at(self.local).cast::<u32>().write(PAD) };
            self.local += pad as u64;
        }
        // SAFETY: room checked above; the record fits before the end.
        unsafe {
            self.at(self.local).cast::<u32>().write(msg.len() as u32);
            std::ptr::copy_nonoverlapping(msg.as_ptr(), self.at(self.local + 8), msg.len());
        }
        self.local += rec as u64;
        self.tail().store(self.local, Ordering::Release);
    }

    /// Consumer: lends the next message to `f`, spinning while empty.
    pub fn recv<R>(&mut self, f: impl FnOnce(&[u8]) -> R) -> R {
        loop {
            while self.local == self.cached {
                self.cached = self.tail().load(Ordering::Acquire);
                std::hint::spin_loop();
            }
            // SAFETY: a record the producer published (tail acquired).
            let len = unsafe { self.at(self.local).cast::<u32>().read() };
            if len == PAD {
                self.local += (self.cap - (self.local as usize & (self.cap - 1))) as u64;
                continue;
            }
            // SAFETY: as above; the payload follows the length.
            let bytes =
                unsafe { std::slice::from_raw_parts(self.at(self.local + 8), len as usize) };
            let r = f(bytes);
            self.local += (8 + round8(len as usize)) as u64;
            self.head().store(self.local, Ordering::Release);
            return r;
        }
    }
}
