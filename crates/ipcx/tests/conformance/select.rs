//! `Select` across transports, each peer a separate process: messages
//! arriving in any order on a stream socket, a POSIX queue, a System V
//! queue and a ring; deadlines; a stop; a sender waiting for room.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ipcx::{Receiver, Select, Sender, Stop, TryRecvError};
use libtest_mimic::Trial;

use crate::foreign::thread_cpu;
use crate::harness::{Peer, Scratch, PATIENCE};
use crate::Msg;

pub fn trials() -> Vec<Trial> {
    let tests: [(&str, fn()); 5] = [
        ("select::own_poll_loop", own_poll_loop),
        (
            "select::four_transports_in_any_order",
            four_transports_in_any_order,
        ),
        ("select::deadline_and_stop", deadline_and_stop),
        ("select::idle_costs_no_cpu", idle_costs_no_cpu),
        ("select::sender_waits_for_room", sender_waits_for_room),
    ];
    tests
        .into_iter()
        .map(|(name, f)| {
            Trial::test(name, move || {
                f();
                Ok(())
            })
        })
        .collect()
}

fn endpoints(s: &Scratch) -> [String; 4] {
    [
        format!("unix:{}", s.path("sel.sock")),
        format!("mq:{}", s.mq_name()),
        format!("sysvmq:{:#x}", s.sysv_key()),
        format!("shm:{}?capacity=64KiB", s.mq_name()),
    ]
}

/// Four senders in four processes, in bursts with pauses of their own:
/// every message arrives, each sender's in order; a member whose senders
/// are gone reports it and is removed; the loop ends when all are.
fn four_transports_in_any_order() {
    let s = Scratch::new("select-four");
    let rxs: Vec<Receiver<Msg>> = endpoints(&s)
        .iter()
        .map(|ep| Receiver::open(ep).expect("open receiver"))
        .collect();
    let per = 60u64;
    let peers: Vec<Peer> = rxs
        .iter()
        .enumerate()
        .map(|(k, rx)| {
            Peer::spawn(
                "send",
                &rx.endpoint().to_string(),
                &[
                    ("count", per.to_string()),
                    ("offset", (k as u64 * 1000).to_string()),
                    ("burst", (3 + k).to_string()),
                    ("pause_ms", (1 + 2 * k).to_string()),
                ],
            )
        })
        .collect();
    let mut sel = Select::new();
    let index: Vec<usize> = rxs.iter().map(|rx| sel.recv(rx)).collect();
    let mut next: HashMap<usize, u64> = (0..4).map(|k| (k, k as u64 * 1000)).collect();
    let mut open = 4;
    let mut spurious = 0u64;
    while open > 0 {
        let i = sel.ready_timeout(PATIENCE).expect("a member became ready");
        let k = index.iter().position(|&x| x == i).expect("one of ours");
        match rxs[k].try_recv() {
            Ok(m) => {
                let want = next.get_mut(&k).expect("member");
                assert_eq!(m.seq, *want, "member {k}: out of order");
                assert!(m.is_intact());
                *want += 1;
            }
            Err(TryRecvError::Empty) => spurious += 1,
            Err(TryRecvError::Disconnected) => {
                sel.remove(i);
                open -= 1;
            }
            Err(TryRecvError::Failed(e)) => panic!("member {k}: {e}"),
        }
    }
    for (k, n) in next {
        assert_eq!(n, k as u64 * 1000 + per, "member {k} got all its messages");
    }
    eprintln!("select: {} messages, {spurious} spurious wake-ups", 4 * per);
    peers.into_iter().for_each(Peer::finish);
}

/// A deadline with nothing ready times out (not early); a stop member
/// wakes a waiting select.
fn deadline_and_stop() {
    let s = Scratch::new("select-deadline");
    let [unix, _, sysv, shm] = endpoints(&s);
    let a = Receiver::<Msg>::open(&unix).expect("unix");
    let b = Receiver::<Msg>::open(&sysv).expect("sysvmq");
    let c = Receiver::<Msg>::open(&shm).expect("shm");
    let stop = Stop::new().expect("stop");
    let mut sel = Select::new();
    sel.recv(&a);
    sel.recv(&b);
    sel.recv(&c);
    let on_stop = sel.stop(&stop);
    assert!(sel.try_ready().is_err(), "nothing is ready");
    let started = Instant::now();
    assert!(sel.ready_timeout(Duration::from_millis(100)).is_err());
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "returned early"
    );
    let stopper = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let at = Instant::now();
            stop.stop();
            at
        })
    };
    assert_eq!(sel.ready_timeout(PATIENCE), Ok(on_stop));
    let took = stopper.join().expect("stopper").elapsed();
    assert!(
        took < Duration::from_millis(500),
        "the stop was seen after {took:?}"
    );
}

/// Waiting on idle members of every kind (a doorbell, fds, a queue that
/// must be looked at) sleeps: little CPU in 300 ms.
fn idle_costs_no_cpu() {
    let s = Scratch::new("select-idle");
    let rxs: Vec<Receiver<Msg>> = endpoints(&s)
        .iter()
        .map(|ep| Receiver::open(ep).expect("open"))
        .collect();
    // A connected but quiet sender on the ring: its reader has a producer
    // to sleep for (without one it would be ready: nothing will come).
    let ring = rxs[3].endpoint().to_string();
    let _quiet = Sender::<Msg>::open_timeout(&ring, PATIENCE).expect("ring sender");
    let mut sel = Select::new();
    for rx in &rxs {
        sel.recv(rx);
    }
    let before = thread_cpu();
    assert!(sel.ready_timeout(Duration::from_millis(300)).is_err());
    let cpu = thread_cpu().saturating_sub(before);
    eprintln!("select idle for 300 ms: {cpu:?} of CPU");
    assert!(cpu < Duration::from_millis(60), "idle select used {cpu:?}");
}

/// A full seqpacket socket: the send is not ready until the peer reads.
fn sender_waits_for_room() {
    let s = Scratch::new("select-send");
    let ep = format!("unix+seqpacket:{}", s.path("full.sock"));
    let mut peer = Peer::spawn("recv", &ep, &[("wait_go", "1".into())]);
    let bound = peer.expect("READY");
    let tx = Sender::<Msg>::open_timeout(&bound, PATIENCE).expect("sender");
    let mut sent = 0u64;
    while tx.try_send(Msg::new(sent, 4000)).is_ok() {
        sent += 1;
        assert!(sent < 100_000, "never full");
    }
    let mut sel = Select::new();
    let i = sel.send(&tx);
    assert!(sel.try_ready().is_err(), "a full channel is not ready");
    peer.tell("go");
    assert_eq!(sel.ready_timeout(PATIENCE), Ok(i));
    let result = ipcx::select! {
        send(tx, Msg::new(sent, 4000)) -> r => r,
        default(PATIENCE) => Err(ipcx::SendError::Disconnected(Msg::new(0, 0))),
    };
    assert!(result.is_ok());
    drop(tx);
    for seq in 0..=sent {
        assert_eq!(peer.expect("GOT"), format!("{seq} 4000"));
    }
    assert_eq!(peer.line(), "END");
    peer.finish();
}

/// `readiness_fd` in a program's own poll loop, on every kind of fd: a
/// listener's epoll set, a POSIX queue, a datagram socket, a FIFO.
fn own_poll_loop() {
    let s = Scratch::new("select-own");
    for ep in [
        format!("unix:{}", s.path("own.sock")),
        format!("mq:{}", s.mq_name()),
        format!("unix+dgram:{}", s.path("own.dgram")),
        format!("fifo:{}", s.path("own.fifo")),
    ] {
        let rx = Receiver::<Msg>::open(&ep).expect("open");
        let fd = rx.readiness_fd().expect("an fd-based receiver has one");
        let peer = Peer::spawn(
            "send",
            &rx.endpoint().to_string(),
            &[
                ("count", "5".into()),
                ("burst", "2".into()),
                ("pause_ms", "20".into()),
            ],
        );
        let mut got = Vec::new();
        'outer: loop {
            loop {
                match rx.try_recv() {
                    Ok(m) => got.push(m.seq),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => break 'outer,
                    Err(TryRecvError::Failed(e)) => panic!("{ep}: {e}"),
                }
            }
            let mut fds = [rustix::event::PollFd::new(
                &fd,
                rustix::event::PollFlags::IN,
            )];
            let timeout = rustix::event::Timespec {
                tv_sec: 20,
                tv_nsec: 0,
            };
            let n = rustix::event::poll(&mut fds, Some(&timeout)).expect("poll");
            assert!(n > 0, "{ep}: nothing within 20 s, after {got:?}");
        }
        assert_eq!(got, [0, 1, 2, 3, 4], "{ep}");
        peer.finish();
    }
    // Rings and System V queues have no such fd (a Select waits on them).
    let ring = Receiver::<Msg>::open(format!("shm:{}", s.mq_name())).expect("shm");
    assert!(ring.readiness_fd().is_none());
}
