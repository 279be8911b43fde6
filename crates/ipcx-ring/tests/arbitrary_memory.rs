//! Property: whatever bytes the region holds — a hostile or crashed peer
//! wrote them — attaching, reading and writing never panic and never lend
//! more than the ring holds. (miri checks the "never out of bounds" part
//! on the scribbling test in ring.rs.)

#![cfg(not(loom))]
#![allow(unsafe_code)]

use ipcx_ring::{Consumer, Geometry, Overflow, Producer, Ring};
use proptest::prelude::*;

fn geometry(drop_oldest: bool) -> Geometry {
    Geometry {
        capacity: 256,
        readers: 2,
        overflow: if drop_oldest {
            Overflow::DropOldest
        } else {
            Overflow::Block
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: if cfg!(miri) { 8 } else { 2000 },
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_region_contents_give_errors_not_panics(
        words in proptest::collection::vec(any::<u64>(), 1024 / 8),
        drop_oldest in any::<bool>(),
        ops in proptest::collection::vec(0u8..3, 1..40),
    ) {
        let g = geometry(drop_oldest);
        assert_eq!(g.region_len(), 1024);
        let layout = std::alloc::Layout::from_size_align(g.region_len(), 128).unwrap();
        // SAFETY: non-zero size.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        // SAFETY: `base` has region_len bytes, 8-aligned; nothing else uses it.
        unsafe { std::ptr::copy_nonoverlapping(words.as_ptr().cast::<u8>(), base, g.region_len()) };
        // SAFETY: 128-aligned, region_len bytes, freed below after the ring.
        let ring = unsafe { Ring::from_raw(std::ptr::NonNull::new(base).unwrap(), g) }.unwrap();
        {
            let mut rx = Consumer::attach(&ring).ok();
            let mut tx = Producer::new(&ring).or_else(|_| Producer::take_over(&ring)).ok();
            for op in ops {
                match (op, &mut tx, &mut rx) {
                    (0, Some(tx), _) => { let _ = tx.try_write(&[op; 40]); }
                    (1, _, Some(rx)) => {
                        if let Ok(Some(m)) = rx.try_read() {
                            prop_assert!(m.bytes.len() <= g.capacity);
                        }
                    }
                    (_, Some(tx), _) => { let _ = tx.try_reserve(300).is_err(); }
                    _ => {}
                }
            }
            let _ = ring.snapshot();
        }
        drop(ring);
        // SAFETY: allocated above with this layout; the ring is gone.
        unsafe { std::alloc::dealloc(base, layout) };
    }
}

/// Fuzzing found these: positions near 2^64 overflowed arithmetic, and a
/// floor that never reads back the same kept `attach` looping forever.
#[test]
fn positions_near_the_top_of_u64_neither_overflow_nor_hang() {
    for byte in [0xff_u8, 0xf9, 0x7f] {
        let g = geometry(false);
        let layout = std::alloc::Layout::from_size_align(g.region_len(), 128).unwrap();
        // SAFETY: non-zero size.
        let base = unsafe { std::alloc::alloc(layout) };
        // SAFETY: `base` has region_len bytes.
        unsafe { std::ptr::write_bytes(base, byte, g.region_len()) };
        // SAFETY: 128-aligned, region_len bytes, initialised, freed below.
        let ring = unsafe { Ring::from_raw(std::ptr::NonNull::new(base).unwrap(), g) }.unwrap();
        {
            let mut rx = Consumer::attach(&ring).ok();
            let mut tx = Producer::new(&ring)
                .or_else(|_| Producer::take_over(&ring))
                .ok();
            for i in 0..20u8 {
                if let Some(tx) = &mut tx {
                    let _ = tx.try_write(&[i; 40]);
                    let _ = tx.try_reserve(300);
                }
                if let Some(rx) = &mut rx {
                    let _ = rx.try_read();
                }
            }
        }
        drop(ring);
        // SAFETY: allocated above with this layout; the ring is gone.
        unsafe { std::alloc::dealloc(base, layout) };
    }
}
