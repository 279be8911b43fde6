//! Peers that do not speak ipcx: a flood of garbage is reported a few
//! times at most, costs the receiver little CPU, and a good sender that
//! comes after it gets through.

use std::time::Duration;

use ipcx::RecvTimeoutError;

use crate::harness::{Peer, Scratch, PATIENCE};
use crate::transports::{parent_receives, Family, Transport};
use crate::Msg;

pub const ALL: &[(&str, crate::cases::Case)] = &[(
    "garbage_flood_then_good_sender",
    garbage_flood_then_good_sender,
)];

/// CPU time this thread has used.
pub fn thread_cpu() -> Duration {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid, writable rusage.
    let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) };
    assert_eq!(r, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// About 1 MB of garbage from a foreign peer, then a good sender: at most
/// a few errors, well under a second of the receiver's CPU, and the good
/// messages delivered.
fn garbage_flood_then_good_sender(t: &Transport) {
    if t.is_pipe() || t.family == Family::Ring || t.is_remote() {
        return; // one writer only; a scribbled ring is tests/shm's; NATS: tests/nats
    }
    let s = Scratch::new(t.name);
    // Text, as `echo` or `cat` would write: no byte is 0xff, so nothing in
    // it looks like a hello marker.
    let line = b"GET / HTTP/1.1 garbage garbage garbage garbage garbage\r\n";
    let (chunk, repeat) = match t.family {
        Family::Stream => (line.repeat(1000), 18), // 18 × 57 KB
        Family::Queue => (line.repeat(100), 180),  // 180 × 5.7 KB (msgmax 8192)
        _ => (line.repeat(16), 1100),              // 1 100 × 912 B
    };
    let hex: String = chunk.iter().map(|b| format!("{b:02x}")).collect();
    let (rx, flood) = parent_receives::<Msg>(
        t,
        &s,
        "raw",
        &[("raw", hex), ("repeat", repeat.to_string())],
    );
    let ep = rx.endpoint().to_string();
    let cpu_before = thread_cpu();
    // The good sender comes once the flood is written (or cut off): the
    // receiver, reading meanwhile in this thread, meets the garbage first.
    // (On a FIFO, one byte stream for all writers, that order also matters
    // for another reason: a write above PIPE_BUF is not atomic, and a frame
    // written meanwhile could land inside the garbage; documented.)
    let starter = std::thread::spawn(move || {
        let flood_line = flood.line();
        (
            flood,
            flood_line,
            Peer::spawn("send", &ep, &[("count", "3".into())]),
        )
    });
    let (mut got, mut errors) = (Vec::new(), 0);
    while got.len() < 3 {
        match rx.recv_timeout(PATIENCE) {
            Ok(m) => got.push(m.seq),
            Err(RecvTimeoutError::Failed(e)) => {
                errors += 1;
                eprintln!("{}: {e}", t.name);
            }
            Err(e) => panic!("{}: {e} after {got:?}", t.name),
        }
    }
    let cpu = thread_cpu().saturating_sub(cpu_before);
    eprintln!("{}: {errors} errors, receiver CPU {cpu:?}", t.name);
    assert_eq!(got, [0, 1, 2], "the good sender's messages, in order");
    assert!(errors <= 4, "{errors} errors for one flood");
    assert!(errors >= 1 || t.is_udp(), "the flood went unnoticed");
    // Observable without ending the loop: counted, and kept.
    assert!(rx.errors() >= errors, "{} counted", rx.errors());
    assert_eq!(rx.take_errors().len() as u64, errors.min(16));
    assert!(rx.take_errors().is_empty(), "taken once");
    assert!(
        cpu < Duration::from_secs(1),
        "the flood cost {cpu:?} of CPU"
    );
    let (flood, _, good) = starter.join().expect("starter");
    good.finish();
    drop(flood);
}
