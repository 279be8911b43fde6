//! Durable delivery on JetStream (`?jetstream=true`) against a real
//! nats-server with JetStream on: nothing lost when a receiver is killed
//! and another takes over, duplicates only for what the dead one held
//! unacknowledged, and a full stream makes `send` wait.

use std::collections::BTreeMap;
use std::time::Duration;

use ipcx::{ErrorKind, Receiver, SendTimeoutError, Sender};
use ipcx_testkit::harness::{Peer, Scratch, PATIENCE};
use ipcx_testkit::nats::NatsServer;

use crate::{endpoint, Job};

fn jetstream_server(name: &str, s: &Scratch) -> NatsServer {
    NatsServer::start(name, &["-js", "-sd", &s.path("store")])
}

pub fn a_killed_receiver_loses_nothing() {
    let s = Scratch::new("js-kill");
    let server = jetstream_server("js-kill", &s);
    let ep = endpoint(
        &server,
        "jskill",
        "jetstream=true&durable=workers&ack_wait=1s",
    );
    let tx = Sender::<Job>::open(&ep).expect("publish to JetStream");
    let total = 300u64;
    for seq in 0..total {
        tx.send(Job::new(seq)).expect("stored");
    }
    drop(tx);
    let mut seen: BTreeMap<u64, u32> = BTreeMap::new();
    // The first receiver handles 5 ms a message and is killed mid-stream.
    let mut first = Peer::spawn("recv-durable", &ep, &[("delay_ms", "5".into())]);
    assert_eq!(first.line(), "READY");
    let mut last = 0;
    for _ in 0..100 {
        last = first.expect("GOT").parse().expect("a seq");
        *seen.entry(last).or_default() += 1;
    }
    first.kill();
    // Another takes over the same durable consumer: the rest, and again
    // what the dead one held unacknowledged (after ack_wait).
    let second = Peer::spawn("recv-durable", &ep, &[]);
    assert_eq!(second.line(), "READY");
    loop {
        let line = second.line();
        if line == "END" {
            break;
        }
        let seq: u64 = line
            .strip_prefix("GOT ")
            .expect("GOT n")
            .parse()
            .expect("seq");
        *seen.entry(seq).or_default() += 1;
    }
    second.finish();
    let missing: Vec<u64> = (0..total).filter(|s| !seen.contains_key(s)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    // A message is acknowledged when its receiver takes the next one: only
    // those around the kill may come twice.
    let twice: Vec<u64> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(s, _)| *s)
        .collect();
    assert!(
        twice.iter().all(|s| *s + 5 >= last),
        "duplicates beyond the last taken ({last}): {twice:?}"
    );
}

pub fn a_full_stream_makes_send_wait() {
    let s = Scratch::new("js-full");
    let server = jetstream_server("js-full", &s);
    let ep = endpoint(&server, "jsfull", "jetstream=true&capacity=64KiB");
    let tx = Sender::<Job>::open(&ep).expect("publish");
    let mut stored = 0u64;
    let full = loop {
        match tx.send_timeout(Job::sized(stored, 1000), Duration::from_millis(500)) {
            Ok(()) => stored += 1,
            Err(SendTimeoutError::Timeout(job)) => break job,
            Err(e) => panic!("{e:?}"),
        }
        assert!(stored < 1000, "a 64 KiB stream took {stored} KiB");
    };
    assert!(
        stored > 30,
        "only {stored} messages before the stream was full"
    );
    // A receiver drains it; the waiting message and the refused one go on.
    let rx = Receiver::<Job>::open(&ep).expect("consume");
    let sender = std::thread::spawn(move || {
        tx.send_timeout(full, PATIENCE).expect("room again");
    });
    for seq in 0..=stored {
        assert_eq!(rx.recv_timeout(PATIENCE).expect("a stored job").seq, seq);
    }
    sender.join().unwrap();
}

pub fn without_jetstream_the_error_says_so() {
    let server = NatsServer::start("no-js", &[]);
    let e =
        Sender::<Job>::open(endpoint(&server, "nojs", "jetstream=true")).expect_err("no JetStream");
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("nats-server -js"), "{e}");
}
