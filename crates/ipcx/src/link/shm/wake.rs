//! Waking the other side of a ring: its futex, and the doorbells of those
//! that sleep in a `poll` instead (see `sys::bell`). Runs only when the
//! ring said someone sleeps, never on the hot path.

use super::segment::Segment;
use crate::sys::bell::{self, Door};
use crate::sys::futex;

/// Wakes readers sleeping for data.
pub(super) fn readers(segment: &Segment) {
    futex::wake_all(segment.ring.data_ready_futex());
    let mut bells = segment.ring.data_ready_bells();
    while bells != 0 {
        let slot = bells.trailing_zeros() as usize;
        bells &= bells - 1;
        if let Ok(addr) = bell::address(&segment.name, Door::Reader(slot)) {
            bell::ring(&addr);
        }
    }
}

/// Wakes the producer sleeping for room.
pub(super) fn producer(segment: &Segment) {
    futex::wake_all(segment.ring.space_ready_futex());
    if segment.ring.space_ready_bell() {
        if let Ok(addr) = bell::address(&segment.name, Door::Producer) {
            bell::ring(&addr);
        }
    }
}
