//! NATS endpoints against real `nats-server` processes started on free
//! loopback ports (one per case, or a 3-node cluster), with peers in
//! other processes: this binary re-run in a role, and Python's nats-py as
//! a client that is not ipcx. The conformance suite also runs its cases
//! on `nats://` (tests/conformance, transport `nats`).
//!
//! Run: `cargo test -p ipcx --features nats --test nats`. Needs
//! `nats-server` (apt) and `python3 -m pip install nats-py` (`.ci/run`
//! installs both).

mod calls;
mod jetstream;
mod peer;
mod security;

use std::time::{Duration, Instant};

use ipcx::{ErrorKind, Receiver, RecvTimeoutError, Sender};
use ipcx_testkit::harness::{self, Peer, PATIENCE};
use ipcx_testkit::nats::NatsServer;
use libtest_mimic::{Arguments, Trial};
use serde::{Deserialize, Serialize};

/// What the typed cases send: a sequence number and some bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub seq: u64,
    pub body: Vec<u8>,
}

/// Another type, for the mismatch case.
#[derive(Debug, Serialize, Deserialize)]
pub struct Invoice {
    pub total: f64,
}

/// A unique subject on `server`.
pub fn endpoint(server: &NatsServer, case: &str, options: &str) -> String {
    let subject = format!("ipcx.test.{}.{case}", std::process::id());
    let sep = if options.is_empty() { "" } else { "?" };
    format!("{}/{subject}{sep}{options}", server.url())
}

type Case = fn();

const CASES: &[(&str, Case)] = &[
    (
        "calls_cross_processes_from_many_threads",
        calls::calls_cross_processes_from_many_threads,
    ),
    (
        "calls_a_queue_group_of_servers_shares_them",
        calls::a_queue_group_of_servers_shares_the_calls,
    ),
    (
        "calls_another_type_and_no_server_are_clear_errors",
        calls::another_type_and_no_server_are_clear_errors,
    ),
    ("calls_a_stop_ends_serving", calls::a_stop_ends_serving),
    (
        "typed_messages_cross_processes_in_order",
        typed_messages_cross_processes_in_order,
    ),
    (
        "another_type_is_refused_per_message",
        another_type_is_refused_per_message,
    ),
    (
        "a_queue_group_shares_the_messages",
        a_queue_group_shares_the_messages,
    ),
    (
        "a_slow_receiver_counts_what_it_lost",
        a_slow_receiver_counts_what_it_lost,
    ),
    (
        "a_plain_nats_client_interoperates",
        a_plain_nats_client_interoperates,
    ),
    (
        "garbage_from_a_plain_publisher_is_reported",
        garbage_from_a_plain_publisher_is_reported,
    ),
    ("no_server_is_a_clear_error", no_server_is_a_clear_error),
    (
        "a_sender_on_one_node_a_receiver_on_another",
        a_sender_on_one_node_a_receiver_on_another,
    ),
    (
        "a_server_restart_mid_stream_is_counted",
        a_server_restart_mid_stream_is_counted,
    ),
    (
        "an_idle_receiver_sleeps_and_stops",
        an_idle_receiver_sleeps_and_stops,
    ),
    ("tls_verifies_the_server", security::tls_verifies_the_server),
    (
        "a_token_comes_from_a_file_or_the_environment",
        security::a_token_comes_from_a_file_or_the_environment,
    ),
    (
        "a_password_comes_from_the_environment",
        security::a_password_comes_from_the_environment,
    ),
    (
        "jetstream_a_killed_receiver_loses_nothing",
        jetstream::a_killed_receiver_loses_nothing,
    ),
    (
        "jetstream_a_full_stream_makes_send_wait",
        jetstream::a_full_stream_makes_send_wait,
    ),
    (
        "jetstream_without_it_the_error_says_so",
        jetstream::without_jetstream_the_error_says_so,
    ),
];

fn main() {
    if let Ok(role) = std::env::var(harness::PEER_ENV) {
        peer::run(&role);
    }
    let args = Arguments::from_args();
    let trials = CASES
        .iter()
        .map(|(name, case)| {
            Trial::test(*name, move || {
                case();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}

fn recv_job(rx: &Receiver<Job>) -> Job {
    match rx.recv_timeout(PATIENCE) {
        Ok(job) => job,
        Err(e) => panic!("expected a job, got {e:?}"),
    }
}

fn typed_messages_cross_processes_in_order() {
    let server = NatsServer::start("typed", &[]);
    let ep = endpoint(&server, "typed", "");
    let rx = Receiver::<Job>::open(&ep).expect("subscribe");
    let peer = Peer::spawn("send", &ep, &[("count", "500".into())]);
    for seq in 0..500 {
        assert_eq!(recv_job(&rx), Job::new(seq), "in order, intact");
    }
    peer.finish();
    // The sender's bye ends the stream, as on udp: and nothing was lost.
    assert!(matches!(
        rx.recv_timeout(PATIENCE),
        Err(RecvTimeoutError::Disconnected)
    ));
    assert_eq!(rx.missed(), 0);
}

fn another_type_is_refused_per_message() {
    let server = NatsServer::start("types", &[]);
    let ep = endpoint(&server, "types", "serve=true");
    let rx = Receiver::<Job>::open(&ep).expect("subscribe");
    let other = Peer::spawn("send-invoice", &ep, &[]);
    match rx.recv_timeout(PATIENCE) {
        Err(RecvTimeoutError::Failed(e)) => {
            assert_eq!(e.kind(), ErrorKind::TypeMismatch, "{e}");
            assert!(e.to_string().contains("Job"), "{e}");
        }
        other => panic!("an Invoice must be refused, got {other:?}"),
    }
    other.finish();
    // The receiver goes on: a Job sender after it is heard.
    let good = Peer::spawn("send", &ep, &[("count", "1".into())]);
    assert_eq!(recv_job(&rx), Job::new(0));
    good.finish();
}

fn a_queue_group_shares_the_messages() {
    let server = NatsServer::start("queue", &[]);
    let ep = endpoint(&server, "queue", "queue=workers");
    let mut workers: Vec<Peer> = (0..2).map(|_| Peer::spawn("count", &ep, &[])).collect();
    for w in &workers {
        assert_eq!(w.line(), "READY");
    }
    let tx = Sender::<Job>::open(&ep).expect("publish");
    for seq in 0..400 {
        tx.send(Job::new(seq)).expect("send");
    }
    drop(tx);
    // Members of a group do not end with a sender's bye (it reaches one
    // of them): they count until told to stop.
    std::thread::sleep(Duration::from_millis(500));
    let counts: Vec<u64> = workers
        .iter_mut()
        .map(|w| {
            w.tell("stop");
            w.expect("COUNT").parse().expect("a count")
        })
        .collect();
    assert_eq!(
        counts.iter().sum::<u64>(),
        400,
        "each message to one member: {counts:?}"
    );
    assert!(
        counts.iter().all(|c| *c > 0),
        "both members get a share: {counts:?}"
    );
}

fn a_slow_receiver_counts_what_it_lost() {
    let server = NatsServer::start("slow", &[]);
    // An inbox of 64 KiB: a receiver that does not read loses most of a
    // 2 MB burst, and says how much.
    let ep = endpoint(&server, "slow", "capacity=64KiB");
    let rx = Receiver::<Job>::open(&ep).expect("subscribe");
    let sent = 2000u64;
    let peer = Peer::spawn(
        "send",
        &ep,
        &[("count", sent.to_string()), ("size", "1000".into())],
    );
    peer.finish();
    let mut got = 0u64;
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(job) => {
                assert_eq!(job.body.len(), 1000);
                got += 1;
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    let missed = rx.missed();
    assert!(missed > 0, "a 64 KiB inbox cannot hold 2 MB (got {got})");
    assert_eq!(
        got + missed,
        sent,
        "every message received or counted as missed"
    );
}

fn python(script: &str, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("timeout")
        .args(["-k", "5", "60", "python3", "-c", script])
        .args(args)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python3 failed (is nats-py installed? `python3 -m pip install nats-py`):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Python subscribes and prints what an ipcx sender sent (payload and
/// header); then publishes a message to an ipcx bytes receiver.
fn a_plain_nats_client_interoperates() {
    let server = NatsServer::start("interop", &[]);
    let ep = endpoint(&server, "interop", "");
    let subject = ep.rsplit('/').next().unwrap().to_owned();
    let script = r#"
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    sub = await nc.subscribe(sys.argv[2])
    await nc.flush()
    print("READY", flush=True)
    msg = await sub.next_msg(timeout=20)
    print(msg.data.decode(), msg.headers.get("Ipcx", "").split(" ")[1], flush=True)
    await nc.close()
asyncio.run(main())
"#;
    let mut py = std::process::Command::new("timeout")
        .args([
            "-k",
            "5",
            "60",
            "python3",
            "-c",
            script,
            &server.url(),
            &subject,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(py.stdout.take().unwrap()));
    assert_eq!(lines.next().unwrap().unwrap(), "READY");
    let tx = Sender::<ipcx::Bytes>::open(&ep).expect("publish");
    tx.send_bytes(b"hello from ipcx").expect("send");
    assert_eq!(lines.next().unwrap().unwrap(), "hello from ipcx data");
    assert!(py.wait().unwrap().success());
}

fn garbage_from_a_plain_publisher_is_reported() {
    let server = NatsServer::start("garbage", &[]);
    let ep = endpoint(&server, "garbage", "serve=true");
    let subject = ep
        .split('?')
        .next()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let rx = Receiver::<Job>::open(&ep).expect("subscribe");
    // No header, a header that is not ours, a header that lies about the
    // length: each one dropped with an error, the receiver goes on.
    python(
        r#"
import asyncio, sys, nats
async def main():
    nc = await nats.connect(sys.argv[1])
    await nc.publish(sys.argv[2], b"plain text, no header")
    await nc.publish(sys.argv[2], b"x", headers={"Ipcx": "9 data 1 2 3"})
    for i in range(5000):
        await nc.publish(sys.argv[2], b"flood " * 10)
    await nc.flush()
    await nc.close()
asyncio.run(main())
"#,
        &[&server.url(), &subject],
    );
    let t = Instant::now();
    let mut errors = 0;
    while let Err(RecvTimeoutError::Failed(e)) = rx.recv_timeout(Duration::from_millis(300)) {
        assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
        assert!(e.to_string().contains("not from an ipcx sender"), "{e}");
        errors += 1;
    }
    assert!(
        (1..=5).contains(&errors),
        "a flood is reported once a second, not per message: {errors}"
    );
    assert!(t.elapsed() < Duration::from_secs(10));
    let good = Peer::spawn("send", &ep, &[("count", "1".into())]);
    assert_eq!(
        recv_job(&rx),
        Job::new(0),
        "after the garbage, good messages pass"
    );
    good.finish();
}

fn no_server_is_a_clear_error() {
    let port = ipcx_testkit::cli::free_port("127.0.0.1:0");
    let ep = format!("nats://127.0.0.1:{port}/nobody");
    let e = Sender::<Job>::open(&ep).expect_err("no server");
    assert_eq!(e.kind(), ErrorKind::NoPeer, "{e}");
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    let e = Receiver::<Job>::open(&ep).expect_err("no server");
    assert_eq!(e.kind(), ErrorKind::NoPeer, "{e}");
    // With a timeout a sender waits for the server to come, then gives up.
    let t = Instant::now();
    let e = Sender::<Job>::open_timeout(&ep, Duration::from_millis(600)).expect_err("no server");
    assert!(t.elapsed() >= Duration::from_millis(500), "{e}");
    // A wildcard is for receivers only.
    let e = Sender::<Job>::open("nats://127.0.0.1:1/jobs.*").expect_err("wildcard");
    assert_eq!(e.kind(), ErrorKind::InvalidEndpoint, "{e}");
}

fn a_sender_on_one_node_a_receiver_on_another() {
    let nodes = NatsServer::cluster("trio", 3);
    let rx_ep = endpoint(&nodes[2], "cluster", "");
    let rx = Receiver::<Job>::open(&rx_ep).expect("subscribe on node 3");
    // Interest crosses the routes asynchronously: send until the first
    // arrives, then the stream in order.
    let tx_ep = endpoint(&nodes[0], "cluster", "");
    let peer = Peer::spawn(
        "send",
        &tx_ep,
        &[("count", "300".into()), ("delay_ms", "2".into())],
    );
    let first = recv_job(&rx);
    let mut next = first.seq + 1;
    while next < 300 {
        assert_eq!(recv_job(&rx).seq, next);
        next += 1;
    }
    peer.finish();
    // A client given the whole cluster fails over to a live node.
    let all = format!(
        "nats://{}/ipcx.test.{}.failover",
        nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(","),
        std::process::id()
    );
    assert!(Sender::<Job>::open(&all).is_ok());
}

fn a_server_restart_mid_stream_is_counted() {
    let mut server = NatsServer::start("restart", &[]);
    let ep = endpoint(&server, "restart", "");
    let rx = Receiver::<Job>::open(&ep).expect("subscribe");
    let sent = 1500u64;
    let peer = Peer::spawn(
        "send",
        &ep,
        &[("count", sent.to_string()), ("delay_ms", "2".into())],
    );
    let first = recv_job(&rx);
    assert_eq!(first.seq, 0);
    std::thread::sleep(Duration::from_millis(300));
    server.kill();
    std::thread::sleep(Duration::from_millis(500));
    server.restart();
    // Both clients reconnect by themselves (and re-subscribe); messages
    // sent while the server was down wait in the sender's client, those
    // in flight at the kill are lost — and counted.
    let mut got = 1u64;
    loop {
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(_) => got += 1,
            Err(RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("after {got}: {e:?}"),
        }
    }
    peer.finish();
    assert!(
        got > sent / 2,
        "the stream went on after the restart: {got} of {sent}"
    );
    assert_eq!(
        got + rx.missed(),
        sent,
        "every message received or counted as missed"
    );
}

fn an_idle_receiver_sleeps_and_stops() {
    let server = NatsServer::start("idle", &[]);
    let ep = endpoint(&server, "idle", "");
    let stop = ipcx::Stop::new().expect("stop");
    let rx = Receiver::<Job>::open(&ep)
        .expect("subscribe")
        .with_stop(&stop);
    let cpu = || {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
        // SAFETY: getrusage writes a whole rusage into the pointer it is given.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) };
        // SAFETY: initialised by getrusage above.
        let u = unsafe { usage.assume_init() };
        Duration::from_micros((u.ru_utime.tv_sec * 1_000_000 + u.ru_utime.tv_usec) as u64)
            + Duration::from_micros((u.ru_stime.tv_sec * 1_000_000 + u.ru_stime.tv_usec) as u64)
    };
    let before = cpu();
    let waker = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            stop.stop();
        })
    };
    let t = Instant::now();
    let r = rx.recv();
    assert!(r.is_err(), "a stop ends the wait: {r:?}");
    assert!(t.elapsed() >= Duration::from_millis(900));
    let spent = cpu() - before;
    assert!(
        spent < Duration::from_millis(200),
        "an idle receiver spent {spent:?} of CPU in 1 s"
    );
    waker.join().unwrap();
}

impl Job {
    pub fn new(seq: u64) -> Job {
        Job::sized(seq, 8)
    }

    pub fn sized(seq: u64, len: usize) -> Job {
        Job {
            seq,
            body: (0..len).map(|i| (seq as usize + i) as u8).collect(),
        }
    }
}
