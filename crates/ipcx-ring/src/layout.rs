//! Where everything lives in the region, and the shape of the ring.
//!
//! ```text
//! 0          Control   producer | status | data-ready | space-ready lines (4 × 128 B)
//! 512        readers   one 128-byte line per reader slot
//! 512+128·R  data      `capacity` bytes of records
//! ```
//! Every line is 128 bytes (two cache lines: the adjacent-line prefetcher
//! pulls pairs), so no two parties ever write the same line on the hot path.
//! A zeroed region is a valid empty ring.

use crate::primitive::{AtomicU32, AtomicU64};

/// Bytes per line: two 64-byte cache lines, against adjacent-line prefetch.
pub const LINE: usize = 128;

/// The largest payload one record can carry (the header keeps 30 bits).
pub const MAX_RECORD_LEN: usize = (1 << 30) - 1;

/// What a full ring does to its slowest reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// The producer waits until every reader has made room (the default).
    Block,
    /// The producer overwrites the oldest records; a reader it laps is told
    /// how many messages it missed. Readers copy every record out (it can be
    /// overwritten while they read), and the producer cannot loan.
    DropOldest,
}

/// The shape of a ring. The owner keeps it (and checks it against any header
/// it reads from shared memory): the ring never reads its own shape back
/// from the region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Bytes of record space, a power of two, at least 64.
    pub capacity: usize,
    /// How many readers can be attached at once (1 = single consumer).
    pub readers: usize,
    /// What the producer does when the slowest reader is a whole ring behind.
    pub overflow: Overflow,
}

/// Why a [`Geometry`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeometryError(pub &'static str);

impl std::fmt::Display for GeometryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for GeometryError {}

impl Geometry {
    /// The most readers a ring can have.
    pub const MAX_READERS: usize = 64;

    /// Checks the shape.
    pub fn validate(&self) -> Result<(), GeometryError> {
        if !self.capacity.is_power_of_two() || self.capacity < 64 {
            return Err(GeometryError(
                "capacity must be a power of two, at least 64",
            ));
        }
        if self.capacity > 1 << 40 {
            return Err(GeometryError("capacity must be at most 1 TiB"));
        }
        if self.readers == 0 || self.readers > Self::MAX_READERS {
            return Err(GeometryError("readers must be between 1 and 64"));
        }
        Ok(())
    }

    /// Bytes from the start of the region to the reader slots.
    pub const fn slots_offset() -> usize {
        std::mem::size_of::<Control>()
    }

    /// Bytes from the start of the region to the record space.
    pub const fn data_offset(&self) -> usize {
        Self::slots_offset() + self.readers * LINE
    }

    /// Bytes the whole region needs.
    pub const fn region_len(&self) -> usize {
        self.data_offset() + self.capacity
    }

    /// The largest payload one message can have: the whole ring but one
    /// header and the empty header that follows every record.
    pub fn max_len(&self) -> usize {
        (self.capacity - 16).min(MAX_RECORD_LEN)
    }
}

/// The producer's line: written by the producer only.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct ProducerLine {
    /// Position of the next record's header (after the last commit).
    pub(crate) tail: AtomicU64,
    /// Drop-oldest: the end of the bytes the producer may be writing now.
    pub(crate) claimed: AtomicU64,
    /// Blocking: no reader may be behind this position (attach point).
    pub(crate) floor: AtomicU64,
    /// DropOldest: where a lapped reader goes on (the oldest record at
    /// least half a ring from being overwritten).
    pub(crate) oldest: AtomicU64,
    /// Sequence number of the next message (for a producer taking over).
    pub(crate) seq: AtomicU32,
}

/// Rarely written, often read: readers look at it whenever the ring is
/// empty, so it must not share a line with anything written per message.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct StatusLine {
    /// [`PRODUCER_NONE`], [`PRODUCER_OPEN`] or [`PRODUCER_CLOSED`].
    pub(crate) state: AtomicU32,
    /// Readers that ever attached (0: messages wait for the first one).
    pub(crate) attached_ever: AtomicU32,
}

/// A futex word and the number of parties sleeping on it.
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct WakeLine {
    /// Bumped by whoever wakes the sleepers; the sleepers wait on it.
    pub(crate) futex: AtomicU32,
    /// Sleepers announced (incremented before sleeping).
    pub(crate) waiters: AtomicU32,
    /// Sleepers that wait on a doorbell fd instead of the futex (in a
    /// `poll` over several things): one bit per reader slot on the
    /// data-ready line, bit 0 for the producer on the space-ready line.
    /// Whoever wakes the futex rings the doorbells of the bits set.
    pub(crate) bells: AtomicU64,
}

/// The fixed head of the region.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct Control {
    pub(crate) producer: ProducerLine,
    pub(crate) status: StatusLine,
    /// Readers sleep here when there is nothing to read.
    pub(crate) data_ready: WakeLine,
    /// The producer sleeps here when the ring is full.
    pub(crate) space_ready: WakeLine,
}

/// One reader's line: written by that reader only (and the producer when it
/// evicts a dead reader).
#[repr(C, align(128))]
#[derive(Debug, Default)]
pub(crate) struct ReaderSlot {
    /// Position of the next record this reader will read.
    pub(crate) head: AtomicU64,
    /// [`SLOT_FREE`], [`SLOT_CLAIMING`] or [`SLOT_ACTIVE`].
    pub(crate) state: AtomicU32,
}

/// What the producer is doing, as the status line says (a value another
/// process wrote: anything else is [`ProducerState::Invalid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerState {
    /// No producer has attached yet.
    NotYet,
    /// A producer is attached (it may have died: check its process).
    Open,
    /// The producer closed the ring: what it committed is all there is.
    Closed,
    /// Not a state this code writes (a scribbled line).
    Invalid(u32),
}

impl ProducerState {
    /// Decodes the raw status word.
    pub fn from_raw(raw: u32) -> ProducerState {
        match raw {
            PRODUCER_NONE => ProducerState::NotYet,
            PRODUCER_OPEN => ProducerState::Open,
            PRODUCER_CLOSED => ProducerState::Closed,
            other => ProducerState::Invalid(other),
        }
    }
}

pub(crate) const PRODUCER_NONE: u32 = 0;
pub(crate) const PRODUCER_OPEN: u32 = 1;
pub(crate) const PRODUCER_CLOSED: u32 = 2;

pub(crate) const SLOT_FREE: u32 = 0;
pub(crate) const SLOT_CLAIMING: u32 = 1;
pub(crate) const SLOT_ACTIVE: u32 = 2;

#[cfg(not(loom))]
const _: () = {
    assert!(std::mem::size_of::<ProducerLine>() == LINE);
    assert!(std::mem::size_of::<WakeLine>() == LINE);
    assert!(std::mem::size_of::<ReaderSlot>() == LINE);
    assert!(std::mem::size_of::<Control>() == 4 * LINE);
    assert!(std::mem::size_of::<StatusLine>() == LINE);
    assert!(std::mem::size_of::<AtomicU64>() == 8);
};
