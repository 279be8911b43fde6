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
