//! Stopping and serving on every transport: a [`Stop`] wakes a receive, a
//! send and an open that are blocked, an end stopped mid-stream finishes
//! with what was queued, and a serving receiver outlives its senders.

use std::time::{Duration, Instant};

use ipcx::{ErrorKind, OpenOptions, Receiver, RecvTimeoutError, SendError, Sender, Stop};

use crate::harness::{Peer, Scratch, Watchdog, PATIENCE};
use crate::transports::{parent_receives, parent_sends, Transport, SHORT};
use crate::Msg;

pub const ALL: &[(&str, crate::cases::Case)] = &[
    ("stop_wakes_an_idle_receive", stop_wakes_an_idle_receive),
    ("stop_wakes_a_blocked_send", stop_wakes_a_blocked_send),
    ("stop_wakes_a_waiting_open", stop_wakes_a_waiting_open),
    ("stop_wakes_a_blocked_accept", stop_wakes_a_blocked_accept),
    ("stop_mid_stream_ends", stop_mid_stream_ends),
    (
        "serving_receiver_outlives_senders",
        serving_receiver_outlives_senders,
    ),
];

/// How long after `stop()` a blocked call may take to return. The design
/// answers in microseconds (a poll, a futex, a 5 ms pause on System V);
/// the bound is loose for loaded machines, and the figures are in the README.
const PROMPT: Duration = Duration::from_millis(500);

/// Triggers `stop` after `after`, from another thread; returns when it did.
fn stop_later(stop: &Stop, after: Duration) -> std::thread::JoinHandle<Instant> {
    let stop = stop.clone();
    std::thread::spawn(move || {
        std::thread::sleep(after);
        let at = Instant::now();
        stop.stop();
        at
    })
}

/// A receive with nothing to take (a sender connected but quiet) returns
/// `Disconnected` once the stop comes; what was sent before was delivered.
fn stop_wakes_an_idle_receive(t: &Transport) {
    let s = Scratch::new(t.name);
    let (rx, _peer) = parent_receives::<Msg>(
        t,
        &s,
        "send",
        &[("count", "3".into()), ("hang", "1".into())],
    );
    let stop = Stop::new().expect("stop");
    let rx = rx.with_stop(&stop);
    for seq in 0..3 {
        assert_eq!(rx.recv_timeout(PATIENCE).expect("message").seq, seq);
    }
    let _watchdog = Watchdog::new("an idle receive with a stop", PATIENCE);
    let stopper = stop_later(&stop, SHORT);
    let got = rx.recv();
    let returned = Instant::now();
    let stopped_at = stopper.join().expect("stopper");
    assert!(
        matches!(got, Err(ipcx::RecvError::Disconnected)),
        "{got:?}",
        got = got.map(|m| m.seq)
    );
    let took = returned.saturating_duration_since(stopped_at);
    assert!(
        took < PROMPT,
        "the receive returned {took:?} after the stop"
    );
    // Stopped for good: later receives end at once.
    assert!(matches!(
        rx.recv_timeout(PATIENCE),
        Err(RecvTimeoutError::Disconnected)
    ));
}

/// A send blocked on a full channel gives the message back with `Stopped`;
/// every message sent before it arrives, whole and in order.
fn stop_wakes_a_blocked_send(t: &Transport) {
    if !t.blocks_when_full() {
        return; // UDP never blocks: documented.
    }
    let s = Scratch::new(t.name);
    let size = t.max_payload().min(8192);
    let (tx, mut peer) = parent_sends::<Msg>(t, &s, &[("wait_go", "1".into())]);
    let stop = Stop::new().expect("stop");
    let tx = tx.with_stop(&stop);
    let mut sent = 0u64;
    while tx.try_send(Msg::new(sent, size)).is_ok() {
        sent += 1;
        assert!(sent < 200_000, "the channel never became full");
    }
    let _watchdog = Watchdog::new("a blocked send with a stop", PATIENCE);
    let stopper = stop_later(&stop, SHORT);
    // A TCP window may still open a little: sends that fit are sent.
    let err = loop {
        match tx.send(Msg::new(sent, size)) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    let returned = Instant::now();
    let stopped_at = stopper.join().expect("stopper");
    match &err {
        SendError::Failed(m, e) => {
            assert_eq!(e.kind(), ErrorKind::Stopped, "{e}");
            assert_eq!(m.seq, sent, "the unsent message is given back");
        }
        other => panic!("expected Stopped, got {other}"),
    }
    let took = returned.saturating_duration_since(stopped_at);
    assert!(took < PROMPT, "the send returned {took:?} after the stop");
    peer.tell("go");
    drop(tx);
    for seq in 0..sent {
        assert_eq!(peer.expect("GOT"), format!("{seq} {size}"));
    }
    assert_eq!(peer.line(), "END");
    peer.finish();
}

/// A sender waiting for a receiver that never comes gives up with `Stopped`.
fn stop_wakes_a_waiting_open(t: &Transport) {
    let s = Scratch::new(t.name);
    let Some(ep) = t.endpoint(&s) else {
        return; // an inherited pipe is there or not: nothing to wait for
    };
    if ep.contains(":0") {
        return; // port 0: the receiver picks the port, a sender cannot wait for it
    }
    if t.family == crate::transports::Family::Queue || t.is_broker() {
        return; // a sender creates a missing queue, or publishes: it waits for no one
    }
    let stop = Stop::new().expect("stop");
    let _watchdog = Watchdog::new("a waiting open with a stop", PATIENCE);
    let stopper = stop_later(&stop, SHORT);
    let opened = Sender::<Msg>::open_with(&ep, OpenOptions::new().timeout(PATIENCE).stop(&stop));
    let returned = Instant::now();
    let stopped_at = stopper.join().expect("stopper");
    match opened {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Stopped, "{e}"),
        Ok(_) => panic!("opened a sender with no receiver"),
    }
    let took = returned.saturating_duration_since(stopped_at);
    assert!(took < PROMPT, "the open returned {took:?} after the stop");
}

/// `Listener::accept` (and the raw listener's) waiting for a peer that
/// never comes gives up with `Stopped`; the socket file goes with it.
fn stop_wakes_a_blocked_accept(t: &Transport) {
    let s = Scratch::new(t.name);
    let Some(ep) = t.endpoint(&s) else { return };
    if !matches!(
        t.family,
        crate::transports::Family::Stream | crate::transports::Family::Packet
    ) || t.name.starts_with("fifo")
    {
        return; // only connection sockets accept
    }
    let stop = Stop::new().expect("stop");
    let options = OpenOptions::new().stop(&stop).clone();
    let listener = ipcx::Listener::bind_with(&ep, &options).expect("bind");
    let raw =
        ipcx::raw::RawListener::bind_with(with_port_zero(&ep, t), &options).expect("bind raw");
    let _watchdog = Watchdog::new("a blocked accept with a stop", PATIENCE);
    let stopper = stop_later(&stop, SHORT);
    let accepted = listener.accept::<Msg, Msg>();
    let returned = Instant::now();
    let stopped_at = stopper.join().expect("stopper");
    match accepted {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Stopped, "{e}"),
        Ok(_) => panic!("accepted a peer nobody sent"),
    }
    let took = returned.saturating_duration_since(stopped_at);
    assert!(took < PROMPT, "the accept returned {took:?} after the stop");
    match raw.accept() {
        Err(e) => assert_eq!(e.kind(), ErrorKind::Stopped, "{e}"),
        Ok(_) => panic!("the raw listener accepted nobody"),
    }
    let file = t.created_file(&ep);
    drop((listener, raw));
    if let Some(path) = file {
        assert!(!std::path::Path::new(&path).exists(), "{path} left behind");
    }
}

/// A second listening endpoint beside `ep` (another file, or port 0).
fn with_port_zero(ep: &str, t: &Transport) -> String {
    match t.created_file(ep) {
        Some(path) => ep.replacen(&path, &format!("{path}-raw"), 1),
        None if ep.starts_with("unix:@") => ep.replacen("unix:@", "unix:@raw-", 1),
        None => ep.to_owned(), // tcp:…:0 picks a new port
    }
}

/// A sender that goes on sending cannot keep a stopped receiver busy: it
/// takes what was queued at the stop, in order, and ends.
fn stop_mid_stream_ends(t: &Transport) {
    let s = Scratch::new(t.name);
    let (rx, _peer) = parent_receives::<Msg>(
        t,
        &s,
        "send",
        &[
            ("count", "100000000".into()),
            ("sizes", "64".into()),
            ("until_gone", "1".into()),
        ],
    );
    let stop = Stop::new().expect("stop");
    let rx = rx.with_stop(&stop);
    let mut next = 0;
    let mut stopped = None;
    let _watchdog = Watchdog::new("a receiver stopped mid-stream", PATIENCE);
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(m) => {
                // UDP may drop under a flood; every other transport keeps all.
                if t.is_udp() {
                    assert!(m.seq >= next, "{} after {next}", m.seq);
                } else {
                    assert_eq!(m.seq, next, "out of order or lost");
                }
                assert!(m.is_intact());
                next = m.seq + 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e}"),
        }
        if next >= 200 && stopped.is_none() {
            stop.stop();
            stopped = Some(Instant::now());
        }
    }
    let stopped = stopped.expect("the stream reached 200 messages");
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "draining after the stop took {:?}",
        stopped.elapsed()
    );
}

/// `serve=true`: senders come and go; the receiver keeps taking them, and
/// ends only when stopped.
fn serving_receiver_outlives_senders(t: &Transport) {
    let s = Scratch::new(t.name);
    let Some(ep) = t.endpoint(&s) else {
        return; // one inherited pipe: one sender
    };
    let scheme = ep.split(':').next().unwrap_or_default();
    let serves = ipcx::Scheme::ALL
        .iter()
        .find(|sc| sc.name() == scheme)
        .is_some_and(|sc| sc.options().contains(&"serve"));
    if !serves {
        return;
    }
    let stop = Stop::new().expect("stop");
    let rx = Receiver::<Msg>::open_with(&ep, OpenOptions::new().serve(true).stop(&stop))
        .expect("open a serving receiver");
    let bound = rx.endpoint().to_string();
    for k in 0..3u64 {
        let peer = Peer::spawn(
            "send",
            &bound,
            &[("count", "2".into()), ("offset", (k * 10).to_string())],
        );
        assert_eq!(rx.recv_timeout(PATIENCE).expect("first").seq, k * 10);
        assert_eq!(rx.recv_timeout(PATIENCE).expect("second").seq, k * 10 + 1);
        peer.finish();
        // The sender is gone; the channel is not.
        assert!(
            matches!(rx.recv_timeout(SHORT), Err(RecvTimeoutError::Timeout)),
            "a serving receiver ended with sender {k}"
        );
    }
    stop.stop();
    assert!(matches!(
        rx.recv_timeout(PATIENCE),
        Err(RecvTimeoutError::Disconnected)
    ));
}
