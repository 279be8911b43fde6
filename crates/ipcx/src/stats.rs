//! Per-process statistics that tools (`ipcx top`, `ipcx ls`) read
//! without attaching to the process.
//!
//! The first open endpoint of a process creates `/dev/shm/ipcx-stats.PID`
//! (0600, `O_EXCL`, never through a symlink): a header naming the process
//! (pid and start time) and [`SLOTS`] slots. Each open [`Sender`](crate::Sender)
//! or [`Receiver`](crate::Receiver) takes a slot, writes its endpoint string
//! there, and keeps its counters in it: messages, bytes, errors, and for
//! senders the time spent waiting for room. The last endpoint to close
//! removes the file; a file whose process is dead is removed by the next
//! process that creates its own (and by `ipcx rm`).
//!
//! The hot path stays free of syscalls and locks: the counters are kept in
//! the endpoint (under the lock it already holds) and copied into the
//! slot with plain stores (one writer per slot, no read-modify-write).
//! Readers see values at most one message old.
//!
//! Set `IPCX_STATS=0` in the environment (or call [`set_enabled`]) to
//! publish nothing.
//!
//! ```
//! let ep = format!("shm:/ipcx-doc-stats-{}", std::process::id());
//! let rx = ipcx::Receiver::<ipcx::Bytes>::open(&ep)?;
//! let tx = ipcx::Sender::<ipcx::Bytes>::open(&ep)?;
//! tx.send_bytes(b"counted")?;
//! rx.recv_bytes()?;
//! let me = ipcx::stats::read(std::process::id()).expect("this process publishes");
//! let sender = me.endpoints.iter().find(|e| e.endpoint == ep && e.role == ipcx::stats::Role::Sender).unwrap();
//! assert_eq!((sender.messages, sender.bytes), (1, 7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![allow(unsafe_code)] // the slots live in a shared mapping; each block says why it is sound.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::sys::process::ProcessId;
use crate::sys::shm::{self, Region};

const MAGIC: [u8; 8] = *b"ipcx-sts";
const VERSION: u32 = 1;
/// Endpoints one process can publish at once (more are not counted).
pub const SLOTS: usize = 128;
const ENDPOINT_MAX: usize = 176;
const HEADER_LEN: usize = 64;
const SLOT_LEN: usize = 256;
const AREA_LEN: usize = HEADER_LEN + SLOTS * SLOT_LEN;

/// The name prefix of statistics files in `/dev/shm`.
pub const FILE_PREFIX: &str = "ipcx-stats.";

#[repr(C)]
struct Header {
    magic: [u8; 8],
    version: u32,
    slots: u32,
    pid: u32,
    _pad: u32,
    start: u64,
}

#[repr(C)]
struct Slot {
    /// 0 free, 1 in use.
    state: AtomicU32,
    role: AtomicU32,
    endpoint_len: AtomicU32,
    _pad: u32,
    messages: AtomicU64,
    bytes: AtomicU64,
    errors: AtomicU64,
    blocked_ns: AtomicU64,
    endpoint: [AtomicU8x8; ENDPOINT_MAX / 8],
    _tail: [u64; 4],
}

/// Eight bytes of the endpoint string, stored as one atomic word.
#[repr(transparent)]
struct AtomicU8x8(AtomicU64);

const _: () = assert!(std::mem::size_of::<Header>() <= HEADER_LEN);
const _: () = assert!(std::mem::size_of::<Slot>() == SLOT_LEN);

/// Which end an endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A [`Sender`](crate::Sender).
    Sender,
    /// A [`Receiver`](crate::Receiver).
    Receiver,
}

/// The process's area, while any endpoint uses it.
struct Area {
    region: Region,
    name: String,
    in_use: usize,
}

fn area() -> &'static Mutex<Option<Area>> {
    static AREA: OnceLock<Mutex<Option<Area>>> = OnceLock::new();
    AREA.get_or_init(|| Mutex::new(None))
}

/// 0 not decided yet, 1 on, 2 off.
static ENABLED: AtomicU32 = AtomicU32::new(0);

fn enabled() -> bool {
    match ENABLED.load(Ordering::Relaxed) {
        1 => true,
        2 => false,
        _ => {
            let on = std::env::var("IPCX_STATS").map_or(true, |v| v != "0");
            set_enabled(on);
            on
        }
    }
}

/// Turns publishing on or off for endpoints opened from now on (open ones
/// keep what they have). Overrides `IPCX_STATS`.
pub fn set_enabled(on: bool) {
    ENABLED.store(if on { 1 } else { 2 }, Ordering::Relaxed);
}

fn file_name(pid: u32) -> String {
    format!("/{FILE_PREFIX}{pid}")
}

/// An endpoint's counters: kept here, copied into its slot.
#[derive(Debug, Default)]
pub(crate) struct Counter {
    slot: Option<SlotRef>,
    messages: u64,
    bytes: u64,
    errors: u64,
    blocked_ns: u64,
}

#[derive(Debug)]
struct SlotRef {
    slot: std::ptr::NonNull<Slot>,
    /// The process the area was made for (a forked child must not write
    /// into its parent's file through the inherited mapping).
    pid: u32,
}

// SAFETY: the slot pointer points into the process-wide mapping, which
// stays mapped while any slot is in use (reference counted in `Area`);
// its fields are atomics.
unsafe impl Send for SlotRef {}
// SAFETY: as above.
unsafe impl Sync for SlotRef {}

impl Counter {
    /// Takes a slot for `endpoint` (counting nothing if stats are off,
    /// the area cannot be made, or every slot is taken).
    pub(crate) fn new(role: Role, endpoint: &str) -> Counter {
        Counter {
            slot: enabled().then(|| claim(role, endpoint)).flatten(),
            ..Counter::default()
        }
    }

    /// One message of `len` bytes went through.
    #[inline]
    pub(crate) fn message(&mut self, len: usize) {
        self.messages += 1;
        self.bytes += len as u64;
        if let Some(s) = &self.slot {
            // SAFETY: see SlotRef; plain (not read-modify-write) stores by
            // the slot's only writer.
            let slot = unsafe { s.slot.as_ref() };
            slot.messages.store(self.messages, Ordering::Relaxed);
            slot.bytes.store(self.bytes, Ordering::Relaxed);
        }
    }

    /// A failed send or receive (not a timeout or an empty try).
    pub(crate) fn error(&mut self) {
        self.errors += 1;
        if let Some(s) = &self.slot {
            // SAFETY: as in `message`.
            unsafe { s.slot.as_ref() }
                .errors
                .store(self.errors, Ordering::Relaxed);
        }
    }

    /// Time spent waiting for room, in nanoseconds.
    pub(crate) fn blocked(&mut self, ns: u64) {
        self.blocked_ns += ns;
        if let Some(s) = &self.slot {
            // SAFETY: as in `message`.
            unsafe { s.slot.as_ref() }
                .blocked_ns
                .store(self.blocked_ns, Ordering::Relaxed);
        }
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        if let Some(s) = self.slot.take() {
            release(s);
        }
    }
}

fn claim(role: Role, endpoint: &str) -> Option<SlotRef> {
    let me = ProcessId::me();
    let mut guard = area().lock().unwrap_or_else(|p| p.into_inner());
    if guard.as_ref().is_some_and(|a| a.name != file_name(me.pid)) {
        // A forked child with its parent's mapping: start its own.
        if let Some(old) = guard.take() {
            std::mem::forget(old.region); // the parent's file, not ours to unmap twice
        }
    }
    if guard.is_none() {
        *guard = Some(create(me)?);
    }
    let area = guard.as_mut()?;
    for i in 0..SLOTS {
        // SAFETY: slot i lies inside the AREA_LEN-byte mapping.
        let slot = unsafe {
            &*area
                .region
                .as_ptr()
                .add(HEADER_LEN + i * SLOT_LEN)
                .cast::<Slot>()
        };
        if slot.state.load(Ordering::Relaxed) != 0 {
            continue;
        }
        let bytes = endpoint.as_bytes();
        let n = bytes.len().min(ENDPOINT_MAX);
        for (w, chunk) in slot
            .endpoint
            .iter()
            .zip(bytes[..n].chunks(8).chain(std::iter::repeat(&[][..])))
        {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            w.0.store(u64::from_le_bytes(word), Ordering::Relaxed);
        }
        slot.endpoint_len.store(n as u32, Ordering::Relaxed);
        slot.role.store(role as u32, Ordering::Relaxed);
        for c in [&slot.messages, &slot.bytes, &slot.errors, &slot.blocked_ns] {
            c.store(0, Ordering::Relaxed);
        }
        slot.state.store(1, Ordering::Release);
        area.in_use += 1;
        return Some(SlotRef {
            slot: std::ptr::NonNull::from(slot),
            pid: me.pid,
        });
    }
    None
}

fn release(s: SlotRef) {
    let mut guard = area().lock().unwrap_or_else(|p| p.into_inner());
    if s.pid != std::process::id() {
        return; // inherited across fork: the parent's slot
    }
    // SAFETY: the area is still mapped: this slot counted in `in_use`.
    unsafe { s.slot.as_ref() }.state.store(0, Ordering::Release);
    if let Some(area) = guard.as_mut() {
        area.in_use -= 1;
        if area.in_use == 0 {
            let _ = shm::unlink(&area.name);
            *guard = None; // unmaps
        }
    }
}

fn create(me: ProcessId) -> Option<Area> {
    remove_stale();
    let name = file_name(me.pid);
    let region = match Region::create(&name, AREA_LEN, 0o600) {
        Ok(r) => r,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            // Left by a dead process with our pid: ours now.
            let _ = shm::unlink(&name);
            Region::create(&name, AREA_LEN, 0o600).ok()?
        }
        Err(_) => return None,
    };
    // SAFETY: a fresh mapping of AREA_LEN zeroed bytes, ours alone until
    // the magic is written last.
    unsafe {
        let h = region.as_ptr().cast::<Header>();
        (*h).version = VERSION;
        (*h).slots = SLOTS as u32;
        (*h).pid = me.pid;
        (*h).start = me.start;
        std::sync::atomic::fence(Ordering::Release);
        (*h).magic = MAGIC;
    }
    Some(Area {
        region,
        name,
        in_use: 0,
    })
}

/// Removes statistics files whose process is gone. Returns their names.
pub fn remove_stale() -> Vec<String> {
    let mut removed = Vec::new();
    for (pid, start) in files() {
        let alive = start.is_some_and(|start| ProcessId { pid, start }.is_alive());
        if !alive && pid != std::process::id() {
            let name = file_name(pid);
            if shm::unlink(&name).is_ok() {
                removed.push(name);
            }
        }
    }
    removed
}

/// (pid, start time) of every statistics file (start unknown if unreadable).
fn files() -> Vec<(u32, Option<u64>)> {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e
                .file_name()
                .to_str()?
                .strip_prefix(FILE_PREFIX)?
                .parse()
                .ok()?;
            Some((pid, read_header(pid).map(|h| h.1)))
        })
        .collect()
}

/// One endpoint's figures, as published.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct EndpointStats {
    /// The endpoint string.
    pub endpoint: String,
    /// Sender or receiver.
    pub role: Role,
    /// Messages sent or received.
    pub messages: u64,
    /// Payload bytes sent or received.
    pub bytes: u64,
    /// Failed sends or receives.
    pub errors: u64,
    /// Nanoseconds a sender waited for room.
    pub blocked_ns: u64,
}

/// What one process publishes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcessStats {
    /// The process.
    pub pid: u32,
    /// Whether it still runs (a file left by a dead process is stale).
    pub alive: bool,
    /// Its open endpoints.
    pub endpoints: Vec<EndpointStats>,
}

fn read_header(pid: u32) -> Option<(Region, u64)> {
    let name = file_name(pid);
    if Region::owner(&name).ok()? != rustix::process::geteuid().as_raw()
        && !rustix::process::geteuid().is_root()
    {
        return None;
    }
    let region = Region::open(&name).ok()?;
    if region.len() < AREA_LEN {
        return None;
    }
    // SAFETY: the region has AREA_LEN bytes; the header is plain integers
    // read by copy (any bit pattern is a value), checked before use.
    let (magic, version, slots, hpid, start) = unsafe {
        let h = region.as_ptr().cast::<Header>();
        std::sync::atomic::fence(Ordering::Acquire);
        (
            std::ptr::read_volatile(std::ptr::addr_of!((*h).magic)),
            std::ptr::read_volatile(std::ptr::addr_of!((*h).version)),
            std::ptr::read_volatile(std::ptr::addr_of!((*h).slots)),
            std::ptr::read_volatile(std::ptr::addr_of!((*h).pid)),
            std::ptr::read_volatile(std::ptr::addr_of!((*h).start)),
        )
    };
    (magic == MAGIC && version == VERSION && slots as usize == SLOTS && hpid == pid)
        .then_some((region, start))
}

/// What process `pid` publishes, if it publishes (and the caller may read it).
pub fn read(pid: u32) -> Option<ProcessStats> {
    let (region, start) = read_header(pid)?;
    let mut endpoints = Vec::new();
    for i in 0..SLOTS {
        // SAFETY: slot i lies inside the mapping (length checked); every
        // field is atomic and any value is tolerated.
        let slot = unsafe {
            &*region
                .as_ptr()
                .add(HEADER_LEN + i * SLOT_LEN)
                .cast::<Slot>()
        };
        if slot.state.load(Ordering::Acquire) != 1 {
            continue;
        }
        let n = (slot.endpoint_len.load(Ordering::Relaxed) as usize).min(ENDPOINT_MAX);
        let mut text = Vec::with_capacity(ENDPOINT_MAX);
        for w in &slot.endpoint {
            text.extend_from_slice(&w.0.load(Ordering::Relaxed).to_le_bytes());
        }
        text.truncate(n);
        endpoints.push(EndpointStats {
            endpoint: String::from_utf8_lossy(&text).into_owned(),
            role: if slot.role.load(Ordering::Relaxed) == Role::Receiver as u32 {
                Role::Receiver
            } else {
                Role::Sender
            },
            messages: slot.messages.load(Ordering::Relaxed),
            bytes: slot.bytes.load(Ordering::Relaxed),
            errors: slot.errors.load(Ordering::Relaxed),
            blocked_ns: slot.blocked_ns.load(Ordering::Relaxed),
        });
    }
    Some(ProcessStats {
        pid,
        alive: ProcessId { pid, start }.is_alive(),
        endpoints,
    })
}

/// Every process that publishes statistics (that the caller may read).
pub fn read_all() -> Vec<ProcessStats> {
    let mut all: Vec<ProcessStats> = files()
        .into_iter()
        .filter_map(|(pid, _)| read(pid))
        .collect();
    all.sort_by_key(|p| p.pid);
    all
}
