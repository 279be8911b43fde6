//! [`Consumer`]: one reader of a ring, with its own position.

#![allow(unsafe_code)] // lending ring bytes in place; each block says why it is sound.

use crate::error::{Corruption, ReadError};
use crate::layout::{Overflow, PRODUCER_CLOSED, SLOT_ACTIVE, SLOT_CLAIMING, SLOT_FREE};
use crate::primitive::{fence, Ordering};
use crate::record::{Header, Kind, EMPTY, HEADER_LEN};
use crate::ring::Ring;

/// A DropOldest reader lapped this many times in one read gives up for now.
const MAX_RESYNCS: u32 = if cfg!(loom) { 2 } else { 100 };

/// A reader attached to a ring. Each reader sees every message (broadcast)
/// from where it attached; the producer waits for the slowest reader, or
/// with [`Overflow::DropOldest`] laps it.
#[derive(Debug)]
pub struct Consumer {
    ring: Ring,
    slot: usize,
    /// Position of the next header to read.
    head: u64,
    /// Where the message lent by the last read ends (released on the next).
    held: Option<u64>,
    /// `held` is a message (not padding): releasing it moves `expect` on.
    holds_message: bool,
    /// Where the held message's payload is (index, length).
    held_at: Option<(usize, usize)>,
    /// DropOldest: messages lost and not reported yet.
    missed: u64,
    /// Sequence number the next header must carry (None: not known yet).
    expect: Option<u32>,
    /// Copies of records: DropOldest rings (and every ring under loom).
    copy: Vec<u8>,
    /// The producer sleeps for room and must be woken (after a release).
    wake_producer: bool,
    attached: bool,
}

/// One message, lent by [`Consumer::try_read`] until the next read.
#[derive(Debug)]
pub struct Message<'a> {
    /// The payload.
    pub bytes: &'a [u8],
    /// Messages lost just before this one (`DropOldest` rings only).
    pub missed: u64,
}

/// Why [`Consumer::attach`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFreeSlot {
    /// How many readers the ring allows.
    pub readers: usize,
}

impl std::fmt::Display for NoFreeSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "all {} reader slots of the ring are taken", self.readers)
    }
}

impl std::error::Error for NoFreeSlot {}

impl Consumer {
    /// Attaches a new reader. On a blocking ring it starts at the oldest
    /// message still in the ring that no reader has released (messages sent
    /// before the first reader came wait for it); on a `DropOldest` ring at
    /// the next message.
    pub fn attach(ring: &Ring) -> Result<Consumer, NoFreeSlot> {
        let readers = ring.geometry.readers;
        let slot = (0..readers)
            .find(|&i| {
                ring.slot(i)
                    .state
                    .compare_exchange(SLOT_FREE, SLOT_CLAIMING, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            })
            .ok_or(NoFreeSlot { readers })?;
        let s = ring.slot(slot);
        let p = &ring.control().producer;
        let head = match ring.geometry.overflow {
            // See Producer::refresh_floor for the other half.
            Overflow::Block => loop {
                let floor = p.floor.load(Ordering::SeqCst);
                s.head.store(floor, Ordering::SeqCst);
                s.state.store(SLOT_ACTIVE, Ordering::SeqCst);
                // A read-modify-write, against the one in `refresh_floor`.
                if p.floor.fetch_add(0, Ordering::SeqCst) == floor {
                    break floor;
                }
            },
            Overflow::DropOldest => {
                let tail = p.tail.load(Ordering::SeqCst);
                s.head.store(tail, Ordering::SeqCst);
                s.state.store(SLOT_ACTIVE, Ordering::SeqCst);
                tail
            }
        };
        p.attached_ever.fetch_add(1, Ordering::SeqCst);
        Ok(Consumer {
            ring: ring.clone(),
            slot,
            head,
            held: None,
            holds_message: false,
            held_at: None,
            missed: 0,
            expect: None,
            copy: Vec::new(),
            wake_producer: false,
            attached: true,
        })
    }

    /// This reader's slot number in the ring.
    pub fn slot(&self) -> usize {
        self.slot
    }

    /// The ring this consumer reads.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    fn copies(&self) -> bool {
        cfg!(loom) || self.ring.geometry.overflow == Overflow::DropOldest
    }

    /// Gives the last message's room back to the producer. Returns true if
    /// the producer is sleeping for room and must be woken.
    pub fn release(&mut self) -> bool {
        let Some(next) = self.held.take() else {
            return std::mem::take(&mut self.wake_producer);
        };
        self.held_at = None;
        if std::mem::take(&mut self.holds_message) {
            self.expect = self.expect.map(|s| s.wrapping_add(1));
        }
        self.head = next;
        self.ring
            .slot(self.slot)
            .head
            .store(next, Ordering::Release);
        // A read-modify-write, against the one in `Producer::begin_wait`.
        let w = &self.ring.control().space_ready;
        let wake = w.waiters.fetch_add(0, Ordering::SeqCst) != 0;
        if wake {
            w.futex.fetch_add(1, Ordering::SeqCst);
        }
        std::mem::take(&mut self.wake_producer) | wake
    }

    /// After a read: true (once) if releasing the previous message found
    /// the producer sleeping for room, so it must be woken.
    pub fn take_wake(&mut self) -> bool {
        std::mem::take(&mut self.wake_producer)
    }

    /// The next message, if one is committed; lent until the next read.
    /// Releases the previous message first (see [`Consumer::take_wake`]).
    pub fn try_read(&mut self) -> Result<Option<Message<'_>>, ReadError> {
        Ok(match self.try_next()? {
            Some(missed) => Some(Message {
                bytes: self.held_bytes(),
                missed,
            }),
            None => None,
        })
    }

    /// The payload of the message the last successful
    /// [`Consumer::try_next`] took (empty if none is held).
    pub fn held_bytes(&self) -> &[u8] {
        match self.held_at {
            Some((index, len)) if self.holds_message => self.lend(index, len),
            _ => &[],
        }
    }

    /// Like [`Consumer::try_read`] without the borrow: takes the next
    /// message (see [`Consumer::held_bytes`]) and returns how many were
    /// missed before it (`DropOldest`), or `None` if there is none yet.
    pub fn try_next(&mut self) -> Result<Option<u64>, ReadError> {
        if !self.attached {
            return Err(ReadError::Closed);
        }
        if self.held.is_some() {
            self.wake_producer |= self.release();
        }
        let capacity = self.ring.geometry.capacity;
        let drop_oldest = self.ring.geometry.overflow == Overflow::DropOldest;
        let mut resyncs = 0;
        loop {
            let index = self.ring.index(self.head);
            let word = self.ring.data.header(index).load(Ordering::Acquire);
            if drop_oldest && self.lapped() {
                resyncs += 1;
                if resyncs > MAX_RESYNCS {
                    return Ok(None); // the producer laps us faster than we read
                }
                self.resync()?;
                continue;
            }
            if word == EMPTY {
                return self.nothing_yet(index);
            }
            let corrupt = |what| {
                ReadError::Corrupt(Corruption {
                    what,
                    position: self.head,
                    word,
                })
            };
            let header = Header::decode(word).ok_or_else(|| corrupt("unknown record kind"))?;
            let gap = match self.expect {
                Some(expect) if header.seq != expect => {
                    let gap = header.seq.wrapping_sub(expect);
                    if !drop_oldest || gap > u32::MAX / 2 {
                        return Err(corrupt("record out of sequence"));
                    }
                    u64::from(gap)
                }
                _ => 0,
            };
            let room = capacity - index - HEADER_LEN;
            match header.kind {
                Kind::Padding if header.len == room => {
                    self.expect = Some(header.seq);
                    self.missed += gap;
                    self.held = Some(self.head + (capacity - index) as u64);
                    // The producer may be waiting for exactly this room.
                    self.wake_producer |= self.release();
                }
                Kind::Padding => return Err(corrupt("padding that does not reach the ring's end")),
                Kind::Message if header.len > room.min(self.ring.geometry.max_len()) => {
                    return Err(corrupt("record longer than the ring"));
                }
                Kind::Message => {
                    let next = self.head + crate::record::record_len(header.len) as u64;
                    if self.copies() {
                        self.copy.resize(header.len, 0);
                        let (data, at) = (&self.ring.data, index + HEADER_LEN);
                        match drop_oldest {
                            true => data.copy_out_atomic(at, &mut self.copy),
                            false => data.copy_out(at, &mut self.copy),
                        }
                        if drop_oldest {
                            fence(Ordering::Acquire);
                            if self.lapped() {
                                resyncs += 1;
                                self.resync()?;
                                continue;
                            }
                        }
                    }
                    self.expect = Some(header.seq);
                    self.held = Some(next);
                    self.holds_message = true;
                    self.held_at = Some((index + HEADER_LEN, header.len));
                    return Ok(Some(std::mem::take(&mut self.missed) + gap));
                }
            }
        }
    }

    #[cfg_attr(loom, allow(unused_variables))]
    fn lend(&self, index: usize, len: usize) -> &[u8] {
        if self.copies() {
            return &self.copy[..len];
        }
        #[cfg(loom)]
        unreachable!("loom copies every record");
        #[cfg(not(loom))]
        // SAFETY: a committed record this reader holds (`held`): on a
        // blocking ring the producer does not write it until released,
        // and the borrow of self ends before the next read releases it.
        unsafe {
            self.ring.data.slice(index, len)
        }
    }

    fn nothing_yet(&self, index: usize) -> Result<Option<u64>, ReadError> {
        let p = &self.ring.control().producer;
        if p.state.load(Ordering::SeqCst) == PRODUCER_CLOSED
            && self.ring.data.header(index).load(Ordering::SeqCst) == EMPTY
        {
            return Err(ReadError::Closed);
        }
        Ok(None)
    }

    /// DropOldest: has the producer started overwriting our position?
    fn lapped(&self) -> bool {
        let claimed = self.ring.control().producer.claimed.load(Ordering::Acquire);
        claimed > self.head.saturating_add(self.ring.geometry.capacity as u64)
    }

    /// DropOldest: after being lapped, go on from the oldest record the
    /// producer has left half a ring of room before.
    fn resync(&mut self) -> Result<(), ReadError> {
        let p = &self.ring.control().producer;
        // Tail last: it only grows, so the two before cannot be past it.
        let claimed = p.claimed.load(Ordering::Acquire);
        let oldest = p.oldest.load(Ordering::Acquire);
        let tail = p.tail.load(Ordering::Acquire);
        let capacity = self.ring.geometry.capacity as u64;
        if claimed > tail.saturating_add(capacity) || oldest > tail {
            return Err(ReadError::Corrupt(Corruption {
                what: "the producer's positions contradict each other",
                position: self.head,
                word: claimed,
            }));
        }
        self.head = oldest;
        self.held = None;
        self.holds_message = false;
        self.ring
            .slot(self.slot)
            .head
            .store(oldest, Ordering::SeqCst);
        Ok(())
    }

    /// Before sleeping on [`Ring::data_ready_futex`]: announces it and
    /// returns the futex value to wait on. Try to read again *after* this,
    /// sleep only if still empty, then call [`Consumer::end_wait`].
    pub fn begin_wait(&self) -> u32 {
        let w = &self.ring.control().data_ready;
        // Dekker's pattern over one word: our announcement and the
        // producer's look for sleepers (after its commit) are both
        // read-modify-writes, so one of the two sees the other.
        w.waiters.fetch_add(1, Ordering::SeqCst);
        w.futex.load(Ordering::SeqCst)
    }

    /// After sleeping (or deciding not to).
    pub fn end_wait(&self) {
        let w = &self.ring.control().data_ready;
        w.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Leaves the ring now (dropping does it too); its slot is free again.
    /// Returns true if the producer sleeps for room and must be woken (it
    /// may have been waiting for us). Reads after this return `Closed`.
    pub fn detach(&mut self) -> bool {
        if !std::mem::replace(&mut self.attached, false) {
            return false;
        }
        let s = self.ring.slot(self.slot);
        s.state.store(SLOT_FREE, Ordering::SeqCst);
        let w = &self.ring.control().space_ready;
        let wake = w.waiters.fetch_add(0, Ordering::SeqCst) != 0;
        if wake {
            w.futex.fetch_add(1, Ordering::SeqCst);
        }
        wake
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.detach();
    }
}

impl Ring {
    /// Frees reader slot `slot` if it is attached: for a reader that died
    /// (its owner decides that, e.g. by its pid). True if it was attached.
    pub fn evict_reader(&self, slot: usize) -> bool {
        slot < self.geometry.readers
            && self
                .slot(slot)
                .state
                .compare_exchange(SLOT_ACTIVE, SLOT_FREE, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
    }
}
