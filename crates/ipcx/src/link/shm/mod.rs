//! The shared-memory link: an `ipcx-ring` ring in a mapped segment.
//!
//! No syscall per message while both sides are awake: a side that finds
//! the ring full (or empty) spins briefly (`wait=adaptive`, the default),
//! then announces that it sleeps and waits on a futex; the other side
//! issues a futex wake only when it sees that announcement. `wait=spin`
//! never sleeps; `wait=block` sleeps at once.
//!
//! A sleeper wakes at least every [`CHECK_EVERY`] to see whether its peer
//! still lives (pid + start time, recorded in the segment header): a dead
//! producer is reported as `Disconnected` once its committed messages are
//! read; a dead reader is evicted so it no longer holds the producer back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ipcx_ring::{Barrier, Consumer, Producer, ProducerState, ReadError, WriteError};

use crate::endpoint::WaitMode;
use crate::error::{Error, ErrorKind, Fail};
use crate::sys::process::ProcessId;
use crate::sys::Deadline;
use crate::sys::{futex, membarrier};
use segment::Segment;

/// How often a waiting side looks at whether its peer is alive.
pub(crate) const CHECK_EVERY: Duration = Duration::from_millis(50);
/// Sends that give up on a full ring look for dead readers at most this
/// often (a `try_send` loop would otherwise read /proc at every try).
const LOOK_AGAIN_AFTER: Duration = Duration::from_millis(100);
/// Spins before an adaptive waiter sleeps (a few microseconds).
const ADAPTIVE_SPINS: u32 = 2_000 / PAUSES_PER_SPIN;
/// Spin-loop hints between two looks at the ring while waiting. Each look
/// at an empty ring reads the producer's tail, a cache line the producer
/// writes for every message: looking after every hint pulled that line
/// across cores once per message. 16 gave the rate of more without the
/// latency of more (docs/performance.md).
const PAUSES_PER_SPIN: u32 = 16;

mod ready;
pub(crate) mod segment;
mod wake;

/// The sending end.
#[derive(Debug)]
pub(crate) struct ShmWriter {
    producer: Producer,
    wait: WaitMode,
    max_msg: usize,
    label: Arc<str>,
    /// Messages sent: every 256th looks whether the readers are all gone.
    sent: u32,
    /// When a send that gave up on a full ring last looked for dead
    /// readers (at most every [`LOOK_AGAIN_AFTER`]).
    last_look: Option<Instant>,
    /// The fd a readiness wait sleeps on (see `ready`).
    doorbell: ready::Doorbell,
    /// Declared last: the producer points into it.
    segment: Arc<Segment>,
}

/// The receiving end.
#[derive(Debug)]
pub(crate) struct ShmReader {
    consumer: Consumer,
    wait: WaitMode,
    max_msg: usize,
    label: Arc<str>,
    stopped: bool,
    /// The ring was found corrupt: reported once, then the channel ends
    /// (nothing read from it afterwards could be trusted).
    corrupt: bool,
    /// Messages a `overflow=drop-oldest` ring overwrote before we read them.
    missed: u64,
    /// Taken while arming for readiness; the next `recv` hands it out.
    ahead: ready::Ahead,
    /// The fd a readiness wait sleeps on (see `ready`).
    doorbell: ready::Doorbell,
    segment: Arc<Segment>,
}

/// Spins, then sleeps on a futex, until `attempt` succeeds or the deadline
/// passes; `check` runs every [`CHECK_EVERY`] while waiting.
struct Waiter<'a> {
    mode: WaitMode,
    deadline: Deadline<'a>,
    spins: u32,
    /// Still in the spinning phase (the clock is read every 64 spins).
    spinning: bool,
    /// When the peer was last looked at; set at the first wait (reading
    /// the clock costs ~20 ns: not on the path where nothing waits).
    last_check: Option<Instant>,
}

impl<'a> Waiter<'a> {
    fn new(mode: WaitMode, deadline: Deadline<'a>) -> Waiter<'a> {
        Waiter {
            mode,
            deadline,
            spins: 0,
            spinning: false,
            last_check: None,
        }
    }

    /// After a failed attempt: `Ok(true)` spin again, `Ok(false)` sleep.
    /// The clock is read every 64 spins (and before every sleep).
    fn spin(&mut self) -> Result<bool, Fail> {
        let spin = match self.mode {
            WaitMode::Spin => true,
            WaitMode::Adaptive => self.spins < ADAPTIVE_SPINS,
            WaitMode::Block => false,
        };
        if !spin || self.spins % 64 == 0 {
            let now = Instant::now();
            if self.deadline.passed_at(now) {
                return Err(Fail::NotReady);
            }
            if self.deadline.is_stopped() {
                return Err(Fail::Stopped);
            }
            self.last_check.get_or_insert(now);
        }
        self.spinning = spin;
        if spin {
            self.spins += 1;
            for _ in 0..PAUSES_PER_SPIN {
                std::hint::spin_loop();
            }
        }
        Ok(spin)
    }

    /// How long one futex sleep may last: short if the barrier that
    /// makes the peer's look for sleepers reliable could not be run.
    fn nap_after(&self, barrier: bool) -> Duration {
        let most = if barrier {
            CHECK_EVERY
        } else {
            Duration::from_millis(1)
        };
        self.deadline.left().map_or(most, |left| left.min(most))
    }

    /// True when it is time to look at the peer again (checked every 64
    /// spins, and after every sleep).
    fn due(&mut self) -> bool {
        if self.spinning && self.spins % 64 != 0 {
            return false;
        }
        let now = Instant::now();
        match self.last_check {
            // The first look comes one period after the wait began.
            None => {
                self.last_check = Some(now);
                false
            }
            Some(last) if now.duration_since(last) < CHECK_EVERY => false,
            Some(_) => {
                self.last_check = Some(now);
                true
            }
        }
    }
}

impl ShmWriter {
    pub(crate) fn new(
        producer: Producer,
        segment: Arc<Segment>,
        wait: WaitMode,
        max_msg: usize,
        label: Arc<str>,
    ) -> ShmWriter {
        let mut producer = producer;
        if membarrier::register() {
            producer.set_barrier(Barrier::Asymmetric);
        }
        segment.header().producer.set(ProcessId::me());
        ShmWriter {
            producer,
            wait,
            max_msg: max_msg.min(segment.ring.geometry().max_len()),
            label,
            sent: 0,
            last_look: None,
            doorbell: ready::Doorbell::default(),
            segment,
        }
    }

    pub(crate) fn label(&self) -> &Arc<str> {
        &self.label
    }

    pub(crate) fn max_len(&self) -> usize {
        self.max_msg
    }

    fn too_large(&self, len: usize) -> Fail {
        Fail::Error(
            Error::new(
                ErrorKind::TooLarge,
                format!(
                    "a {len}-byte message is larger than this ring carries ({} bytes; \
                     set capacity= on the receiver's endpoint for more)",
                    self.max_msg
                ),
            )
            .at(&self.label),
        )
    }

    /// Copies `payload` into the ring as one message.
    #[inline]
    pub(crate) fn send(&mut self, payload: &[u8], deadline: Deadline<'_>) -> Result<(), Fail> {
        if payload.len() > self.max_msg {
            return Err(self.too_large(payload.len()));
        }
        self.sent = self.sent.wrapping_add(1);
        if self.sent % 256 == 0 && self.producer.check_readers().is_err() {
            return Err(Fail::Disconnected);
        }
        // The fast path: room is there (no clock, no waiter).
        let wake = match self.producer.try_write(payload) {
            Ok(wake) => wake,
            Err(WriteError::Full) => self.until(deadline, |p| p.try_write(payload))?,
            Err(e) => return Err(self.failed(e)),
        };
        if wake {
            wake::readers(&self.segment);
        }
        Ok(())
    }

    /// Reserves `len` bytes in the ring, lets `fill` write the message in
    /// place and returns how many bytes it wrote: no copy (a loan).
    /// On `overflow=drop-oldest` rings the message is built in a buffer
    /// and copied (a lapped reader may be reading those bytes).
    pub(crate) fn send_with(
        &mut self,
        len: usize,
        deadline: Deadline<'_>,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, Fail> {
        if len > self.max_msg {
            return Err(self.too_large(len));
        }
        if self.segment.ring.geometry().overflow == ipcx_ring::Overflow::DropOldest {
            let mut buf = vec![0u8; len];
            let n = fill(&mut buf).min(len);
            self.send(&buf[..n], deadline)?;
            return Ok(n);
        }
        let reservation = self.until(deadline, |p| p.try_reserve(len))?;
        let n = fill(self.producer.reserved_mut(&reservation)).min(len);
        if self.producer.commit(reservation, n) {
            wake::readers(&self.segment);
        }
        Ok(n)
    }

    /// Runs `attempt` until it is done, waiting for room (while it says
    /// `Full`) as the endpoint says.
    fn until<R>(
        &mut self,
        deadline: Deadline<'_>,
        mut attempt: impl FnMut(&mut Producer) -> Result<R, WriteError>,
    ) -> Result<R, Fail> {
        let mut waiter = Waiter::new(self.wait, deadline);
        loop {
            if let Some(done) = self.try_once(&mut attempt)? {
                return Ok(done);
            }
            match waiter.spin() {
                Ok(true) => {
                    if waiter.due() {
                        self.evict_dead_readers();
                    }
                    continue;
                }
                Ok(false) => {}
                // Out of time with the ring still full: a full ring whose
                // readers are all dead is disconnected, not full. (A long
                // wait looks every CHECK_EVERY; short ones look here.)
                Err(Fail::NotReady) => {
                    let now = Instant::now();
                    if self
                        .last_look
                        .is_none_or(|at| now.duration_since(at) >= LOOK_AGAIN_AFTER)
                    {
                        self.last_look = Some(now);
                        self.evict_dead_readers();
                        if let Some(done) = self.try_once(&mut attempt)? {
                            return Ok(done);
                        }
                    }
                    return Err(Fail::NotReady);
                }
                Err(f) => return Err(f),
            }
            let seen = self.producer.begin_wait();
            let barrier = membarrier::heavy();
            let again = self.try_once(&mut attempt);
            if !matches!(again, Ok(None)) {
                self.producer.end_wait();
                if let Some(done) = again? {
                    return Ok(done);
                }
            }
            futex::wait_or_stop(
                self.segment.ring.space_ready_futex(),
                seen,
                deadline.stop(),
                waiter.nap_after(barrier),
            );
            self.producer.end_wait();
            if waiter.due() {
                self.evict_dead_readers();
            }
        }
    }

    /// One attempt: `Ok(None)` while the ring is full.
    fn try_once<R>(
        &mut self,
        attempt: &mut impl FnMut(&mut Producer) -> Result<R, WriteError>,
    ) -> Result<Option<R>, Fail> {
        let result = attempt(&mut self.producer);
        if self.producer.take_wake() {
            wake::readers(&self.segment);
        }
        match result {
            Ok(done) => Ok(Some(done)),
            Err(WriteError::Full) => Ok(None),
            Err(e) => Err(self.failed(e)),
        }
    }

    /// What a write error means for the channel.
    #[cold]
    fn failed(&self, e: WriteError) -> Fail {
        match e {
            WriteError::Full => Fail::NotReady,
            WriteError::NoReaders => Fail::Disconnected,
            WriteError::TooLarge { len, .. } => self.too_large(len),
            WriteError::Corrupt(c) => {
                Fail::Error(Error::new(ErrorKind::Protocol, c.to_string()).at(&self.label))
            }
        }
    }

    /// Frees the slots of readers whose processes are gone.
    fn evict_dead_readers(&self) {
        let header = self.segment.header();
        for (slot, _) in self.segment.ring.snapshot().readers {
            let who = header.reader[slot].get();
            // pid 0: attached this instant and not recorded yet.
            if who.pid != 0 && !who.is_alive() && self.segment.ring.evict_reader(slot) {
                header.reader[slot].clear();
            }
        }
    }
}

impl Drop for ShmWriter {
    fn drop(&mut self) {
        self.disarm();
        if self.producer.close() {
            wake::readers(&self.segment);
        }
        self.segment.header().producer.clear();
        // Leaving the segment (and removing its name) is the transport's:
        // see `transport::cleanup`.
    }
}

impl ShmReader {
    pub(crate) fn new(
        consumer: Consumer,
        segment: Arc<Segment>,
        wait: WaitMode,
        max_msg: usize,
        label: Arc<str>,
    ) -> ShmReader {
        let mut consumer = consumer;
        if membarrier::register() {
            consumer.set_barrier(Barrier::Asymmetric);
        }
        segment.header().reader[consumer.slot()].set(ProcessId::me());
        ShmReader {
            consumer,
            wait,
            max_msg,
            label,
            stopped: false,
            corrupt: false,
            missed: 0,
            ahead: ready::Ahead::Nothing,
            doorbell: ready::Doorbell::default(),
            segment,
        }
    }

    /// Stops waiting for messages: what is in the ring is still read.
    pub(crate) fn stop(&mut self) {
        self.stopped = true;
        self.consumer.stop_at_tail();
    }

    /// Messages lost to `overflow=drop-oldest` so far.
    pub(crate) fn missed(&self) -> u64 {
        self.missed
    }

    /// The segment, if a lent message stays where it lies until the next
    /// receive: every ring but a `drop-oldest` one (whose reader copies
    /// each record out, since the producer may lap it).
    pub(crate) fn pinned_segment(&self) -> Option<Arc<Segment>> {
        (self.segment.ring.geometry().overflow != ipcx_ring::Overflow::DropOldest)
            .then(|| Arc::clone(&self.segment))
    }

    /// Gives the lent message's room back to the producer now (unless a
    /// message was already taken ahead for the next receive: that one
    /// stays lent).
    pub(crate) fn release_held(&mut self) {
        if matches!(self.ahead, ready::Ahead::Nothing) && self.consumer.release() {
            wake::producer(&self.segment);
        }
    }

    /// The next message, lent in place until the next call.
    #[inline]
    pub(crate) fn recv(&mut self, deadline: Deadline<'_>) -> Result<&[u8], Fail> {
        if self.corrupt {
            return Err(Fail::Disconnected);
        }
        match std::mem::take(&mut self.ahead) {
            ready::Ahead::Nothing => {}
            ready::Ahead::Message => return self.lend(),
            ready::Ahead::Failed(fail) => return Err(fail),
        }
        // The fast path: a message is there (no clock, no waiter).
        if !self.take_one()? {
            self.wait_for_one(deadline)?;
        }
        self.lend()
    }

    /// Waits until a message is taken, or the producer is gone, or the
    /// deadline passes.
    fn wait_for_one(&mut self, deadline: Deadline<'_>) -> Result<(), Fail> {
        let mut waiter = Waiter::new(self.wait, deadline);
        loop {
            if self.take_one()? {
                break;
            }
            // Closed is one atomic load; "died" reads /proc, so only now and then.
            let gone = self.stopped
                || self.segment.ring.producer_state() == ProducerState::Closed
                || (waiter.due() && self.producer_died());
            if gone {
                // Read what it committed (by the commit markers: a killed
                // producer may not have published its last tail), then stop.
                self.consumer.read_by_commit_markers();
                if self.take_one()? {
                    break;
                }
                return Err(Fail::Disconnected);
            }
            if waiter.spin()? {
                continue;
            }
            let seen = self.consumer.begin_wait();
            let barrier = membarrier::heavy();
            let took = self.take_one();
            if !matches!(took, Ok(false)) {
                self.consumer.end_wait();
                took?;
                break;
            }
            futex::wait_or_stop(
                self.segment.ring.data_ready_futex(),
                seen,
                deadline.stop(),
                waiter.nap_after(barrier),
            );
            self.consumer.end_wait();
        }
        Ok(())
    }

    /// The message just taken, checked against this end's `max_msg`.
    fn lend(&self) -> Result<&[u8], Fail> {
        let bytes = self.consumer.held_bytes();
        if bytes.len() > self.max_msg {
            return Err(Fail::Error(
                Error::new(
                    ErrorKind::TooLarge,
                    format!(
                        "a {}-byte message is larger than this end accepts (max_msg={})",
                        bytes.len(),
                        self.max_msg
                    ),
                )
                .at(&self.label),
            ));
        }
        Ok(bytes)
    }

    /// The busy path of [`ShmReader::recv`]: the next message if one is
    /// committed now. `None` when there is none yet, or when something
    /// needs more than lending it (a message taken ahead, a corrupt ring,
    /// one over `max_msg`): `recv` then does the rest.
    #[inline]
    pub(crate) fn recv_ready(&mut self) -> Option<&[u8]> {
        if self.corrupt || !matches!(self.ahead, ready::Ahead::Nothing) {
            return None;
        }
        match self.take_one() {
            Ok(true) => {}
            Ok(false) => return None,
            Err(fail) => {
                self.ahead = ready::Ahead::Failed(fail);
                return None;
            }
        }
        if self.consumer.held_bytes().len() > self.max_msg {
            self.ahead = ready::Ahead::Message; // `recv` reports it
            return None;
        }
        Some(self.consumer.held_bytes())
    }

    /// Takes the next message if one is committed (`held_bytes` lends it).
    #[inline]
    fn take_one(&mut self) -> Result<bool, Fail> {
        let result = self.consumer.try_next();
        if self.consumer.take_wake() {
            wake::producer(&self.segment);
        }
        match result {
            Ok(Some(missed)) => {
                self.missed += missed;
                Ok(true)
            }
            Ok(None) => Ok(false),
            Err(ReadError::Closed) => Err(Fail::Disconnected),
            Err(ReadError::Corrupt(c)) => {
                self.corrupt = true;
                Err(Fail::Error(
                    Error::new(
                        ErrorKind::Protocol,
                        format!(
                            "{c}: the ring was written by something other than its ipcx \
                             sender; this receiver stops reading it (reopen to start afresh)"
                        ),
                    )
                    .at(&self.label),
                ))
            }
        }
    }

    /// True when the producer's process died without closing (SIGKILL).
    fn producer_died(&self) -> bool {
        let who = self.segment.header().producer.get();
        self.segment.ring.producer_state() == ProducerState::Open && who.pid != 0 && !who.is_alive()
    }
}

impl Drop for ShmReader {
    fn drop(&mut self) {
        self.disarm();
        if self.consumer.detach() {
            wake::producer(&self.segment);
        }
        self.segment.header().reader[self.consumer.slot()].clear();
    }
}
