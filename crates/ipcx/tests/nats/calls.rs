//! Request/reply over NATS through `ipcx::rpc`: a server in another
//! process, calls from many threads, a queue group of two servers, a
//! client of another type refused with a reason, no server at all, and a
//! stop that ends serving.

use std::collections::BTreeSet;
use std::time::Duration;

use ipcx::rpc::{CallError, Client, Server};
use ipcx_testkit::harness::{Peer, PATIENCE};
use ipcx_testkit::nats::NatsServer;

use crate::endpoint;

/// The server role: doubles u64s, answering with the doubled value and
/// its pid in the high bits left alone (pid in a second reply field).
pub fn serve_double(ep: &str) {
    let server = Server::<u64, (u64, u32)>::bind(ep).expect("bind");
    println!("READY");
    let pid = std::process::id();
    let _ = server.serve(move |n: u64| {
        n.checked_mul(2)
            .map(|d| (d, pid))
            .ok_or_else(|| format!("{n} is too large to double"))
    });
}

pub fn calls_cross_processes_from_many_threads() {
    let server = NatsServer::start("calls", &[]);
    let ep = endpoint(&server, "calls", "");
    let peer = Peer::spawn("serve-double", &ep, &[]);
    assert_eq!(peer.line(), "READY");
    let client = Client::<u64, (u64, u32)>::connect(&ep).expect("connect");
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let client = &client;
            s.spawn(move || {
                for i in 0..100 {
                    let n = t * 1000 + i;
                    let (doubled, _) = client.call_timeout(&n, PATIENCE).expect("answer");
                    assert_eq!(doubled, 2 * n);
                }
            });
        }
    });
    match client.call_timeout(&u64::MAX, PATIENCE) {
        Err(CallError::Remote(text)) => assert!(text.contains("too large"), "{text}"),
        other => panic!("a handler's error reaches the caller: {other:?}"),
    }
}

pub fn a_queue_group_of_servers_shares_the_calls() {
    let server = NatsServer::start("group", &[]);
    let ep = endpoint(&server, "group", "");
    let peers: Vec<Peer> = (0..2)
        .map(|_| Peer::spawn("serve-double", &ep, &[]))
        .collect();
    for p in &peers {
        assert_eq!(p.line(), "READY");
    }
    let client = Client::<u64, (u64, u32)>::connect(&ep).expect("connect");
    let mut pids = BTreeSet::new();
    for n in 0..200 {
        let (doubled, pid) = client.call_timeout(&n, PATIENCE).expect("answer");
        assert_eq!(doubled, 2 * n);
        pids.insert(pid);
    }
    let expected: BTreeSet<u32> = peers.iter().map(Peer::pid).collect();
    assert_eq!(pids, expected, "each server answers a share");
}

pub fn another_type_and_no_server_are_clear_errors() {
    let server = NatsServer::start("call-errors", &[]);
    let ep = endpoint(&server, "callerr", "");
    let peer = Peer::spawn("serve-double", &ep, &[]);
    assert_eq!(peer.line(), "READY");
    let wrong = Client::<String, String>::connect(&ep).expect("connect");
    match wrong.call_timeout(&"hello".to_owned(), PATIENCE) {
        Err(CallError::Remote(text)) => {
            assert!(
                text.contains("type mismatch") && text.contains("u64"),
                "{text}"
            )
        }
        other => panic!("a client of another type is refused with a reason: {other:?}"),
    }
    let nobody =
        Client::<u64, (u64, u32)>::connect(endpoint(&server, "nobody", "")).expect("connect");
    let t = std::time::Instant::now();
    match nobody.call_timeout(&1, PATIENCE) {
        Err(CallError::Remote(text)) => assert!(text.contains("no responders"), "{text}"),
        other => panic!("no server is said at once: {other:?}"),
    }
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "not a timeout: {:?}",
        t.elapsed()
    );
}

pub fn a_stop_ends_serving() {
    let server = NatsServer::start("call-stop", &[]);
    let ep = endpoint(&server, "callstop", "");
    let stop = ipcx::Stop::new().expect("stop");
    let mut options = ipcx::OpenOptions::new();
    options.stop(&stop);
    let serving = Server::<u64, u64>::bind_with(&ep, &options).expect("bind");
    let running = std::thread::spawn(move || serving.serve(|n: u64| Ok(n + 1)));
    let client = Client::<u64, u64>::connect(&ep).expect("connect");
    assert_eq!(client.call_timeout(&41, PATIENCE).expect("answer"), 42);
    stop.stop();
    running
        .join()
        .unwrap()
        .expect("serve returns after the stop");
}
