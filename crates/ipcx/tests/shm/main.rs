//! The shared-memory transport's own promises, across real processes
//! (peers are this binary re-run with `IPCX_PEER=<role>`):
//! a producer killed with SIGKILL at random points never shows a torn
//! record and is reported `Disconnected`; dead peers are noticed within
//! 100 ms even by a sleeping side; a second process scribbling over the
//! segment makes operations fail, never crash; stale segments are
//! reclaimed, live ones never; 0600, no symlinks; broadcast.

use ipcx_testkit::{harness, raw};
use std::io::BufRead;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use harness::{Peer, Scratch, PATIENCE};
use ipcx::{Bytes, ErrorKind, Receiver, RecvTimeoutError, Sender};
use libtest_mimic::{Arguments, Trial};

fn main() {
    if let Ok(role) = std::env::var(harness::PEER_ENV) {
        peer(&role, &std::env::var(harness::EP_ENV).expect("IPCX_EP"));
    }
    let tests: [(&str, fn()); 9] = [
        (
            "drop_oldest_reports_what_was_missed",
            drop_oldest_reports_what_was_missed,
        ),
        ("kill_9_mid_stream", kill_9_mid_stream),
        (
            "dead_producer_noticed_while_asleep",
            dead_producer_noticed_while_asleep,
        ),
        (
            "dead_reader_releases_a_blocked_sender",
            dead_reader_releases_a_blocked_sender,
        ),
        (
            "scribbling_peer_causes_errors_not_crashes",
            scribbling_peer_causes_errors_not_crashes,
        ),
        (
            "stale_segments_reclaimed_live_ones_not",
            stale_segments_reclaimed_live_ones_not,
        ),
        ("created_0600_and_no_symlinks", created_0600_and_no_symlinks),
        (
            "broadcast_to_reader_processes",
            broadcast_to_reader_processes,
        ),
        ("loans_and_plain_old_data", loans_and_plain_old_data),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            Trial::test(name, move || {
                test();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}

/// Message `seq`: its number, then a pattern of it; 1 to ~5000 bytes.
fn message(seq: u64) -> Vec<u8> {
    let len = 8 + (seq * 7919 % 5000) as usize;
    let mut m = vec![0u8; len];
    m[..8].copy_from_slice(&seq.to_le_bytes());
    for (i, b) in m[8..].iter_mut().enumerate() {
        *b = (seq as u8).wrapping_mul(13).wrapping_add(i as u8);
    }
    m
}

/// The number of an intact message; panics on a torn one.
fn check(bytes: &[u8]) -> u64 {
    assert!(bytes.len() >= 8, "a {}-byte message", bytes.len());
    let seq = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    assert!(bytes == message(seq).as_slice(), "message {seq} is torn");
    seq
}

fn endpoint(s: &Scratch, options: &str) -> String {
    format!("shm:/{}{options}", s.name)
}

fn peer(role: &str, ep: &str) -> ! {
    let say = |s: &str| println!("{s}");
    let wait_for_go = || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    };
    match role {
        // Sends numbered messages as fast as it can, until killed.
        "stream" => {
            let tx = Sender::<Bytes>::open_timeout(ep, PATIENCE).expect("open");
            say("READY");
            for seq in 0.. {
                // Fails only once a test has wrecked the segment.
                if tx.send_bytes(message(seq)).is_err() {
                    break;
                }
            }
        }
        // Sends `IPCX_COUNT` messages without ever blocking, then waits.
        "flood" => {
            let tx = Sender::<Bytes>::open_timeout(ep, PATIENCE).expect("open");
            let n: u64 = std::env::var("IPCX_COUNT").unwrap().parse().unwrap();
            for seq in 0..n {
                tx.try_send_bytes(message(seq)).expect("never full");
            }
            say("SENT");
            wait_for_go();
        }
        "send-one-hang" => {
            let tx = Sender::<Bytes>::open_timeout(ep, PATIENCE).expect("open");
            tx.send_bytes(message(0)).expect("send");
            say("SENT");
            wait_for_go();
        }
        "hold" => {
            let _rx = Receiver::<Bytes>::open(ep).expect("open");
            say("READY");
            wait_for_go();
        }
        "recv-all" => {
            let rx = Receiver::<Bytes>::open(ep).expect("open");
            say("READY");
            let mut next = 0;
            while let Ok(m) = rx.recv_bytes() {
                assert_eq!(check(&m), next, "in order");
                next += 1;
            }
            say(&format!("GOT {next}"));
        }
        // Maps the segment and writes pseudo-random words all over it.
        "scribble" => {
            let path = format!(
                "/dev/shm{}",
                ep.trim_start_matches("shm:").split('?').next().unwrap()
            );
            let f = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .expect("open");
            let len = f.metadata().expect("stat").len() as usize;
            let map = raw::map_shared(&f, len);
            let mut state = 0x2545_f491_4f6c_dd1du64 ^ std::process::id() as u64;
            for _ in 0..200_000 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                // Mostly the header and ring control (the first pages), some records.
                let span = if state % 4 == 0 { len } else { len.min(16384) };
                let at = (state as usize / 8 % (span / 8)) * 8;
                // SAFETY: `at` is a multiple of 8 below `span - 7`, inside the mapping.
                unsafe { raw::write_word(map, at, state.rotate_left(17)) };
            }
            say("DONE");
            wait_for_go();
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0)
}

/// `overflow=drop-oldest`: a sender in another process never blocks; a
/// receiver that fell a ring behind gets the newest messages, intact and
/// in order, and `missed()` counts every one it lost.
fn drop_oldest_reports_what_was_missed() {
    let s = Scratch::new("drop-oldest");
    let ep = endpoint(&s, "?capacity=64KiB&overflow=drop-oldest");
    let rx = Receiver::<Bytes>::open(&ep).expect("open");
    let n = 2000u64;
    let flood = Peer::spawn("flood", &ep, &[("count", n.to_string())]);
    flood.expect("SENT");
    let mut got = Vec::new();
    while let Ok(m) = rx.try_recv_bytes() {
        got.push(check(&m));
    }
    assert!(
        !got.is_empty() && got.len() < n as usize,
        "{} of {n}",
        got.len()
    );
    assert!(
        got.windows(2).all(|w| w[1] == w[0] + 1),
        "the newest, in order"
    );
    assert_eq!(*got.last().unwrap(), n - 1);
    assert_eq!(
        got.len() as u64 + rx.missed(),
        n,
        "every message read or counted"
    );
}

/// Many rounds: a producer sends as fast as it can and is SIGKILLed at a
/// random point (after the receiver has read a random number of
/// messages). The receiver gets every message the producer committed,
/// each exactly once, in order, never torn, then `Disconnected`.
fn kill_9_mid_stream() {
    let rounds = 40;
    let mut state = 88172645463325252u64;
    let mut slowest = Duration::ZERO;
    for round in 0..rounds {
        let s = Scratch::new(&format!("kill9-{round}"));
        let wait = ["", "&wait=block", "&wait=spin"][round % 3];
        let ep = endpoint(&s, &format!("?capacity=64KiB{wait}"));
        let rx = Receiver::<Bytes>::open(&ep).expect("open");
        let mut producer = Peer::spawn("stream", &ep, &[]);
        producer.expect("READY");
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let kill_after = state % 3000;
        let mut next = 0u64;
        let mut killed_at = None;
        loop {
            if next == kill_after && killed_at.is_none() {
                producer.kill();
                killed_at = Some(Instant::now());
            }
            match rx.recv_bytes_timeout(PATIENCE) {
                Ok(m) => {
                    assert_eq!(check(&m), next, "round {round}: exactly once, in order");
                    next += 1;
                }
                Err(RecvTimeoutError::Disconnected) => break,
                Err(e) => panic!("round {round} after {next}: {e}"),
            }
        }
        assert!(next >= kill_after, "round {round}: ended before the kill");
        slowest = slowest.max(killed_at.expect("killed").elapsed());
    }
    eprintln!("kill_9_mid_stream: {rounds} rounds, slowest drain + detection {slowest:?}");
}

/// A receiver asleep on the futex (wait=block) hears of its producer's
/// SIGKILL within 100 ms (it looks every 50 ms).
fn dead_producer_noticed_while_asleep() {
    let s = Scratch::new("dead-producer");
    let ep = endpoint(&s, "?wait=block");
    let rx = Receiver::<Bytes>::open(&ep).expect("open");
    let mut producer = Peer::spawn("send-one-hang", &ep, &[]);
    producer.expect("SENT");
    assert_eq!(check(&rx.recv_bytes().expect("first")), 0);
    let waiter = std::thread::spawn(move || {
        let r = rx.recv_bytes_timeout(PATIENCE);
        (r, Instant::now())
    });
    // Let the receiver go to sleep, then kill the producer.
    std::thread::sleep(Duration::from_millis(200));
    let killed = Instant::now();
    producer.kill();
    let (result, noticed) = waiter.join().unwrap();
    assert!(
        matches!(result, Err(RecvTimeoutError::Disconnected)),
        "{result:?}"
    );
    let took = noticed.duration_since(killed);
    eprintln!("dead_producer_noticed_while_asleep: {took:?}");
    assert!(
        took < Duration::from_millis(100) * 3,
        "noticed after {took:?}"
    );
}

/// A sender blocked on a full ring whose only reader is SIGKILLed gets
/// `Disconnected` (the dead reader is evicted) instead of waiting forever.
fn dead_reader_releases_a_blocked_sender() {
    let s = Scratch::new("dead-reader");
    let ep = endpoint(&s, "?capacity=4KiB&wait=block");
    let mut reader = Peer::spawn("hold", &ep, &[]);
    reader.expect("READY");
    let tx = Sender::<Bytes>::open_timeout(&ep, PATIENCE).expect("open");
    while tx.try_send_bytes([7u8; 100]).is_ok() {}
    let killed = Instant::now();
    reader.kill();
    let result = tx.send_bytes_timeout([7u8; 100], PATIENCE);
    assert!(
        matches!(result, Err(ref e) if e.is_disconnected()),
        "{result:?}"
    );
    eprintln!(
        "dead_reader_releases_a_blocked_sender: {:?}",
        killed.elapsed()
    );
}

/// Another process writes random words over the header, the ring's
/// control lines, reader slots and records while messages flow: the
/// receiver gets intact messages or errors, never a crash or a torn
/// message; a new receiver refuses (or, if nobody uses it, replaces) the
/// wrecked segment.
fn scribbling_peer_causes_errors_not_crashes() {
    let s = Scratch::new("scribble");
    let ep = endpoint(&s, "?capacity=64KiB");
    let rx = Receiver::<Bytes>::open(&ep).expect("open");
    let mut producer = Peer::spawn("stream", &ep, &[]);
    producer.expect("READY");
    let scribbler = Peer::spawn("scribble", &ep, &[]);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let done = done.clone();
        std::thread::spawn(move || {
            scribbler.expect("DONE");
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            scribbler
        })
    };
    let (mut good, mut errors, mut ends) = (0u64, 0u64, 0u64);
    let until = Instant::now() + PATIENCE;
    // Receive while the scribbler works, then on until the wreck shows (the
    // scribbling takes milliseconds; what it broke may be read later).
    let mut settle = None;
    loop {
        if done.load(std::sync::atomic::Ordering::SeqCst) && settle.is_none() {
            settle = Some(Instant::now() + Duration::from_secs(3));
        }
        let noticed = errors + ends > 0 || producer.has_exited();
        if Instant::now() >= until || settle.is_some_and(|t| noticed || Instant::now() >= t) {
            break;
        }
        match rx.recv_bytes_timeout(Duration::from_millis(20)) {
            // A scribbled payload may not be a valid message any more,
            // but what arrives is bounded by the ring: look, don't trust.
            Ok(m) => {
                good += 1;
                assert!(m.len() <= 64 * 1024);
            }
            Err(RecvTimeoutError::Failed(e)) => {
                errors += 1;
                assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            }
            // A scribbled producer state reads as "closed".
            Err(RecvTimeoutError::Disconnected) => ends += 1,
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
    if errors > 0 {
        // Reported once: a corrupt ring ends the channel, no error loop.
        assert_eq!(errors, 1, "a corrupt ring is reported once");
        assert!(matches!(
            rx.recv_bytes_timeout(Duration::from_millis(20)),
            Err(RecvTimeoutError::Disconnected)
        ));
    }
    let scribbler = watcher.join().expect("the scribbler finished");
    // The sender may have been the one to notice: its sends fail and it ends.
    let sender_noticed = producer.has_exited();
    producer.kill();
    drop(scribbler);
    eprintln!(
        "scribbling: {good} messages, {errors} errors, {ends} disconnected, sender ended: {sender_noticed}"
    );
    assert!(
        errors + ends > 0 || sender_noticed,
        "the scribbling was noticed"
    );
    // The wrecked segment: refused while we still map it, replaced after.
    let second = Receiver::<Bytes>::open(&ep);
    if let Err(e) = &second {
        assert!(
            matches!(e.kind(), ErrorKind::Protocol | ErrorKind::AddrInUse),
            "{e}"
        );
    }
    drop((second, rx));
    let fresh = Receiver::<Bytes>::open(&ep).expect("a wreck nobody uses is replaced");
    let tx = Sender::<Bytes>::open(&ep).expect("sender");
    tx.send_bytes(message(1)).unwrap();
    assert_eq!(check(&fresh.recv_bytes().unwrap()), 1);
}

/// A segment whose processes all died (SIGKILL: nothing cleaned up) is
/// replaced by the next receiver; one with a live process is joined or
/// refused, never removed.
fn stale_segments_reclaimed_live_ones_not() {
    let s = Scratch::new("stale");
    let ep = endpoint(&s, "");
    let path = format!("/dev/shm/{}", s.name);
    let mut holder = Peer::spawn("hold", &ep, &[]);
    holder.expect("READY");
    // Live: a second receiver on a readers=1 ring is refused, the file stays.
    let e = Receiver::<Bytes>::open(&ep).expect_err("slot taken");
    assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
    assert!(std::path::Path::new(&path).exists());
    holder.kill();
    assert!(
        std::path::Path::new(&path).exists(),
        "SIGKILL leaves it behind"
    );
    let rx = Receiver::<Bytes>::open(&ep).expect("the stale segment is reclaimed");
    let tx = Sender::<Bytes>::open(&ep).expect("sender");
    tx.send_bytes(message(3)).unwrap();
    assert_eq!(check(&rx.recv_bytes().unwrap()), 3);
    drop((tx, rx));
    assert!(
        !std::path::Path::new(&path).exists(),
        "the last one out removes it"
    );
}

/// Created 0600 (or mode=), a planted symlink is refused, and a sender
/// with nobody there gets NoPeer.
fn created_0600_and_no_symlinks() {
    let s = Scratch::new("modes");
    let ep = endpoint(&s, "");
    let path = format!("/dev/shm/{}", s.name);
    let e = Sender::<Bytes>::open(&ep).expect_err("nobody there");
    assert_eq!(e.kind(), ErrorKind::NoPeer, "{e}");
    let rx = Receiver::<Bytes>::open(&ep).expect("open");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    drop(rx);
    let rx = Receiver::<Bytes>::open(endpoint(&s, "?mode=0640")).expect("open");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
    drop(rx);
    let target = s.path("target");
    std::fs::write(&target, b"not a segment").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    let e = Receiver::<Bytes>::open(&ep).expect_err("symlink");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read(&target).unwrap(), b"not a segment");
    std::fs::remove_file(&path).unwrap();
}

/// Three reader processes on one ring each get every message, in order.
fn broadcast_to_reader_processes() {
    let s = Scratch::new("broadcast");
    let ep = endpoint(&s, "?readers=3&capacity=64KiB");
    let readers: Vec<Peer> = (0..3).map(|_| Peer::spawn("recv-all", &ep, &[])).collect();
    for r in &readers {
        r.expect("READY");
    }
    let tx = Sender::<Bytes>::open_timeout(&ep, PATIENCE).expect("open");
    for seq in 0..2000 {
        tx.send_bytes(message(seq)).unwrap();
    }
    drop(tx);
    for r in readers {
        assert_eq!(r.expect("GOT"), "2000");
        r.finish();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C)]
struct Frame {
    id: u64,
    pixels: [u32; 16],
}

/// Loans write in place; plain-old-data is read in place, type-checked.
fn loans_and_plain_old_data() {
    let s = Scratch::new("loans");
    let ep = endpoint(&s, "");
    let rx = Receiver::<ipcx::Pod<Frame>>::open(&ep).expect("open");
    let tx = Sender::<ipcx::Pod<Frame>>::open(&ep).expect("open");
    let frame = Frame {
        id: 9,
        pixels: [3; 16],
    };
    tx.send_pod(&frame).unwrap();
    tx.send_with(|f: &mut Frame| f.id = 10).unwrap();
    rx.recv_pod_with(None, |f: &Frame| assert_eq!(*f, frame))
        .unwrap();
    assert_eq!(rx.recv_pod().unwrap().id, 10);
    // Another type is refused at open.
    let e = Sender::<ipcx::Pod<u64>>::open(&ep).expect_err("type");
    assert_eq!(e.kind(), ErrorKind::TypeMismatch, "{e}");
}
