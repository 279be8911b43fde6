//! ipcx's ring protocol alone (`ipcx-ring`'s Producer and Consumer over a
//! shared mapping, spinning): commit markers, sequence numbers, every
//! length checked, batched releases, but none of the channel around it
//! (no endpoint, lock, statistics, waiting, liveness or hello). Set
//! between the hand-written ring and ipcx's channel, it splits the gap
//! between them into what the protocol costs and what the channel does.

#![allow(unsafe_code)]

use std::ptr::NonNull;

use ipcx_ring::{Barrier, Consumer, Geometry, Overflow, Producer, Ring, WriteError};

fn geometry(capacity: usize) -> Geometry {
    Geometry {
        capacity,
        readers: 1,
        overflow: Overflow::Block,
    }
}

/// The ring `name` in /dev/shm: created, with its one reader attached
/// before the sender can open it, or opened.
fn open(name: &str, capacity: usize, create: bool) -> (Ring, Option<Consumer>) {
    let g = geometry(capacity);
    let view = |base: *mut u8| {
        // SAFETY: `base` maps g.region_len() bytes, zeroed when created,
        // page-aligned (so 128-aligned), and never unmapped.
        unsafe { Ring::from_raw(NonNull::new(base).expect("mapped"), g) }.expect("geometry")
    };
    let mut consumer = None;
    let base = crate::mapping::map(name, g.region_len(), create, |base| {
        consumer = Some(Consumer::attach(&view(base)).expect("a free slot"));
    });
    (view(base), consumer)
}

pub struct Tx(Producer);

impl Tx {
    pub fn open(name: &str, capacity: usize) -> Tx {
        let (ring, _) = open(name, capacity, false);
        let mut producer = Producer::new(&ring).expect("the only producer");
        // As ipcx sets it (it registers for membarrier): a plain load to
        // look for sleepers. Nobody sleeps here, so no membarrier is needed.
        producer.set_barrier(Barrier::Asymmetric);
        Tx(producer)
    }

    /// Copies `msg` in, spinning while the ring is full.
    pub fn send(&mut self, msg: &[u8]) {
        loop {
            match self.0.try_write(msg) {
                Ok(_) => return,
                Err(WriteError::Full) => std::hint::spin_loop(),
                Err(e) => panic!("write: {e}"),
            }
        }
    }
}

pub struct Rx(Consumer);

impl Rx {
    pub fn create(name: &str, capacity: usize) -> Rx {
        let (_, consumer) = open(name, capacity, true);
        let mut consumer = consumer.expect("attached at creation");
        consumer.set_barrier(Barrier::Asymmetric); // as for the producer
        Rx(consumer)
    }

    /// Lends the next message to `f`, spinning while the ring is empty.
    pub fn recv(&mut self, f: &mut dyn FnMut(&[u8])) {
        while self.0.try_next().expect("read").is_none() {
            std::hint::spin_loop();
        }
        f(self.0.held_bytes());
    }
}
