use ipcx_ring::{Consumer, Geometry, Overflow, Producer, Ring};
use std::time::Instant;
fn main() {
    let r = Ring::on_heap(Geometry {
        capacity: 1 << 16,
        readers: 1,
        overflow: Overflow::Block,
    })
    .unwrap();
    let mut rx = Consumer::attach(&r).unwrap();
    let mut tx = Producer::new(&r).unwrap();
    if std::env::args().nth(1).as_deref() == Some("asym") {
        tx.set_barrier(ipcx_ring::Barrier::Asymmetric);
        rx.set_barrier(ipcx_ring::Barrier::Asymmetric);
    }
    let n = 5_000_000u64;
    let t = std::thread::spawn(move || {
        let mut set = rustix::thread::CpuSet::new();
        set.set(1);
        rustix::thread::sched_setaffinity(None, &set).unwrap();
        let msg = [7u8; 64];
        for _ in 0..n {
            while tx.try_write(&msg).is_err() {
                std::hint::spin_loop();
            }
        }
    });
    let mut set = rustix::thread::CpuSet::new();
    set.set(0);
    rustix::thread::sched_setaffinity(None, &set).unwrap();
    let mut buf = [0u8; 64];
    let mut got = 0;
    let t0 = Instant::now();
    while got < n {
        if let Some(m) = rx.try_read().unwrap() {
            buf.copy_from_slice(m.bytes);
            got += 1;
        } else {
            std::hint::spin_loop();
        }
    }
    let s = t0.elapsed().as_secs_f64();
    t.join().unwrap();
    println!("ring alone: {:.2} M msg/s", n as f64 / s / 1e6);
}
