//! [`Consumer`]: one reader of a ring, with its own position.

#![allow(unsafe_code)] // lending ring bytes in place; each block says why it is sound.

use crate::error::{Corruption, ReadError};
use crate::layout::{Overflow, PRODUCER_CLOSED, SLOT_ACTIVE, SLOT_CLAIMING, SLOT_FREE};
use crate::primitive::{fence, sleepers, Barrier, Ordering};
use crate::record::{aligned, Header, Kind, EMPTY, HEADER_LEN};
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
    /// The position last published to the producer (`head` may be ahead).
    published: u64,
    /// The producer's tail as last read: records before it are committed.
    cached_tail: u64,
    /// How the look for a sleeping producer is ordered after a release.
    barrier: Barrier,
    /// Read by commit markers alone, not the tail (after the producer died
    /// between committing a record and publishing its tail).
    by_header: bool,
    /// DropOldest: messages lost and not reported yet.
    missed: u64,
    /// Sequence number the next header must carry (None: not known yet).
    expect: Option<u32>,
    /// Copies of records: DropOldest rings (and every ring under loom).
    copy: Vec<u8>,
    /// The producer sleeps for room and must be woken (after a release).
    wake_producer: bool,
    attached: bool,
    /// After [`Consumer::stop_at_tail`]: records at or past this position
    /// are not read.
    limit: Option<u64>,
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
    /// Reads no further than what the producer has committed now: later
    /// records are left in the ring (an orderly stop delivers what was sent
    /// before it, and ends even while the producer goes on).
    pub fn stop_at_tail(&mut self) {
        let tail = self.ring.control().producer.tail.load(Ordering::Acquire);
        self.limit = Some(tail.max(self.head));
    }

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
        let mut first_seq = None;
        let head = match ring.geometry.overflow {
            // See Producer::refresh_floor for the other half.
            Overflow::Block => {
                let mut floor = aligned(p.floor.load(Ordering::SeqCst));
                // A producer moves the floor only when it runs out of room,
                // so this settles at once; a hostile peer changing it
                // forever gets a wrong position, not a hang (fuzzing found
                // the hang).
                for _ in 0..1000 {
                    s.head.store(floor, Ordering::SeqCst);
                    s.state.store(SLOT_ACTIVE, Ordering::SeqCst);
                    // A read-modify-write, against the one in `refresh_floor`.
                    let now = aligned(p.floor.fetch_add(0, Ordering::SeqCst));
                    if now == floor {
                        break;
                    }
                    floor = now;
                }
                floor
            }
            Overflow::DropOldest => {
                // The number of the message at the tail, so the first read
                // knows how many went by (seq first: see Producer::commit).
                first_seq = Some(p.seq.load(Ordering::SeqCst));
                let tail = aligned(p.tail.load(Ordering::SeqCst));
                s.head.store(tail, Ordering::SeqCst);
                s.state.store(SLOT_ACTIVE, Ordering::SeqCst);
                tail
            }
        };
        ring.control()
            .status
            .attached_ever
            .fetch_add(1, Ordering::SeqCst);
        Ok(Consumer {
            ring: ring.clone(),
            slot,
            head,
            held: None,
            holds_message: false,
            held_at: None,
            published: head,
            cached_tail: head,
            by_header: false,
            barrier: Barrier::Symmetric,
            missed: 0,
            expect: first_seq,
            copy: Vec::new(),
            wake_producer: false,
            attached: true,
            limit: None,
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
    #[inline]
    pub fn release(&mut self) -> bool {
        let Some(next) = self.held.take() else {
            return std::mem::take(&mut self.wake_producer);
        };
        self.held_at = None;
        if std::mem::take(&mut self.holds_message) {
            self.expect = self.expect.map(|s| s.wrapping_add(1));
        }
        self.head = next;
        // Room goes back in batches of an eighth of the ring (and whenever
        // this reader finds the ring empty or goes to sleep): one store and
        // one look for a sleeping producer per batch, not per message.
        if self.head - self.published >= self.ring.geometry.capacity as u64 / 8 {
            self.publish()
        } else {
            std::mem::take(&mut self.wake_producer)
        }
    }

    /// Publishes this reader's position: the producer may use the room.
    /// Returns true if the producer sleeps for room and must be woken.
    #[inline]
    fn publish(&mut self) -> bool {
        self.published = self.head;
        self.ring
            .slot(self.slot)
            .head
            .store(self.head, Ordering::Release);
        // A read-modify-write, against the one in `Producer::begin_wait`.
        let w = &self.ring.control().space_ready;
        let wake = sleepers(&w.waiters, self.barrier);
        if wake {
            w.futex.fetch_add(1, Ordering::SeqCst);
        }
        std::mem::take(&mut self.wake_producer) | wake
    }

    /// Chooses how this reader looks for a sleeping producer after it
    /// gives room back (see [`Barrier`]). With `Asymmetric`, a producer
    /// that sleeps must run the heavy barrier after `begin_wait`.
    pub fn set_barrier(&mut self, barrier: Barrier) {
        self.barrier = barrier;
    }

    /// After a read: true (once) if releasing the previous message found
    /// the producer sleeping for room, so it must be woken.
    #[inline]
    pub fn take_wake(&mut self) -> bool {
        std::mem::take(&mut self.wake_producer)
    }

    /// The next message, if one is committed; lent until the next read.
    /// Releases the previous message first (see [`Consumer::take_wake`]).
    #[inline]
    pub fn try_read(&mut self) -> Result<Option<Message<'_>>, ReadError> {
        Ok(self.try_next()?.map(|missed| Message {
            bytes: self.held_bytes(),
            missed,
        }))
    }

    /// The payload of the message the last successful
    /// [`Consumer::try_next`] took (empty if none is held).
    #[inline]
    pub fn held_bytes(&self) -> &[u8] {
        match self.held_at {
            Some((index, len)) if self.holds_message => self.lend(index, len),
            _ => &[],
        }
    }

    /// Like [`Consumer::try_read`] without the borrow: takes the next
    /// message (see [`Consumer::held_bytes`]) and returns how many were
    /// missed before it (`DropOldest`), or `None` if there is none yet.
    #[inline]
    pub fn try_next(&mut self) -> Result<Option<u64>, ReadError> {
        if !self.attached {
            return Err(ReadError::Closed);
        }
        if self.held.is_some() {
            self.wake_producer |= self.release();
        }
        if self.limit.is_some_and(|limit| self.head >= limit) {
            if self.published != self.head {
                self.wake_producer |= self.publish();
            }
            return Ok(None);
        }
        let capacity = self.ring.geometry.capacity;
        let drop_oldest = self.ring.geometry.overflow == Overflow::DropOldest;
        let mut resyncs = 0;
        loop {
            // While the producer lives, its published tail says what is
            // there: polling it (not the record's header) leaves the line
            // the producer writes next alone until it is committed.
            if !self.by_header && !drop_oldest && self.head >= self.cached_tail {
                self.cached_tail = self.ring.control().producer.tail.load(Ordering::Acquire);
                if self.head >= self.cached_tail {
                    if self.published != self.head {
                        self.wake_producer |= self.publish();
                    }
                    return self.nothing_yet(self.ring.index(self.head));
                }
            }
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
                if self.published != self.head {
                    self.wake_producer |= self.publish();
                }
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
    #[inline]
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

    #[inline]
    fn nothing_yet(&mut self, index: usize) -> Result<Option<u64>, ReadError> {
        let status = &self.ring.control().status;
        if status.state.load(Ordering::SeqCst) == PRODUCER_CLOSED {
            // Closed after its last commit: the tail is final, but a
            // taken-over ring may have been closed by a producer that died
            // mid-commit: look at the commit marker itself.
            if self.ring.data.header(index).load(Ordering::SeqCst) == EMPTY {
                return Err(ReadError::Closed);
            }
            self.by_header = true;
        }
        Ok(None)
    }

    /// From now on, finds records by their commit markers alone: for a
    /// producer that died (SIGKILL) and may have committed a record
    /// without publishing the tail after it. Then nothing it committed is
    /// missed; nothing uncommitted is ever shown.
    pub fn read_by_commit_markers(&mut self) {
        self.by_header = true;
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
        let oldest = aligned(p.oldest.load(Ordering::Acquire));
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
        self.published = oldest;
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
    pub fn begin_wait(&mut self) -> u32 {
        if self.published != self.head {
            self.wake_producer |= self.publish();
        }
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

    /// Before a [`Consumer::begin_wait`] for a sleep on a doorbell fd
    /// rather than the futex: whoever wakes the readers will also ring
    /// this slot's doorbell. Undo with [`Consumer::disarm_bell`].
    pub fn arm_bell(&self) {
        let bit = 1u64 << self.slot;
        self.ring
            .control()
            .data_ready
            .bells
            .fetch_or(bit, Ordering::SeqCst);
    }

    /// After the doorbell sleep.
    pub fn disarm_bell(&self) {
        let bit = 1u64 << self.slot;
        self.ring
            .control()
            .data_ready
            .bells
            .fetch_and(!bit, Ordering::SeqCst);
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
