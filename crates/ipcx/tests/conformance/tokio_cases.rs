//! The contract through the async ends (`ipcx::tokio`, feature `tokio`),
//! on every transport, against peers that are blocking ipcx in another
//! process: async and blocking ends are peers on the same wire.
//!
//! Each case runs in a current-thread runtime of its own.

use std::future::Future;
use std::time::{Duration, Instant};

use ipcx::{ErrorKind, RecvError, RecvTimeoutError, SendTimeoutError};

use crate::cases::{bad_inputs, hex, sizes_param, test_sizes, with_options, Case};
use crate::harness::{Peer, Scratch, PATIENCE};
use crate::transports::{parent_receives, parent_sends, Family, Transport, SHORT};
use crate::Msg;

pub const ALL: &[(&str, Case)] = &[
    ("async_boundaries_and_order", boundaries_and_order),
    (
        "async_cancelled_receives_lose_nothing",
        cancelled_receives_lose_nothing,
    ),
    ("async_sends_wait_when_full", sends_wait_when_full),
    (
        "async_cancelled_sends_tear_nothing",
        cancelled_sends_tear_nothing,
    ),
    ("async_idle_waits_sleep_and_stop", idle_waits_sleep_and_stop),
    ("async_sender_killed", sender_killed),
    ("async_receiver_gone_fails_sends", receiver_gone_fails_sends),
    ("async_type_mismatch", type_mismatch),
    ("async_bad_input", bad_input),
    ("async_listener_and_duplex", listener_and_duplex),
];

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

type AsyncRx = ipcx::tokio::Receiver<Msg>;

fn async_receives(
    t: &Transport,
    s: &Scratch,
    role: &str,
    params: &[(&str, String)],
) -> (AsyncRx, Peer) {
    let (rx, peer) = parent_receives::<Msg>(t, s, role, params);
    (ipcx::tokio::Receiver::new(rx), peer)
}

async fn recv_msg(rx: &mut AsyncRx, context: &str) -> Msg {
    match rx.recv_timeout(PATIENCE).await {
        Ok(m) => m,
        Err(e) => panic!("{context}: expected a message, got {e}"),
    }
}

async fn expect_disconnected(rx: &mut AsyncRx) {
    match rx.recv_timeout(PATIENCE).await {
        Err(RecvTimeoutError::Disconnected) => {}
        other => panic!("expected Disconnected, got {:?}", other.map(|m| m.seq)),
    }
}

/// A blocking sender in another process, an async receiver here: one send
/// is one receive, in order, then the end.
fn boundaries_and_order(t: &Transport) {
    let s = Scratch::new(t.name);
    let sizes = test_sizes(t);
    let n = 4 * sizes.len() as u64;
    let (mut rx, peer) = async_receives(
        t,
        &s,
        "send",
        &[("count", n.to_string()), sizes_param(&sizes)],
    );
    block_on(async {
        for seq in 0..n {
            let m = recv_msg(&mut rx, "boundaries").await;
            assert_eq!(m.seq, seq, "messages out of order");
            assert_eq!(
                m.payload.len(),
                sizes[seq as usize % sizes.len()],
                "boundary moved"
            );
            assert!(m.is_intact(), "payload of message {seq} corrupted");
        }
        expect_disconnected(&mut rx).await;
    });
    peer.finish();
}

/// Bursts with pauses, received in a `select!` against timers so that
/// receives are cancelled over and over, waiting and not: every message
/// arrives once, in order.
fn cancelled_receives_lose_nothing(t: &Transport) {
    let s = Scratch::new(t.name);
    let (burst, bursts) = (100u64, 5u64);
    let (mut rx, peer) = async_receives(
        t,
        &s,
        "send",
        &[
            ("count", (burst * bursts).to_string()),
            ("sizes", "64".into()),
            ("burst", burst.to_string()),
            ("pause_ms", "30".into()),
        ],
    );
    block_on(async {
        let mut next = 0u64;
        let mut cancelled = 0u64;
        let give_up = Instant::now() + PATIENCE;
        loop {
            // Timers from 0 to 1 ms: many receives lose the race.
            let timer = Duration::from_micros((next * 37 + cancelled * 11) % 1000);
            tokio::select! {
                got = rx.recv() => match got {
                    Ok(m) => {
                        assert_eq!(m.seq, next, "a message lost or repeated");
                        assert!(m.is_intact());
                        next += 1;
                    }
                    Err(RecvError::Disconnected) => break,
                    Err(e) => panic!("recv: {e}"),
                },
                _ = tokio::time::sleep(timer) => cancelled += 1,
            }
            assert!(
                Instant::now() < give_up,
                "only {next} messages in {PATIENCE:?}"
            );
        }
        assert_eq!(next, burst * bursts, "every message, once");
        assert!(
            cancelled > 0,
            "no receive was cancelled: the case tested nothing"
        );
    });
    peer.finish();
}

/// An async sender, a blocking receiver in another process that does not
/// read yet: a send times out with its message given back; once the
/// receiver reads, waiting sends complete and everything arrives in order.
fn sends_wait_when_full(t: &Transport) {
    if !t.blocks_when_full() {
        return; // UDP has no flow control: documented.
    }
    let s = Scratch::new(t.name);
    let size = t.max_payload().min(8192);
    let (tx, mut peer) = parent_sends::<Msg>(t, &s, &[("wait_go", "1".into())]);
    let mut tx = ipcx::tokio::Sender::new(tx);
    let sent = block_on(async {
        let mut sent = 0u64;
        loop {
            match tx.send_timeout(Msg::new(sent, size), SHORT).await {
                Ok(()) => sent += 1,
                Err(SendTimeoutError::Timeout(m)) => {
                    assert_eq!(m.seq, sent, "Timeout gives the message back");
                    break;
                }
                Err(e) => panic!("send_timeout: {e}"),
            }
            assert!(sent < 200_000, "the channel never became full");
        }
        peer.tell("go");
        // Sends that wait now complete as the receiver drains.
        for _ in 0..20 {
            tx.send(Msg::new(sent, size))
                .await
                .expect("send while the receiver drains");
            sent += 1;
        }
        sent
    });
    drop(tx);
    for seq in 0..sent {
        assert_eq!(peer.expect("GOT"), format!("{seq} {size}"));
    }
    assert_eq!(peer.line(), "END");
    peer.finish();
}

/// Sends of large messages cut short by timeouts that drop the send
/// future part-way: the receiver gets only whole, intact messages, in
/// order, and every send reported done among them.
fn cancelled_sends_tear_nothing(t: &Transport) {
    const MESSAGES: u64 = 300;
    if !t.blocks_when_full() {
        return;
    }
    let s = Scratch::new(t.name);
    // On a byte stream, large enough to go out in pieces; elsewhere small.
    // Small enough to encode quickly either way (a debug build encodes a
    // byte vector byte by byte, and a send that is still encoding when the
    // receiver makes room is never cut short).
    let size = match t.family {
        Family::Stream => t.max_payload().min(32 * 1024),
        _ => 2048,
    };
    // The channel is filled while the receiver does not read; then, as
    // it drains (slowly), sends meet a full channel and timeouts cut them
    // short before they begin and part-way through.
    let (tx, mut peer) = parent_sends::<Msg>(
        t,
        &s,
        &[("wait_go", "1".into()), ("pace_us", "1000".into())],
    );
    let mut tx = ipcx::tokio::Sender::new(tx);
    let (done, attempted) = block_on(async {
        let mut done = Vec::new();
        let mut seq = 0;
        while tx.send_timeout(Msg::new(seq, size), SHORT).await.is_ok() {
            done.push(seq);
            seq += 1;
            assert!(seq < 100_000, "the channel never became full");
        }
        // While it is full, sends dropped by a timeout: before they begin,
        // or part-way on a stream with a little room. These are cut short
        // whatever the timing of what follows.
        for _ in 0..5 {
            let send = tx.send(Msg::new(seq, size));
            if let Ok(sent) = tokio::time::timeout(Duration::from_millis(1), send).await {
                sent.expect("send");
                done.push(seq);
            }
            seq += 1;
        }
        peer.tell("go");
        for _ in 0..MESSAGES {
            let limit = Duration::from_micros(seq * 53 % 700);
            if let Ok(sent) = tokio::time::timeout(limit, tx.send(Msg::new(seq, size))).await {
                sent.expect("send");
                done.push(seq);
            }
            seq += 1;
        }
        (done, seq)
    });
    drop(tx);
    let mut last = None;
    let mut got = std::collections::HashSet::new();
    loop {
        let line = peer.line();
        if line == "END" {
            break;
        }
        let seq: u64 = match line.strip_prefix("GOT ") {
            Some(rest) => rest
                .split(' ')
                .next()
                .and_then(|n| n.parse().ok())
                .expect("seq"),
            None => panic!("the receiver saw {line}"),
        };
        assert!(
            last.is_none_or(|l| seq > l),
            "out of order: {seq} after {last:?}"
        );
        last = Some(seq);
        got.insert(seq);
    }
    for seq in &done {
        assert!(
            got.contains(seq),
            "message {seq} was reported sent but never arrived"
        );
    }
    assert!(
        (done.len() as u64) < attempted,
        "no send of {attempted} was cut short: the case tested nothing"
    );
    peer.finish();
}

/// Nothing arrives: a receive with a timeout times out; a waiting receive
/// sleeps (little CPU) and a stop from another task ends it.
/// A sender killed with SIGKILL while the async receiver waits: what it
/// sent is received, then the end (where the transport can notice a
/// death), without spinning meanwhile. (An async `shm:` receiver once
/// looped on "ready now" forever here: its tries never looked at the
/// producer's liveness.)
fn sender_killed(t: &Transport) {
    let s = Scratch::new(t.name);
    let (mut rx, mut peer) = async_receives(
        t,
        &s,
        "send",
        &[("count", "2".into()), ("hang", "1".into())],
    );
    block_on(async {
        assert_eq!(recv_msg(&mut rx, "first").await.seq, 0);
        assert_eq!(recv_msg(&mut rx, "second").await.seq, 1);
        peer.kill();
        let cpu_before = cpu_time();
        if t.notices_sender_death() {
            expect_disconnected(&mut rx).await;
        } else {
            assert!(matches!(
                rx.recv_timeout(SHORT).await,
                Err(RecvTimeoutError::Timeout)
            ));
        }
        let cpu = cpu_time() - cpu_before;
        if !t.name.ends_with("-spin") {
            assert!(
                cpu < Duration::from_millis(300),
                "{cpu:?} of CPU to notice the death"
            );
        }
    });
}

fn idle_waits_sleep_and_stop(t: &Transport) {
    let s = Scratch::new(t.name);
    let (rx, peer) = async_receives(
        t,
        &s,
        "send",
        &[("count", "0".into()), ("hang", "1".into())],
    );
    let stop = ipcx::Stop::new().expect("stop");
    let mut rx = rx.with_stop(&stop);
    block_on(async {
        match rx.recv_timeout(SHORT).await {
            Err(RecvTimeoutError::Timeout) => {}
            other => panic!("expected Timeout, got {:?}", other.map(|m| m.seq)),
        }
        let cpu_before = cpu_time();
        let started = Instant::now();
        let stopper = {
            let stop = stop.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(500)).await;
                stop.stop();
            })
        };
        match rx.recv().await {
            Err(RecvError::Disconnected) => {}
            other => panic!("a stopped receive ends: got {:?}", other.map(|m| m.seq)),
        }
        let waited = started.elapsed();
        let cpu = cpu_time() - cpu_before;
        assert!(
            waited >= Duration::from_millis(450),
            "woke early: {waited:?}"
        );
        assert!(
            waited < Duration::from_secs(3),
            "the stop was noticed late: {waited:?}"
        );
        // Idle means asleep: a System V queue's pauses cost the most (a
        // look every 5 ms); spinning would cost the whole 500 ms. Except
        // with `wait=spin`, which asks never to sleep.
        if !t.name.ends_with("-spin") {
            assert!(
                cpu < Duration::from_millis(50),
                "{cpu:?} of CPU while idle for {waited:?}"
            );
        }
        stopper.await.expect("stopper");
    });
    drop(peer);
}

/// This thread's CPU time (the runtime's only thread; other trials run
/// on other threads meanwhile).
fn cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for the call to fill.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// The receiving process exits: async sends end with `Disconnected` and
/// give the message back.
fn receiver_gone_fails_sends(t: &Transport) {
    if t.is_broker() {
        return;
    }
    let s = Scratch::new(t.name);
    let (tx, peer) = parent_sends::<Msg>(t, &s, &[("count", "1".into())]);
    let mut tx = ipcx::tokio::Sender::new(tx);
    block_on(async {
        tx.send(Msg::new(0, 10)).await.expect("first send");
        assert_eq!(peer.expect("GOT"), "0 10");
        assert_eq!(peer.line(), "END");
        peer.finish();
        let deadline = Instant::now() + PATIENCE;
        for seq in 1.. {
            match tx.send_timeout(Msg::new(seq, 10), SHORT).await {
                Ok(()) | Err(SendTimeoutError::Timeout(_)) => {}
                Err(e) if e.is_disconnected() => return,
                Err(e) => panic!("expected Disconnected, got {e}"),
            }
            assert!(Instant::now() < deadline, "no send reported Disconnected");
        }
    });
}

/// An async receiver of `Msg`, a blocking sender of `String`: refused,
/// with both types named; nothing decoded.
fn type_mismatch(t: &Transport) {
    let s = Scratch::new(t.name);
    let (mut rx, peer) = async_receives(
        t,
        &s,
        "send-string",
        &[("count", "1".into()), ("hang", "1".into())],
    );
    if t.refuses_at_open() {
        let refusal = peer.expect("OPEN ERR");
        assert!(refusal.starts_with("TypeMismatch"), "{refusal}");
        return;
    }
    block_on(async {
        match rx.recv_timeout(PATIENCE).await {
            Err(RecvTimeoutError::Failed(e)) => {
                assert_eq!(e.kind(), ErrorKind::TypeMismatch, "{e}");
                assert!(e.to_string().contains("Msg"), "{e}");
            }
            other => panic!("expected a type mismatch, got {:?}", other.map(|m| m.seq)),
        }
        assert!(rx.recv_timeout(SHORT).await.is_err(), "nothing is decoded");
    });
    drop(peer);
}

/// Garbage from a raw peer: the async receiver reports the same typed
/// errors as the blocking one, and goes on where the link stays in step.
fn bad_input(t: &Transport) {
    if t.is_remote() {
        return;
    }
    for bad in bad_inputs(t) {
        let s = Scratch::new(t.name);
        let mut params = vec![("raw", hex(&bad.chunks))];
        if bad.name != "truncated" {
            params.push(("hang", "1".into()));
        }
        let (mut rx, peer) = match t.endpoint(&s) {
            Some(ep) => {
                let rx = AsyncRx::open(with_options(&ep, bad.options)).expect("open receiver");
                let peer = Peer::spawn("raw", &rx.endpoint().to_string(), &params);
                (rx, peer)
            }
            None => async_receives(t, &s, "raw", &params),
        };
        block_on(async {
            for seq in 0..bad.good {
                assert_eq!(recv_msg(&mut rx, bad.name).await.seq, seq, "{}", bad.name);
            }
            match rx.recv_timeout(PATIENCE).await {
                Err(RecvTimeoutError::Failed(e)) => {
                    assert_eq!(e.kind(), bad.error, "{}: {e}", bad.name)
                }
                other => panic!(
                    "{}: expected an error, got {:?}",
                    bad.name,
                    other.map(|m| m.seq)
                ),
            }
            if bad.continues {
                assert_eq!(
                    recv_msg(&mut rx, bad.name).await.seq,
                    bad.good,
                    "{}",
                    bad.name
                );
            }
        });
        drop(peer);
    }
}

/// Transports with connections both ways.
fn two_way(t: &Transport) -> bool {
    !t.is_pipe()
        && !t.name.starts_with("fifo")
        && matches!(t.family, Family::Stream | Family::Packet)
}

/// An async listener takes three blocking `Duplex` peers at once and
/// echoes each in a task of its own; then an async `Duplex` connects to a
/// blocking listener in another process. A stop ends an idle accept.
fn listener_and_duplex(t: &Transport) {
    if !two_way(t) {
        return;
    }
    let s = Scratch::new(t.name);
    let ep = t.endpoint(&s).expect("an endpoint");
    block_on(async {
        let stop = ipcx::Stop::new().expect("stop");
        let opts = ipcx::OpenOptions::new().stop(&stop).clone();
        let mut listener = ipcx::tokio::Listener::bind_with(&ep, &opts).expect("bind");
        let bound = listener.endpoint().to_string();
        let peers: Vec<Peer> = (0..3)
            .map(|_| Peer::spawn("duplex-echo", &bound, &[("count", "50".into())]))
            .collect();
        let mut echoes = Vec::new();
        for _ in 0..3 {
            let conn = tokio::time::timeout(PATIENCE, listener.accept::<Msg, Msg>())
                .await
                .expect("accepted in time")
                .expect("accept");
            echoes.push(tokio::spawn(async move {
                let (mut tx, mut rx) = conn.split();
                while let Ok(m) = rx.recv().await {
                    tx.send(m).await.expect("echo");
                }
            }));
        }
        // Each echo ends when its peer, done, closes (the peers' reports are
        // read after: a blocking read here would stall this one-thread runtime).
        for echo in echoes {
            tokio::time::timeout(PATIENCE, echo)
                .await
                .expect("the peer finished")
                .expect("echo task");
        }
        for peer in peers {
            assert_eq!(peer.expect("ECHOED"), "50");
            peer.finish();
        }
        // Idle: a stop ends the accept.
        let stopper = tokio::spawn(async move {
            tokio::time::sleep(SHORT).await;
            stop.stop();
        });
        let idle = tokio::time::timeout(PATIENCE, listener.accept::<Msg, Msg>())
            .await
            .expect("the stop ends the accept");
        assert_eq!(idle.err().map(|e| e.kind()), Some(ErrorKind::Stopped));
        stopper.await.expect("stopper");
    });
    drop(s);
    let s = Scratch::new(t.name);
    let ep = t.endpoint(&s).expect("an endpoint");
    let server = Peer::spawn("duplex-serve", &ep, &[]);
    let bound = server.expect("READY");
    block_on(async {
        let mut conn = ipcx::tokio::Duplex::<Msg, Msg>::connect_timeout(&bound, PATIENCE)
            .await
            .expect("connect");
        for seq in 0..50 {
            conn.send(Msg::new(seq, 100)).await.expect("send");
            let m = conn.recv().await.expect("echo");
            assert!(m.seq == seq && m.is_intact(), "echo {seq}");
        }
    });
    assert_eq!(server.expect("ECHOED"), "50");
    server.finish();
}
