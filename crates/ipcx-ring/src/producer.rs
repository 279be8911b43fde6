//! [`Producer`]: the one writer of a ring.

#![allow(unsafe_code)] // lending ring bytes in place; each block says why it is sound.

use std::collections::VecDeque;

use crate::error::{Corruption, WriteError};
use crate::layout::{Overflow, PRODUCER_CLOSED, PRODUCER_NONE, PRODUCER_OPEN, SLOT_ACTIVE};
use crate::primitive::{fence, sleepers, Barrier, Ordering};
use crate::record::{aligned, record_len, Header, Kind, EMPTY, HEADER_LEN};
use crate::ring::Ring;

/// The writing end of a ring. There is at most one per ring.
#[derive(Debug)]
pub struct Producer {
    ring: Ring,
    /// Position of the next record (mirrors the shared `tail`).
    tail: u64,
    /// Sequence number of the next message.
    seq: u32,
    /// Cached lowest reader position: room runs to `floor + capacity`.
    floor: u64,
    /// DropOldest: where each record still in the ring starts.
    starts: VecDeque<u64>,
    /// Readers must be woken for a padding record committed on its own.
    wake_pending: bool,
    /// How the look for sleeping readers is ordered after a commit.
    barrier: Barrier,
    closed: bool,
}

/// Room for one message, from [`Producer::try_reserve`]; nothing is visible
/// to readers until [`Producer::commit`].
#[derive(Debug)]
#[must_use = "a reservation does nothing until committed"]
pub struct Reservation {
    /// Where the record starts.
    pos: u64,
    /// The most payload bytes reserved.
    len: usize,
}

impl Reservation {
    /// Payload bytes reserved.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True for a reservation of no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Why [`Producer::new`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerTaken;

impl std::fmt::Display for ProducerTaken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the ring already has a producer")
    }
}

impl std::error::Error for ProducerTaken {}

impl Producer {
    /// Becomes the ring's producer; fails if it has (or had) one.
    pub fn new(ring: &Ring) -> Result<Producer, ProducerTaken> {
        let p = &ring.control().producer;
        ring.control()
            .status
            .state
            .compare_exchange(
                PRODUCER_NONE,
                PRODUCER_OPEN,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .map_err(|_| ProducerTaken)?;
        Ok(Producer {
            ring: ring.clone(),
            tail: aligned(p.tail.load(Ordering::SeqCst)),
            seq: 0,
            floor: aligned(p.floor.load(Ordering::SeqCst)),
            starts: VecDeque::new(),
            wake_pending: false,
            barrier: Barrier::Symmetric,
            closed: false,
        })
    }

    /// Becomes the producer of a ring whose producer closed, or died (the
    /// caller knows that, e.g. from its pid): goes on from the last
    /// message it committed, so readers see one unbroken sequence.
    pub fn take_over(ring: &Ring) -> Result<Producer, ProducerTaken> {
        let p = &ring.control().producer;
        let status = &ring.control().status;
        let state = status.state.swap(PRODUCER_OPEN, Ordering::SeqCst);
        if state == PRODUCER_NONE {
            status.state.store(PRODUCER_NONE, Ordering::SeqCst);
            return Producer::new(ring);
        }
        let mut producer = Producer {
            ring: ring.clone(),
            tail: aligned(p.tail.load(Ordering::SeqCst)),
            seq: p.seq.load(Ordering::SeqCst),
            floor: aligned(p.floor.load(Ordering::SeqCst)),
            starts: VecDeque::new(),
            wake_pending: false,
            barrier: Barrier::Symmetric,
            closed: false,
        };
        producer.recover();
        Ok(producer)
    }

    /// A producer that died between committing a record and publishing
    /// the tail left committed records past `tail`: adopt them, so that
    /// nothing readers may have seen is written over. (The header after
    /// the last one reads empty: every commit zeroes it first.)
    fn recover(&mut self) {
        let capacity = self.ring.geometry.capacity;
        for _ in 0..capacity / 8 {
            let index = self.ring.index(self.tail);
            let word = self.ring.data.header(index).load(Ordering::Acquire);
            let next = match Header::decode(word) {
                Some(h) if h.seq != self.seq => break,
                Some(h) if h.kind == Kind::Padding && h.len == capacity - index - HEADER_LEN => {
                    self.tail + (capacity - index) as u64
                }
                Some(h) if h.kind == Kind::Message && HEADER_LEN + h.len <= capacity - index => {
                    self.seq = self.seq.wrapping_add(1);
                    self.tail + record_len(h.len) as u64
                }
                _ => break,
            };
            self.publish(next);
        }
        let p = &self.ring.control().producer;
        p.seq.store(self.seq, Ordering::Release);
    }

    /// Chooses how this producer looks for sleeping readers after each
    /// commit (see [`Barrier`]). With `Asymmetric`, every reader that
    /// sleeps must run the heavy barrier after `begin_wait`.
    pub fn set_barrier(&mut self, barrier: Barrier) {
        self.barrier = barrier;
    }

    /// The ring this producer writes.
    pub fn ring(&self) -> &Ring {
        &self.ring
    }

    /// The largest message this ring carries.
    pub fn max_len(&self) -> usize {
        self.ring.geometry.max_len()
    }

    /// Reserves room for a message of up to `len` bytes, without waiting.
    ///
    /// A record never wraps: when it does not fit before the end of the
    /// ring, a padding record is committed there first, on its own, so the
    /// whole ring (less two headers) is open to one message.
    #[inline]
    pub fn try_reserve(&mut self, len: usize) -> Result<Reservation, WriteError> {
        let max = self.max_len();
        if len > max {
            return Err(WriteError::TooLarge { len, max });
        }
        let capacity = self.ring.geometry.capacity;
        let index = self.ring.index(self.tail);
        if index + record_len(len) > capacity {
            self.pad(capacity - index)?;
        }
        // The record, then the empty header that follows it.
        self.claim(self.tail + (record_len(len) + HEADER_LEN) as u64)?;
        Ok(Reservation {
            pos: self.tail,
            len,
        })
    }

    /// Makes the bytes up to `end` the producer's: waits for readers
    /// (Block), or tells lapped readers (DropOldest).
    #[inline]
    fn claim(&mut self, end: u64) -> Result<(), WriteError> {
        match self.ring.geometry.overflow {
            Overflow::Block => self.make_room(end),
            Overflow::DropOldest => {
                if self.ring.index(self.tail) == 0 {
                    self.check_readers()?;
                }
                let p = &self.ring.control().producer;
                // Seqlock: readers of these bytes look at `claimed` after
                // copying, and the fence orders it before our writes.
                // (Release too, so a reader that sees it sees the tail it
                // was claimed from.)
                p.claimed.store(end, Ordering::Release);
                fence(Ordering::Release);
                let capacity = self.ring.geometry.capacity as u64;
                // A lapped reader goes on from the oldest record that has
                // half a ring before it is overwritten.
                while self.starts.front().is_some_and(|&s| s + capacity / 2 < end) {
                    self.starts.pop_front();
                }
                let oldest = self.starts.front().copied().unwrap_or(self.tail);
                p.oldest.store(oldest, Ordering::Release);
                self.starts.push_back(self.tail);
                Ok(())
            }
        }
    }

    /// Commits a padding record of `len` bytes (header included) from
    /// `tail` to the end of the ring.
    fn pad(&mut self, len: usize) -> Result<(), WriteError> {
        let next = self.tail + len as u64;
        self.claim(next + HEADER_LEN as u64)?;
        let data = &self.ring.data;
        data.header(self.ring.index(next))
            .store(EMPTY, Ordering::Relaxed);
        let header = Header {
            kind: Kind::Padding,
            len: len - HEADER_LEN,
            seq: self.seq,
        };
        data.header(self.ring.index(self.tail))
            .store(header.encode(), Ordering::Release);
        self.publish(next);
        self.wake_pending |= self.wake_readers();
        Ok(())
    }

    #[inline]
    fn publish(&mut self, tail: u64) {
        self.tail = tail;
        let p = &self.ring.control().producer;
        p.tail.store(tail, Ordering::Release);
    }

    /// Waits for nothing: `Ok` when room up to `end` is free.
    #[inline]
    fn make_room(&mut self, end: u64) -> Result<(), WriteError> {
        let capacity = self.ring.geometry.capacity as u64;
        if end <= self.floor + capacity {
            return Ok(());
        }
        self.refresh_floor()?;
        if end <= self.floor + capacity {
            Ok(())
        } else {
            Err(WriteError::Full)
        }
    }

    /// Recomputes `floor` from the readers' positions and publishes it for
    /// readers that attach. A reader attaching meanwhile either sees the new
    /// floor (and starts there) or is seen by the second scan (Dekker's
    /// pattern, all SeqCst).
    fn refresh_floor(&mut self) -> Result<(), WriteError> {
        let p = &self.ring.control().producer;
        let Some(lowest) = self.lowest_reader()? else {
            return self.no_readers();
        };
        // A read-modify-write, against the one in `Consumer::attach`.
        p.floor.swap(lowest, Ordering::SeqCst);
        let again = self.lowest_reader()?.unwrap_or(lowest).min(lowest);
        if again < lowest {
            p.floor.swap(again, Ordering::SeqCst);
        }
        self.floor = again;
        Ok(())
    }

    /// With no reader attached: wait for the first one, or report they are gone.
    fn no_readers(&self) -> Result<(), WriteError> {
        let status = &self.ring.control().status;
        if status.attached_ever.load(Ordering::SeqCst) == 0 {
            Ok(())
        } else {
            Err(WriteError::NoReaders)
        }
    }

    /// `Err(NoReaders)` when readers attached and all of them are gone
    /// (a write only finds that out when it needs their room).
    pub fn check_readers(&self) -> Result<(), WriteError> {
        match self.lowest_reader()? {
            Some(_) => Ok(()),
            None => self.no_readers(),
        }
    }

    /// The position of the slowest attached reader, checked for sense
    /// (`None`: no reader attached). DropOldest readers the producer
    /// lapped count as attached but set no floor.
    fn lowest_reader(&self) -> Result<Option<u64>, WriteError> {
        let capacity = self.ring.geometry.capacity as u64;
        let drop_oldest = self.ring.geometry.overflow == Overflow::DropOldest;
        let mut lowest = None;
        for i in 0..self.ring.geometry.readers {
            let slot = self.ring.slot(i);
            if slot.state.load(Ordering::SeqCst) != SLOT_ACTIVE {
                continue;
            }
            let mut head = aligned(slot.head.load(Ordering::SeqCst));
            if head > self.tail || self.tail - head > capacity {
                if !drop_oldest {
                    return Err(WriteError::Corrupt(Corruption {
                        what: "a reader's position is outside the ring",
                        position: self.tail,
                        word: head,
                    }));
                }
                head = self.tail;
            }
            lowest = Some(lowest.map_or(head, |l: u64| l.min(head)));
        }
        Ok(lowest)
    }

    /// The reserved payload bytes, to fill in place (a loan): blocking rings
    /// only (with `DropOldest` a lapped reader may be reading them).
    ///
    /// # Panics
    /// On a `DropOldest` ring.
    #[cfg(not(loom))]
    pub fn reserved_mut(&mut self, r: &Reservation) -> &mut [u8] {
        assert_eq!(
            self.ring.geometry.overflow,
            Overflow::Block,
            "loans need a blocking ring"
        );
        let index = self.ring.index(r.pos) + HEADER_LEN;
        // SAFETY: reserved by this producer (make_room), nobody reads it
        // until commit; `&mut self` keeps it to one slice at a time.
        unsafe { self.ring.data.slice_mut(index, r.len) }
    }

    /// Publishes the first `len` bytes of the reservation as one message.
    /// Returns true if readers are sleeping and must be woken (futex).
    ///
    /// # Panics
    /// If `len` is more than was reserved.
    #[inline]
    pub fn commit(&mut self, r: Reservation, len: usize) -> bool {
        assert!(
            len <= r.len,
            "committing {len} bytes of a {}-byte reservation",
            r.len
        );
        let data = &self.ring.data;
        let end = r.pos + record_len(len) as u64;
        data.header(self.ring.index(end))
            .store(EMPTY, Ordering::Relaxed);
        let header = Header {
            kind: Kind::Message,
            len,
            seq: self.seq,
        };
        data.header(self.ring.index(r.pos))
            .store(header.encode(), Ordering::Release);
        self.seq = self.seq.wrapping_add(1);
        self.publish(end);
        // After the tail: a reader that reads `seq` then `tail` never
        // expects a higher number than the record at that tail carries.
        self.ring
            .control()
            .producer
            .seq
            .store(self.seq, Ordering::Release);
        self.wake_readers() | std::mem::take(&mut self.wake_pending)
    }

    /// True (once) if readers must be woken for something committed by a
    /// call that then failed (a padding record before `Full`).
    #[inline]
    pub fn take_wake(&mut self) -> bool {
        std::mem::take(&mut self.wake_pending)
    }

    /// Copies `msg` into the ring as one message, without waiting.
    /// `Ok(true)`: readers are sleeping and must be woken.
    #[inline]
    pub fn try_write(&mut self, msg: &[u8]) -> Result<bool, WriteError> {
        let r = self.try_reserve(msg.len())?;
        let index = self.ring.index(r.pos) + HEADER_LEN;
        match self.ring.geometry.overflow {
            Overflow::Block => self.ring.data.copy_in(index, msg),
            Overflow::DropOldest => self.ring.data.copy_in_atomic(index, msg),
        }
        Ok(self.commit(r, msg.len()))
    }

    /// After a commit: are readers asleep? The look is a read-modify-write,
    /// so it and a reader's announcement (also one) are ordered one way or
    /// the other: we see the sleeper, or the sleeper's re-check sees our
    /// commit (loom finds the lost wake-up with a plain load and fences).
    #[inline]
    fn wake_readers(&self) -> bool {
        let w = &self.ring.control().data_ready;
        if !sleepers(&w.waiters, self.barrier) {
            return false;
        }
        w.futex.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Before sleeping on [`Ring::space_ready_futex`]: announces it and
    /// returns the futex value to wait on. Try again to reserve *after*
    /// this, sleep only if still full, then call [`Producer::end_wait`].
    pub fn begin_wait(&self) -> u32 {
        let w = &self.ring.control().space_ready;
        // Dekker's pattern over one word: our announcement and a reader's
        // look for sleepers (after its release) are both read-modify-writes.
        w.waiters.fetch_add(1, Ordering::SeqCst);
        w.futex.load(Ordering::SeqCst)
    }

    /// After sleeping (or deciding not to).
    pub fn end_wait(&self) {
        let w = &self.ring.control().space_ready;
        w.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Before a [`Producer::begin_wait`] for a sleep on a doorbell fd:
    /// a reader that wakes the producer also rings its doorbell.
    pub fn arm_bell(&self) {
        self.ring
            .control()
            .space_ready
            .bells
            .fetch_or(1, Ordering::SeqCst);
    }

    /// After the doorbell sleep.
    pub fn disarm_bell(&self) {
        self.ring
            .control()
            .space_ready
            .bells
            .store(0, Ordering::SeqCst);
    }

    /// Bytes free for the next message now (what the slowest reader has
    /// released), for a readiness check; 0 when full.
    pub fn free_bytes(&self) -> usize {
        let tail = self.ring.control().producer.tail.load(Ordering::Relaxed);
        let capacity = self.ring.geometry.capacity as u64;
        if self.ring.geometry.overflow == Overflow::DropOldest {
            return capacity as usize;
        }
        let slowest = (0..self.ring.geometry.readers)
            .filter(|&i| self.ring.slot(i).state.load(Ordering::Acquire) == SLOT_ACTIVE)
            .map(|i| self.ring.slot(i).head.load(Ordering::Acquire))
            .min()
            .unwrap_or(tail);
        capacity.saturating_sub(tail.saturating_sub(slowest)) as usize
    }

    /// Tells readers no more messages come; they read what is committed,
    /// then get [`ReadError::Closed`](crate::ReadError::Closed). Returns
    /// true if readers must be woken.
    pub fn close(&mut self) -> bool {
        if std::mem::replace(&mut self.closed, true) {
            return false;
        }
        let status = &self.ring.control().status;
        status.state.store(PRODUCER_CLOSED, Ordering::SeqCst);
        let w = &self.ring.control().data_ready;
        w.futex.fetch_add(1, Ordering::SeqCst);
        w.waiters.fetch_add(0, Ordering::SeqCst) != 0
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.close();
    }
}
