//! A shared-memory ring whose every byte another process chose, then a
//! sequence of operations: errors, never a panic or an out-of-bounds read
//! (the fuzzer runs with AddressSanitizer).
#![no_main]

use ipcx_ring::{Consumer, Geometry, Overflow, Producer, Ring};
use libfuzzer_sys::fuzz_target;

const REGION: usize = 512 + 2 * 128 + 256;

fuzz_target!(|input: &[u8]| {
    let Some((&ops_len, rest)) = input.split_first() else { return };
    let geometry = Geometry {
        capacity: 256,
        readers: 2,
        overflow: if ops_len & 1 == 0 { Overflow::Block } else { Overflow::DropOldest },
    };
    assert_eq!(geometry.region_len(), REGION);
    let layout = std::alloc::Layout::from_size_align(REGION, 128).unwrap();
    // SAFETY: non-zero size.
    let base = unsafe { std::alloc::alloc_zeroed(layout) };
    let fill = rest.len().min(REGION);
    // SAFETY: `base` has REGION bytes; `fill` ≤ REGION and ≤ rest.len().
    unsafe { std::ptr::copy_nonoverlapping(rest.as_ptr(), base, fill) };
    let ops = &rest[fill..];
    // SAFETY: 128-aligned, REGION bytes, freed below after the ring.
    let ring = unsafe { Ring::from_raw(std::ptr::NonNull::new(base).unwrap(), geometry) }.unwrap();
    {
        let mut rx = Consumer::attach(&ring).ok();
        let mut tx = Producer::new(&ring).or_else(|_| Producer::take_over(&ring)).ok();
        for &op in ops {
            match (op % 3, &mut tx, &mut rx) {
                (0, Some(tx), _) => {
                    let _ = tx.try_write(&vec![op; usize::from(op)]);
                }
                (1, _, Some(rx)) => {
                    if let Ok(Some(m)) = rx.try_read() {
                        assert!(m.bytes.len() <= geometry.capacity);
                        let _ = m.bytes.iter().fold(0u8, |a, b| a ^ b);
                    }
                }
                (_, Some(tx), _) => {
                    let _ = tx.try_reserve(usize::from(op) * 4);
                }
                _ => {}
            }
        }
    }
    drop(ring);
    // SAFETY: allocated above with this layout; the ring is gone.
    unsafe { std::alloc::dealloc(base, layout) };
});
