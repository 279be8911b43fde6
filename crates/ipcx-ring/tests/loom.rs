//! Model checks of the ring protocol with loom: every interleaving (up to a
//! preemption bound) and every value a load may see. Payloads are copied
//! with atomics under loom, so a missing release/acquire shows up as a torn
//! or stale message, and a lost wake-up as a deadlock.
//!
//! `RUSTFLAGS="--cfg loom" cargo test -p ipcx-ring --test loom --release`
//! (`scripts/loom` does this with its own target directory).

#![cfg(loom)]

mod common;

use std::sync::Arc;

use common::{check, message};
use ipcx_ring::{Consumer, Geometry, Overflow, Producer, ReadError, Ring, WriteError};
use loom::sync::atomic::{AtomicU32, Ordering};
use loom::sync::{Condvar, Mutex};
use loom::thread;

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.max_branches = 10_000;
    builder.check(f);
}

fn ring(readers: usize, overflow: Overflow) -> Ring {
    Ring::on_heap(Geometry {
        capacity: 64,
        readers,
        overflow,
    })
    .unwrap()
}

/// The kernel's futex, modelled: `wait` sleeps only while the word still
/// holds `seen` (checked under the lock, as FUTEX_WAIT does under its
/// bucket lock); `wake` wakes every sleeper.
#[derive(Default)]
struct Futex {
    lock: Mutex<()>,
    cond: Condvar,
}

impl Futex {
    fn wait(&self, word: &AtomicU32, seen: u32) {
        let mut guard = self.lock.lock().unwrap();
        while word.load(Ordering::SeqCst) == seen {
            guard = self.cond.wait(guard).unwrap();
        }
    }

    fn wake(&self) {
        let _guard = self.lock.lock().unwrap();
        self.cond.notify_all();
    }
}

/// The futexes of one ring: readers sleep on `data`, the producer on `space`.
#[derive(Default)]
struct Futexes {
    data: Futex,
    space: Futex,
}

/// Writes each message, sleeping while full, as ipcx's shm link does.
fn write_blocking(tx: &mut Producer, fx: &Futexes, msgs: &[Vec<u8>]) {
    // One attempt: true once written; wakes readers the producer says to.
    let attempt = |tx: &mut Producer, msg: &[u8]| {
        let written = match tx.try_write(msg) {
            Ok(wake) => {
                if wake {
                    fx.data.wake();
                }
                true
            }
            Err(WriteError::Full) => false,
            Err(e) => panic!("{e}"),
        };
        if tx.take_wake() {
            fx.data.wake();
        }
        written
    };
    for msg in msgs {
        while !attempt(tx, msg) {
            let seen = tx.begin_wait();
            if !attempt(tx, msg) {
                fx.space.wait(tx.ring().space_ready_futex(), seen);
                tx.end_wait();
                continue;
            }
            tx.end_wait();
            break;
        }
    }
    if tx.close() {
        fx.data.wake();
    }
}

enum Step {
    Got(u64),
    Empty,
    Closed,
}

fn step(rx: &mut Consumer, fx: &Futexes) -> Step {
    let step = match rx.try_read() {
        Ok(Some(m)) => Step::Got(check(m.bytes).unwrap()),
        Ok(None) => Step::Empty,
        Err(ReadError::Closed) => Step::Closed,
        Err(e) => panic!("{e}"),
    };
    if rx.take_wake() {
        fx.space.wake();
    }
    step
}

/// Reads until Closed, sleeping while empty: ids in order.
fn read_blocking(rx: &mut Consumer, fx: &Futexes) -> Vec<u64> {
    let mut ids = Vec::new();
    loop {
        match step(rx, fx) {
            Step::Got(id) => ids.push(id),
            Step::Closed => return ids,
            Step::Empty => {
                let seen = rx.begin_wait();
                match step(rx, fx) {
                    Step::Got(id) => ids.push(id),
                    Step::Closed => {
                        rx.end_wait();
                        return ids;
                    }
                    Step::Empty => fx.data.wait(rx.ring().data_ready_futex(), seen),
                }
                rx.end_wait();
            }
        }
    }
}

/// Three messages through a 64-byte ring: it wraps with padding and fills,
/// both sides sleep and are woken; nothing torn, lost or repeated.
#[test]
fn spsc_with_sleeping_sides() {
    model(|| {
        let r = ring(1, Overflow::Block);
        let fx = Arc::new(Futexes::default());
        let mut rx = Consumer::attach(&r).unwrap();
        let mut tx = Producer::new(&r).unwrap();
        let fx2 = fx.clone();
        let writer = thread::spawn(move || {
            let msgs = [message(0, 24), message(1, 16), message(2, 24)];
            write_blocking(&mut tx, &fx2, &msgs);
        });
        assert_eq!(read_blocking(&mut rx, &fx), vec![0, 1, 2]);
        writer.join().unwrap();
    });
}

/// A reader attaching while the producer writes and another reader reads:
/// it sees an unbroken run of messages ending with the last one.
#[test]
fn broadcast_attach_races_the_producer() {
    model(|| {
        let r = ring(2, Overflow::Block);
        let fx = Arc::new(Futexes::default());
        let mut a = Consumer::attach(&r).unwrap();
        let mut tx = Producer::new(&r).unwrap();
        let (r2, fx2) = (r.clone(), fx.clone());
        let late = thread::spawn(move || {
            let mut b = Consumer::attach(&r2).unwrap();
            read_blocking(&mut b, &fx2)
        });
        let fx3 = fx.clone();
        let writer = thread::spawn(move || {
            write_blocking(&mut tx, &fx3, &[message(0, 8), message(1, 8)]);
        });
        assert_eq!(read_blocking(&mut a, &fx), vec![0, 1]);
        writer.join().unwrap();
        let seen = late.join().unwrap();
        assert!(seen.windows(2).all(|w| w[1] == w[0] + 1), "{seen:?}");
        assert!(seen.last().is_none_or(|&l| l == 1), "{seen:?}");
    });
}

/// DropOldest: the second message overwrites the first one's header while
/// the reader may be copying it; whatever the reader gets is intact.
#[test]
fn drop_oldest_reader_never_sees_a_torn_record() {
    model(|| {
        let r = ring(1, Overflow::DropOldest);
        let mut rx = Consumer::attach(&r).unwrap();
        let mut tx = Producer::new(&r).unwrap();
        let writer = thread::spawn(move || {
            for i in 0..2 {
                tx.try_write(&message(i, 24)).unwrap();
            }
        });
        let mut ids = Vec::new();
        for _ in 0..2 {
            match rx.try_read() {
                Ok(Some(m)) => ids.push(check(m.bytes).unwrap()),
                Ok(None) | Err(ReadError::Closed) => {}
                Err(e) => panic!("{e}"),
            }
        }
        writer.join().unwrap();
        assert!(ids.windows(2).all(|w| w[1] > w[0]), "{ids:?}");
    });
}
