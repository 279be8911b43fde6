//! A shared-memory segment: ipcx's header, then an `ipcx-ring` ring.
//!
//! ```text
//! 0      SegmentHeader  magic "ipcx-shm", layout version, ring geometry,
//!                       receive type, creator uid, ready flag, and who is
//!                       attached: the producer's and each reader's
//!                       (pid, start time)
//! 4096   the ring       ipcx_ring::layout (control, reader slots, records)
//! ```
//! The creator fills the header, then sets `ready` (release). An opener
//! waits for `ready`, then checks every field against the mapping's real
//! length before it builds a ring over it: nothing in the header is trusted.

#![allow(unsafe_code)] // the header lives in the mapping; each block says why it is sound.

use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ipcx_ring::{Geometry, Overflow, Ring};

use crate::codec::Identity;
use crate::error::{Error, ErrorKind};
use crate::sys::process::ProcessId;
use crate::sys::shm::{self, Region};

pub(crate) const MAGIC: [u8; 8] = *b"ipcx-shm";
pub(crate) const LAYOUT_VERSION: u32 = 1;
/// Bytes before the ring: one page.
pub(crate) const HEADER_LEN: usize = 4096;
const TYPE_NAME_MAX: usize = 128;

/// Who is attached, as other processes can check (see [`ProcessId`]).
#[repr(C)]
#[derive(Debug)]
pub(crate) struct Party {
    pid: AtomicU32,
    _pad: u32,
    start: AtomicU64,
}

impl Party {
    pub(crate) fn set(&self, who: ProcessId) {
        self.start.store(who.start, Ordering::Relaxed);
        self.pid.store(who.pid, Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        self.pid.store(0, Ordering::Release);
    }

    /// The process recorded here (values from shared memory: only ever
    /// used to look a process up).
    pub(crate) fn get(&self) -> ProcessId {
        ProcessId {
            pid: self.pid.load(Ordering::Acquire),
            start: self.start.load(Ordering::Relaxed),
        }
    }
}

#[repr(C)]
#[derive(Debug)]
pub(crate) struct SegmentHeader {
    magic: [u8; 8],
    version: u32,
    header_len: u32,
    capacity: u64,
    readers: u32,
    overflow: u32,
    creator_uid: u32,
    type_name_len: u32,
    type_fingerprint: u64,
    type_name: [u8; TYPE_NAME_MAX],
    ready: AtomicU32,
    _pad: u32,
    /// The process that created the segment, recorded before `ready`: a
    /// segment being set up is never taken for one left by the dead.
    creator: Party,
    pub(crate) producer: Party,
    pub(crate) reader: [Party; Geometry::MAX_READERS],
}

const _: () = assert!(std::mem::size_of::<SegmentHeader>() <= HEADER_LEN);
const _: () = assert!(std::mem::size_of::<Party>() == 16);

/// What the creator puts in the header.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) geometry: Geometry,
    pub(crate) receives: Identity,
}

/// A mapped, checked segment and the ring in it.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) ring: Ring,
    header: NonNull<SegmentHeader>,
    pub(crate) name: String,
    pub(crate) receives: Identity,
    /// Declared last: unmapped after everything that points into it.
    _region: Region,
}

// SAFETY: the header pointer points into `region`, which the Segment owns;
// everything shared in it is atomic.
unsafe impl Send for Segment {}
// SAFETY: as above.
unsafe impl Sync for Segment {}

/// Why an existing segment could not be used.
#[derive(Debug)]
pub(crate) enum AttachError {
    /// No segment of that name.
    Missing,
    /// Not (yet) a complete ipcx segment: the creator may have died
    /// half-way, or it is something else.
    NotReady,
    /// A real error to report.
    Error(Error),
}

impl Segment {
    /// Creates segment `name` (O_EXCL, `mode`, never through a symlink).
    /// `Ok(None)` if it exists already.
    pub(crate) fn create(name: &str, shape: &Shape, mode: u32) -> Result<Option<Segment>, Error> {
        let len = HEADER_LEN + shape.geometry.region_len();
        let region = match Region::create(name, len, mode) {
            Ok(r) => r,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(None),
            Err(e) => return Err(open_error(name, e)),
        };
        let header = region.as_ptr().cast::<SegmentHeader>();
        let mut type_name = [0u8; TYPE_NAME_MAX];
        let n = shape.receives.name.len().min(TYPE_NAME_MAX);
        type_name[..n].copy_from_slice(&shape.receives.name.as_bytes()[..n]);
        // SAFETY: the region is ours, fresh and large enough; nobody reads
        // these fields before `ready` is set below (with release).
        unsafe {
            header.write(SegmentHeader {
                magic: MAGIC,
                version: LAYOUT_VERSION,
                header_len: HEADER_LEN as u32,
                capacity: shape.geometry.capacity as u64,
                readers: shape.geometry.readers as u32,
                overflow: match shape.geometry.overflow {
                    Overflow::Block => 0,
                    Overflow::DropOldest => 1,
                },
                creator_uid: rustix::process::geteuid().as_raw(),
                type_name_len: n as u32,
                type_fingerprint: shape.receives.fingerprint,
                type_name,
                ready: AtomicU32::new(0),
                _pad: 0,
                creator: std::mem::zeroed(),
                producer: std::mem::zeroed(),
                reader: std::mem::zeroed(),
            })
        };
        let segment = Self::over(region, name, shape.geometry, shape.receives.clone())?;
        segment.header().creator.set(ProcessId::me());
        segment.header().ready.store(1, Ordering::Release);
        Ok(Some(segment))
    }

    /// Maps the existing segment `name` and checks its header, waiting up
    /// to `wait_ready` for a creator to finish filling it.
    pub(crate) fn attach(name: &str, wait_ready: Duration) -> Result<Segment, AttachError> {
        let owner = match Region::owner(name) {
            Ok(uid) => uid,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(AttachError::Missing),
            Err(e) => return Err(AttachError::Error(open_error(name, e))),
        };
        let me = rustix::process::geteuid().as_raw();
        if owner != me && me != 0 {
            return Err(AttachError::Error(Error::new(
                ErrorKind::PermissionDenied,
                format!(
                    "{} belongs to uid {owner}, not to this process (uid {me}): not trusted",
                    shm::shm_path(name)
                ),
            )));
        }
        let until = Instant::now() + wait_ready;
        // A creator makes the file, then sizes it: one that is still empty
        // (or too short) is being set up, and is waited for like one whose
        // header is not ready yet.
        let region = loop {
            match Region::open(name) {
                Ok(r) if r.len() >= HEADER_LEN => break r,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(AttachError::Missing),
                Err(e) if e.kind() == io::ErrorKind::InvalidData => {}
                Err(e) => return Err(AttachError::Error(open_error(name, e))),
            }
            if Instant::now() >= until {
                return Err(AttachError::NotReady);
            }
            std::thread::sleep(Duration::from_millis(1));
        };
        // SAFETY: the region has at least HEADER_LEN bytes; we only read
        // the ready flag (atomic) until it is set.
        let ready = unsafe { &(*region.as_ptr().cast::<SegmentHeader>()).ready };
        while ready.load(Ordering::Acquire) != 1 {
            if Instant::now() >= until {
                return Err(AttachError::NotReady);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: the header is complete (ready); read as a copy of plain
        // fields, each checked below before use.
        let fields = unsafe { HeaderFields::read(region.as_ptr().cast()) };
        let geometry = fields
            .check(name, region.len())
            .map_err(AttachError::Error)?;
        let receives = fields.type_tag();
        Self::over(region, name, geometry, receives).map_err(AttachError::Error)
    }

    fn over(
        region: Region,
        name: &str,
        geometry: Geometry,
        receives: Identity,
    ) -> Result<Segment, Error> {
        let header = NonNull::new(region.as_ptr().cast::<SegmentHeader>())
            .ok_or_else(|| Error::new(ErrorKind::Io, "null mapping"))?;
        // SAFETY: HEADER_LEN is inside the mapping (checked by the callers:
        // created with, or checked to have, HEADER_LEN + region_len bytes);
        // page-aligned, so 128-aligned; the mapping lives as long as the
        // Segment, which holds every Ring made from it in fields dropped
        // before `region`.
        let ring = unsafe {
            Ring::from_raw(
                NonNull::new_unchecked(region.as_ptr().add(HEADER_LEN)),
                geometry,
            )
        }
        .map_err(|e| Error::new(ErrorKind::Protocol, e.to_string()))?;
        Ok(Segment {
            ring,
            header,
            name: name.to_owned(),
            receives,
            _region: region,
        })
    }

    pub(crate) fn header(&self) -> &SegmentHeader {
        // SAFETY: inside the mapping, valid while self lives; only its
        // atomic fields are read through this reference after creation.
        unsafe { self.header.as_ref() }
    }

    /// Every process recorded as attached that still runs.
    pub(crate) fn live_parties(&self) -> Vec<ProcessId> {
        let h = self.header();
        let snapshot = self.ring.snapshot();
        let producer =
            (snapshot.producer_state == ipcx_ring::ProducerState::Open).then(|| h.producer.get());
        let readers = snapshot
            .readers
            .iter()
            .map(|&(slot, _)| h.reader[slot].get());
        producer
            .into_iter()
            .chain(readers)
            .filter(|p| p.is_alive())
            .collect()
    }

    /// This process is done with the segment: if it created it, it no
    /// longer counts as a party (see `creator`).
    pub(crate) fn leave(&self) {
        let creator = &self.header().creator;
        if creator.get() == ProcessId::me() {
            creator.clear();
        }
    }

    /// Removes the name (the mapping stays valid for whoever has it).
    pub(crate) fn unlink(&self) {
        let _ = shm::unlink(&self.name);
    }
}

/// The header's plain fields, copied out of shared memory.
struct HeaderFields {
    magic: [u8; 8],
    version: u32,
    header_len: u32,
    capacity: u64,
    readers: u32,
    overflow: u32,
    type_name_len: u32,
    type_fingerprint: u64,
    type_name: [u8; TYPE_NAME_MAX],
}

impl HeaderFields {
    /// # Safety
    /// `header` points to at least `HEADER_LEN` mapped bytes.
    unsafe fn read(header: *const SegmentHeader) -> HeaderFields {
        use std::ptr::{addr_of, read_volatile};
        // SAFETY: in bounds (the caller's contract); volatile copies of
        // plain integers: any bit pattern is a valid value.
        unsafe {
            HeaderFields {
                magic: read_volatile(addr_of!((*header).magic)),
                version: read_volatile(addr_of!((*header).version)),
                header_len: read_volatile(addr_of!((*header).header_len)),
                capacity: read_volatile(addr_of!((*header).capacity)),
                readers: read_volatile(addr_of!((*header).readers)),
                overflow: read_volatile(addr_of!((*header).overflow)),
                type_name_len: read_volatile(addr_of!((*header).type_name_len)),
                type_fingerprint: read_volatile(addr_of!((*header).type_fingerprint)),
                type_name: read_volatile(addr_of!((*header).type_name)),
            }
        }
    }

    fn check(&self, name: &str, mapped: usize) -> Result<Geometry, Error> {
        let bad = |what: String| {
            Error::new(
                ErrorKind::Protocol,
                format!(
                    "{} is not a usable ipcx segment: {what}",
                    shm::shm_path(name)
                ),
            )
        };
        if self.magic != MAGIC {
            return Err(bad("no ipcx-shm magic".into()));
        }
        if self.version != LAYOUT_VERSION || self.header_len as usize != HEADER_LEN {
            return Err(bad(format!(
                "layout version {} (this ipcx speaks {LAYOUT_VERSION})",
                self.version
            )));
        }
        let geometry = Geometry {
            capacity: usize::try_from(self.capacity).map_err(|_| bad("capacity".into()))?,
            readers: self.readers as usize,
            overflow: match self.overflow {
                0 => Overflow::Block,
                1 => Overflow::DropOldest,
                n => return Err(bad(format!("overflow mode {n}"))),
            },
        };
        geometry.validate().map_err(|e| bad(e.to_string()))?;
        if HEADER_LEN.checked_add(geometry.region_len()) != Some(mapped) {
            return Err(bad(format!(
                "{mapped} bytes mapped, the header says {}",
                HEADER_LEN + geometry.region_len()
            )));
        }
        Ok(geometry)
    }

    fn type_tag(&self) -> Identity {
        let n = (self.type_name_len as usize).min(TYPE_NAME_MAX);
        Identity::declared(
            String::from_utf8_lossy(&self.type_name[..n]).into_owned(),
            self.type_fingerprint,
        )
    }
}

pub(crate) fn open_error(name: &str, e: io::Error) -> Error {
    let path = shm::shm_path(name);
    match e.kind() {
        io::ErrorKind::PermissionDenied => Error::io(format!("{path}: permission denied"), e),
        _ if e.raw_os_error() == Some(libc::ELOOP) => Error::new(
            ErrorKind::PermissionDenied,
            format!("{path} is a symbolic link: refused"),
        ),
        io::ErrorKind::StorageFull => Error::new(
            ErrorKind::Io,
            format!(
                "cannot create {path}: {e}; free space in /dev/shm or ask for less with \
                 ?capacity= (a power of two)"
            ),
        ),
        _ => Error::io(format!("cannot open {path}"), e),
    }
}
