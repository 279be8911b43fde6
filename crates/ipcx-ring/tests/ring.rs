//! The ring between threads: order, boundaries, broadcast, backpressure,
//! drop-oldest, close, loans, and corrupt memory. Also run under miri
//! (`cargo +nightly miri test -p ipcx-ring`), with fewer messages.

#![cfg(not(loom))]

mod common;

use std::thread;

use common::{check, len_of, message};
use ipcx_ring::{Consumer, Geometry, Overflow, Producer, ReadError, Ring, WriteError};

const N: u64 = if cfg!(miri) { 200 } else { 100_000 };

fn ring(capacity: usize, readers: usize, overflow: Overflow) -> Ring {
    Ring::on_heap(Geometry {
        capacity,
        readers,
        overflow,
    })
    .unwrap()
}

fn write_all(mut tx: Producer, n: u64, max: usize) {
    for i in 0..n {
        let msg = message(i, len_of(i, max));
        loop {
            match tx.try_write(&msg) {
                Ok(_) => break,
                Err(WriteError::Full) => thread::yield_now(),
                Err(e) => panic!("write {i}: {e}"),
            }
        }
    }
}

/// Reads until Closed; returns (ids in order, total missed).
fn read_all(rx: &mut Consumer) -> (Vec<u64>, u64) {
    let (mut ids, mut missed) = (Vec::new(), 0);
    loop {
        match rx.try_read() {
            Ok(Some(m)) => {
                missed += m.missed;
                ids.push(check(m.bytes).unwrap());
            }
            Ok(None) => thread::yield_now(),
            Err(ReadError::Closed) => return (ids, missed),
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn spsc_keeps_order_and_boundaries_across_wraps() {
    let r = ring(256, 1, Overflow::Block);
    let mut rx = Consumer::attach(&r).unwrap();
    let tx = Producer::new(&r).unwrap();
    let max = 120;
    let writer = thread::spawn(move || write_all(tx, N, max));
    let (ids, missed) = read_all(&mut rx);
    writer.join().unwrap();
    assert_eq!(missed, 0);
    assert_eq!(ids, (0..N).collect::<Vec<_>>());
}

#[test]
fn every_reader_of_a_broadcast_sees_every_message() {
    let r = ring(512, 3, Overflow::Block);
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let mut rx = Consumer::attach(&r).unwrap();
            thread::spawn(move || read_all(&mut rx))
        })
        .collect();
    let tx = Producer::new(&r).unwrap();
    write_all(tx, N / 4, 200);
    for reader in readers {
        let (ids, missed) = reader.join().unwrap();
        assert_eq!((ids.len() as u64, missed), (N / 4, 0));
        assert!(ids.windows(2).all(|w| w[1] == w[0] + 1));
    }
}

#[test]
fn a_full_ring_refuses_until_the_slowest_reader_releases() {
    let r = ring(64, 2, Overflow::Block);
    let mut fast = Consumer::attach(&r).unwrap();
    let mut slow = Consumer::attach(&r).unwrap();
    let mut tx = Producer::new(&r).unwrap();
    let msg = message(0, 16);
    let mut sent = 0;
    while tx.try_write(&msg).is_ok() {
        sent += 1;
    }
    assert_eq!(tx.try_write(&msg), Err(WriteError::Full));
    assert!(sent >= 1);
    for _ in 0..sent {
        assert!(fast.try_read().unwrap().is_some());
    }
    fast.release();
    assert_eq!(
        tx.try_write(&msg),
        Err(WriteError::Full),
        "the slow reader holds the room"
    );
    for _ in 0..sent {
        assert!(slow.try_read().unwrap().is_some());
    }
    slow.release();
    tx.try_write(&msg).unwrap();
}

#[test]
fn messages_sent_before_the_first_reader_wait_for_it() {
    let r = ring(256, 1, Overflow::Block);
    let mut tx = Producer::new(&r).unwrap();
    for i in 0..3 {
        tx.try_write(&message(i, 40)).unwrap();
    }
    let mut rx = Consumer::attach(&r).unwrap();
    drop(tx);
    assert_eq!(read_all(&mut rx), (vec![0, 1, 2], 0));
}

#[test]
fn the_producer_learns_that_every_reader_is_gone() {
    let r = ring(64, 1, Overflow::Block);
    let mut rx = Consumer::attach(&r).unwrap();
    let mut tx = Producer::new(&r).unwrap();
    let msg = message(0, 16);
    tx.try_write(&msg).unwrap();
    assert!(!rx.detach());
    let result = (0..10).map(|_| tx.try_write(&msg)).find(|r| r.is_err());
    assert_eq!(result, Some(Err(WriteError::NoReaders)));
}

#[test]
fn too_large_is_refused_and_the_largest_fits() {
    let r = ring(128, 1, Overflow::Block);
    let mut rx = Consumer::attach(&r).unwrap();
    let mut tx = Producer::new(&r).unwrap();
    let max = tx.max_len();
    assert_eq!(max, 112);
    assert_eq!(
        tx.try_write(&vec![1; max + 1]),
        Err(WriteError::TooLarge { len: max + 1, max })
    );
    for i in 0..5 {
        // After the first, each needs the reader past a padding record.
        while tx.try_write(&message(i, max)) == Err(WriteError::Full) {
            assert!(rx.try_read().unwrap().is_none());
        }
        let m = rx.try_read().unwrap().unwrap();
        assert_eq!(check(m.bytes), Ok(i));
        rx.release(); // a whole-ring message needs the last one back first
    }
}

#[test]
fn a_loan_is_written_in_place_and_may_be_committed_shorter() {
    let r = ring(256, 1, Overflow::Block);
    let mut rx = Consumer::attach(&r).unwrap();
    let mut tx = Producer::new(&r).unwrap();
    let loan = tx.try_reserve(100).unwrap();
    let buf = tx.reserved_mut(&loan);
    assert_eq!(buf.len(), 100);
    buf[..40].copy_from_slice(&message(7, 40));
    tx.commit(loan, 40);
    assert_eq!(check(rx.try_read().unwrap().unwrap().bytes), Ok(7));
    // An abandoned reservation publishes nothing.
    let _ = tx.try_reserve(10).unwrap();
    assert!(rx.try_read().unwrap().is_none());
}

#[test]
fn drop_oldest_laps_a_slow_reader_and_counts_what_it_missed() {
    let r = ring(256, 1, Overflow::DropOldest);
    let mut rx = Consumer::attach(&r).unwrap();
    let mut tx = Producer::new(&r).unwrap();
    for i in 0..100 {
        tx.try_write(&message(i, 24)).unwrap();
    }
    drop(tx);
    let (ids, missed) = read_all(&mut rx);
    assert!(
        ids.len() >= 3,
        "the newest messages are still there: {ids:?}"
    );
    assert_eq!(*ids.last().unwrap(), 99);
    assert_eq!(
        ids.len() as u64 + missed,
        100,
        "every message read or counted"
    );
}

#[test]
fn drop_oldest_under_a_racing_producer_never_shows_a_torn_record() {
    let r = ring(256, 2, Overflow::DropOldest);
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let mut rx = Consumer::attach(&r).unwrap();
            thread::spawn(move || read_all(&mut rx))
        })
        .collect();
    let mut tx = Producer::new(&r).unwrap();
    for i in 0..N {
        tx.try_write(&message(i, len_of(i, 100))).unwrap();
    }
    drop(tx);
    for reader in readers {
        let (ids, missed) = reader.join().unwrap();
        assert!(ids.windows(2).all(|w| w[1] > w[0]), "in order");
        assert_eq!(
            ids.len() as u64 + missed,
            N,
            "every message read or counted"
        );
        assert_eq!(ids.last(), Some(&(N - 1)));
    }
}

#[test]
fn a_second_producer_is_refused() {
    let r = ring(64, 1, Overflow::Block);
    let _tx = Producer::new(&r).unwrap();
    assert!(Producer::new(&r).is_err());
}

#[test]
fn a_producer_taking_over_continues_the_sequence() {
    let r = ring(256, 1, Overflow::Block);
    let mut rx = Consumer::attach(&r).unwrap();
    let mut first = Producer::new(&r).unwrap();
    first.try_write(&message(0, 30)).unwrap();
    // Dies after committing the second message but before publishing it.
    first.try_write(&message(1, 30)).unwrap();
    let dead = std::mem::ManuallyDrop::new(first); // no close: it "died"
    let mut second = Producer::take_over(&r).unwrap();
    second.try_write(&message(2, 30)).unwrap();
    drop(second);
    assert_eq!(read_all(&mut rx), (vec![0, 1, 2], 0));
    drop(std::mem::ManuallyDrop::into_inner(dead));
}

#[test]
fn reader_slots_run_out_and_come_back() {
    let r = ring(64, 2, Overflow::Block);
    let a = Consumer::attach(&r).unwrap();
    let _b = Consumer::attach(&r).unwrap();
    assert!(Consumer::attach(&r).is_err());
    drop(a);
    let c = Consumer::attach(&r).unwrap();
    assert!(r.evict_reader(c.slot()));
    assert!(Consumer::attach(&r).is_ok());
}

#[test]
fn sleepers_are_woken_only_when_they_announced_it() {
    let r = ring(256, 1, Overflow::Block);
    let mut rx = Consumer::attach(&r).unwrap();
    let mut tx = Producer::new(&r).unwrap();
    assert_eq!(tx.try_write(b"no sleeper"), Ok(false));
    rx.try_read().unwrap().unwrap();
    let seen = rx.begin_wait();
    assert!(rx.try_read().unwrap().is_none());
    assert_eq!(tx.try_write(b"a sleeper"), Ok(true));
    assert_ne!(
        r.data_ready_futex()
            .load(std::sync::atomic::Ordering::SeqCst),
        seen
    );
    rx.end_wait();
    assert_eq!(tx.try_write(b"gone back"), Ok(false));
}

/// Scribbles pseudo-random words over the whole region (control, slots and
/// records) between operations: every operation returns, none reads out of
/// bounds (miri checks that part).
#[test]
#[allow(unsafe_code)]
fn corrupt_memory_gives_errors_never_out_of_bounds_reads() {
    let geometry = Geometry {
        capacity: 256,
        readers: 2,
        overflow: Overflow::Block,
    };
    let layout = std::alloc::Layout::from_size_align(geometry.region_len(), 128).unwrap();
    // SAFETY: non-zero size.
    let base = unsafe { std::alloc::alloc_zeroed(layout) };
    let region = std::ptr::NonNull::new(base).unwrap();
    // SAFETY: 128-aligned, zeroed, region_len bytes, freed after the ring is dropped.
    let r = unsafe { Ring::from_raw(region, geometry) }.unwrap();
    let words = geometry.region_len() / 8;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let rounds = if cfg!(miri) { 200 } else { 20_000 };
    {
        let mut rx = Consumer::attach(&r).unwrap();
        let mut tx = Producer::new(&r).unwrap();
        let (mut errors, mut reads) = (0, 0);
        for round in 0..rounds {
            // Write, scribble, read: the scribble can land on the unread record.
            let _ = tx.try_write(&message(round, 8 + (round as usize % 60)));
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let at = (state % words as u64) as usize;
            let value = match round % 3 {
                0 => state,
                1 => state & 0xffff_ffff,
                _ => state >> 32,
            };
            // SAFETY: `at` is within the region and nothing else runs now;
            // the write stands for another process scribbling.
            unsafe { std::ptr::write_volatile(base.cast::<u64>().add(at), value) };
            match rx.try_read() {
                Ok(Some(m)) => {
                    reads += 1;
                    let _ = m.bytes.iter().map(|&b| b as u64).sum::<u64>();
                }
                Ok(None) => {}
                Err(_) => errors += 1,
            }
        }
        assert!(errors > 0, "scribbling was noticed");
        let _ = reads;
    }
    drop(r);
    // SAFETY: allocated above with this layout; the ring is gone.
    unsafe { std::alloc::dealloc(base, layout) };
}
