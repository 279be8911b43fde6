//! Per-process statistics that tools (`ipcx top`, `ipcx ls`) read
//! without attaching to the process.
//!
//! The first open endpoint of a process creates its area: an anonymous
//! memory file (`memfd_create`, named `ipcx-stats`) holding a header that
//! names the process (pid and start time) and [`SLOTS`] slots. Each open
//! [`Sender`](crate::Sender) or [`Receiver`](crate::Receiver) takes a slot,
//! writes its endpoint string there, and keeps its counters in it:
//! messages, bytes, errors, and for senders the time spent waiting for room.
//!
//! Nothing is left behind, however the process ends (SIGKILL included):
//! the area has no name in any filesystem, and the process announces it
//! with a presence mark, an abstract socket named `ipcx-stats.PID.FD` that
//! the kernel drops with the process. A tool finds the marks in
//! `/proc/net/unix` and maps the area read-only through `/proc/PID/fd/FD`,
//! which the kernel lets only the process's own user (and root) open.
//! The last endpoint to close closes both.
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

/// The name prefix of the statistics files older versions of ipcx kept in
/// `/dev/shm` (`ipcx rm` removes those of dead processes).
pub const FILE_PREFIX: &str = "ipcx-stats.";

/// The presence mark of a process's area: `ipcx-stats.PID.FD`.
const MARK_PREFIX: &str = "ipcx-stats.";

/// What `/proc/PID/fd/FD` reads as for an area.
const MEMFD_LINK: &str = "/memfd:ipcx-stats (deleted)";

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
    /// An [`rpc::Client`](crate::rpc::Client): messages are calls
    /// answered, errors calls that failed (remote errors, timeouts, the
    /// server gone), blocked the time spent waiting for replies.
    Client,
    /// An [`rpc::Server`](crate::rpc::Server): messages are requests
    /// answered, errors remote errors (the handler's), blocked the time
    /// spent in the handler.
    Server,
}

impl Role {
    /// A short name for tools: `send`, `recv`, `call`, `serve`.
    pub fn label(self) -> &'static str {
        match self {
            Role::Sender => "send",
            Role::Receiver => "recv",
            Role::Client => "call",
            Role::Server => "serve",
        }
    }

    fn from_word(word: u32) -> Role {
        match word {
            1 => Role::Receiver,
            2 => Role::Client,
            3 => Role::Server,
            _ => Role::Sender,
        }
    }
}

/// The process's area, while any endpoint uses it.
struct Area {
    region: Region,
    /// Keeps the memory file reachable through /proc/PID/fd.
    _memfd: std::os::fd::OwnedFd,
    /// Announces it (dropped with the area, or with the process).
    _mark: crate::sys::presence::Mark,
    /// The process that made it (a forked child inherits it).
    pid: u32,
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
    if guard.as_ref().is_some_and(|a| a.pid != me.pid) {
        // A forked child with its parent's mapping: start its own. The
        // inherited mapping stays (endpoints inherited across the fork
        // still point into it); the inherited fds are closed.
        if let Some(old) = guard.take() {
            std::mem::forget(old.region);
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
            *guard = None; // unmaps, closes the memory file and the mark
        }
    }
}

fn create(me: ProcessId) -> Option<Area> {
    let (region, memfd) = Region::anonymous("ipcx-stats", AREA_LEN).ok()?;
    let mark_name = format!(
        "{MARK_PREFIX}{}.{}",
        me.pid,
        std::os::fd::AsRawFd::as_raw_fd(&memfd)
    );
    let mark = crate::sys::presence::Mark::hold(&mark_name).ok()?;
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
        _memfd: memfd,
        _mark: mark,
        pid: me.pid,
        in_use: 0,
    })
}

/// Removes the statistics files older versions left in `/dev/shm` whose
/// process is gone. Returns their names.
pub fn remove_stale() -> Vec<String> {
    let mut removed = Vec::new();
    for pid in legacy_files() {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let name = file_name(pid);
            if shm::unlink(&name).is_ok() {
                removed.push(name);
            }
        }
    }
    removed
}

/// The pids of older versions' statistics files in `/dev/shm`.
fn legacy_files() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()?
                .strip_prefix(FILE_PREFIX)?
                .parse()
                .ok()
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
    /// Whether it still runs (its pid and start time match).
    pub alive: bool,
    /// Its open endpoints.
    pub endpoints: Vec<EndpointStats>,
}

/// Every announced area: (pid, fd in that process).
fn announced(prefix: &str) -> Vec<(u32, i32)> {
    crate::sys::presence::listed(prefix)
        .unwrap_or_default()
        .iter()
        .filter_map(|name| {
            let (pid, fd) = name.strip_prefix(MARK_PREFIX)?.split_once('.')?;
            Some((pid.parse().ok()?, fd.parse().ok()?))
        })
        .collect()
}

/// Maps process `pid`'s area (its fd `fd`) read-only. Anyone can bind a
/// mark: the fd must be the process's statistics memory file (checked by
/// its link before opening, so nothing else is ever opened), and the
/// header must name the process.
fn read_header(pid: u32, fd: i32) -> Option<(Region, u64)> {
    let path = format!("/proc/{pid}/fd/{fd}");
    if std::fs::read_link(&path).ok()?.as_os_str() != MEMFD_LINK {
        return None;
    }
    let file = rustix::fs::open(
        &path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ok()?;
    let st = rustix::fs::fstat(&file).ok()?;
    if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile
        || st.st_size as usize != AREA_LEN
    {
        return None;
    }
    let region = Region::view(&file).ok()?;
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
    announced(&format!("{MARK_PREFIX}{pid}."))
        .into_iter()
        .find_map(|(pid, fd)| read_area(pid, fd))
}

fn read_area(pid: u32, fd: i32) -> Option<ProcessStats> {
    let (region, start) = read_header(pid, fd)?;
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
            role: Role::from_word(slot.role.load(Ordering::Relaxed)),
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
    let mut all: Vec<ProcessStats> = announced(MARK_PREFIX)
        .into_iter()
        .filter_map(|(pid, fd)| read_area(pid, fd))
        .collect();
    all.sort_by_key(|p| p.pid);
    all
}
