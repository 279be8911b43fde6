//! [`Ring`]: a view of a ring's region, over shared memory or the heap.

#![allow(unsafe_code)]

use std::any::Any;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::data::Data;
use crate::layout::{Control, Geometry, GeometryError, ProducerState, ReaderSlot};
use crate::primitive::AtomicU64;

/// A view of one ring. Cloning it is cheap; [`Producer`](crate::Producer)
/// and [`Consumer`](crate::Consumer) are made from it.
#[derive(Clone)]
pub struct Ring {
    control: NonNull<Control>,
    slots: NonNull<ReaderSlot>,
    pub(crate) data: Data,
    pub(crate) geometry: Geometry,
    /// Keeps heap memory alive (None for a region the caller maps).
    _owner: Option<Arc<dyn Any + Send + Sync>>,
}

// SAFETY: all the ring's shared state is atomics or bytes handed between
// threads by the commit protocol; the pointers stay valid (see `from_raw`).
unsafe impl Send for Ring {}
// SAFETY: as above.
unsafe impl Sync for Ring {}

impl Ring {
    /// A view of the ring in `region`, laid out as in [`crate::layout`].
    ///
    /// # Safety
    /// `region` is 128-aligned, at least `geometry.region_len()` bytes,
    /// stays mapped while this `Ring` or anything made from it lives, and
    /// was zeroed when created (any later content is fine: a corrupt ring
    /// makes operations fail, never read out of bounds).
    #[cfg(not(loom))]
    pub unsafe fn from_raw(region: NonNull<u8>, geometry: Geometry) -> Result<Ring, GeometryError> {
        geometry.validate()?;
        if region.as_ptr() as usize % crate::layout::LINE != 0 {
            return Err(GeometryError("the region must be 128-byte aligned"));
        }
        let base = region.as_ptr();
        // SAFETY: offsets inside the region (the caller's contract); every
        // all-zero or later bit pattern is a valid atomic.
        unsafe {
            Ok(Ring {
                control: region.cast(),
                slots: NonNull::new_unchecked(base.add(Geometry::slots_offset()).cast()),
                data: Data::new(
                    NonNull::new_unchecked(base.add(geometry.data_offset()).cast::<AtomicU64>()),
                    geometry.capacity,
                ),
                geometry,
                _owner: None,
            })
        }
    }

    /// A ring on the heap, for threads of one process (and for tests).
    pub fn on_heap(geometry: Geometry) -> Result<Ring, GeometryError> {
        geometry.validate()?;
        let memory = Arc::new(HeapMemory {
            control: Box::default(),
            slots: (0..geometry.readers)
                .map(|_| ReaderSlot::default())
                .collect(),
            words: (0..geometry.capacity / 8)
                .map(|_| AtomicU64::new(0))
                .collect(),
        });
        let control = NonNull::from(&*memory.control);
        // Pointers to the whole slices (not their first elements), so
        // their provenance covers every element (miri found this).
        let slots = NonNull::from(&*memory.slots).cast::<ReaderSlot>();
        let words = NonNull::from(&*memory.words).cast::<AtomicU64>();
        // SAFETY: `words` has capacity / 8 atomics, kept alive by `_owner`.
        let data = unsafe { Data::new(words, geometry.capacity) };
        Ok(Ring {
            control,
            slots,
            data,
            geometry,
            _owner: Some(memory),
        })
    }

    /// The ring's shape.
    pub fn geometry(&self) -> Geometry {
        self.geometry
    }

    #[inline]
    pub(crate) fn control(&self) -> &Control {
        // SAFETY: valid while self lives (`from_raw`/`on_heap`).
        unsafe { self.control.as_ref() }
    }

    #[inline]
    pub(crate) fn slot(&self, index: usize) -> &ReaderSlot {
        assert!(index < self.geometry.readers);
        // SAFETY: in bounds (checked); valid while self lives.
        unsafe { &*self.slots.as_ptr().add(index) }
    }

    #[inline]
    pub(crate) fn mask(&self) -> u64 {
        self.geometry.capacity as u64 - 1
    }

    /// Byte index in the record space of absolute position `pos`.
    #[inline]
    pub(crate) fn index(&self, pos: u64) -> usize {
        (pos & self.mask()) as usize
    }

    /// The producer's futex word for "data is ready" (readers sleep on it).
    pub fn data_ready_futex(&self) -> &crate::primitive::AtomicU32 {
        &self.control().data_ready.futex
    }

    /// The futex word for "space is free" (the producer sleeps on it).
    pub fn space_ready_futex(&self) -> &crate::primitive::AtomicU32 {
        &self.control().space_ready.futex
    }

    /// The producer's state (one atomic load).
    #[inline]
    pub fn producer_state(&self) -> ProducerState {
        ProducerState::from_raw(
            self.control()
                .status
                .state
                .load(crate::primitive::Ordering::Acquire),
        )
    }

    /// Reader slots sleeping on a doorbell for data (see [`Consumer::arm_bell`]).
    ///
    /// [`Consumer::arm_bell`]: crate::Consumer::arm_bell
    #[inline]
    pub fn data_ready_bells(&self) -> u64 {
        self.control()
            .data_ready
            .bells
            .load(crate::primitive::Ordering::SeqCst)
    }

    /// Whether the producer sleeps on a doorbell for room (see
    /// [`Producer::arm_bell`](crate::Producer::arm_bell)).
    #[inline]
    pub fn space_ready_bell(&self) -> bool {
        self.control()
            .space_ready
            .bells
            .load(crate::primitive::Ordering::SeqCst)
            != 0
    }

    /// A snapshot for tools: the producer's position and every reader's.
    pub fn snapshot(&self) -> Snapshot {
        use crate::primitive::Ordering::Relaxed;
        let p = &self.control().producer;
        let (space, data) = (&self.control().space_ready, &self.control().data_ready);
        Snapshot {
            tail: p.tail.load(Relaxed),
            producer_state: ProducerState::from_raw(self.control().status.state.load(Relaxed)),
            readers: (0..self.geometry.readers)
                .filter(|&i| self.slot(i).state.load(Relaxed) == crate::layout::SLOT_ACTIVE)
                .map(|i| (i, self.slot(i).head.load(Relaxed)))
                .collect(),
            producer_sleeping: space.waiters.load(Relaxed) > 0 || space.bells.load(Relaxed) != 0,
            readers_sleeping: data.waiters.load(Relaxed) + data.bells.load(Relaxed).count_ones(),
        }
    }
}

/// What [`Ring::snapshot`] saw (values written by other processes: unchecked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Position after the last committed record.
    pub tail: u64,
    /// What the producer was doing.
    pub producer_state: ProducerState,
    /// (slot, position of the next record it reads) per attached reader.
    pub readers: Vec<(usize, u64)>,
    /// The producer has announced it sleeps for room (futex or doorbell).
    pub producer_sleeping: bool,
    /// Readers that announced they sleep for data (futex sleepers and
    /// doorbell bits; a count, not which).
    pub readers_sleeping: u32,
}

impl fmt::Debug for Ring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("geometry", &self.geometry)
            .finish_non_exhaustive()
    }
}

struct HeapMemory {
    control: Box<Control>,
    slots: Box<[ReaderSlot]>,
    words: Box<[AtomicU64]>,
}
