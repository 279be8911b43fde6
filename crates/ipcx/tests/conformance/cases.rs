//! The conformance cases. Each takes a transport and checks one promise of
//! the contract in `src/link/mod.rs`, with the other end in another process.

use ipcx::{ErrorKind, Receiver, RecvTimeoutError, SendTimeoutError, TryRecvError, TrySendError};
use std::collections::HashMap;
use std::time::Duration;

use crate::harness::{eventually, Peer, Scratch, Watchdog, PATIENCE};
use crate::raw;
use crate::transports::{parent_receives, parent_sends, Family, Transport, SHORT};
use crate::Msg;

pub type Case = fn(&Transport);

pub const ALL: &[(&str, Case)] = &[
    ("boundaries_and_order", boundaries_and_order),
    ("bursts_and_pauses", bursts_and_pauses),
    ("blocks_when_full", blocks_when_full),
    ("timeouts_and_sender_death", timeouts_and_sender_death),
    ("receiver_gone_fails_sends", receiver_gone_fails_sends),
    ("receiver_killed_fails_sends", receiver_killed_fails_sends),
    ("type_mismatch_receiver_side", type_mismatch_receiver_side),
    ("type_mismatch_sender_side", type_mismatch_sender_side),
    ("bad_input", bad_input),
    ("bad_peer_leaves_others_alone", bad_peer_leaves_others_alone),
    ("many_senders", many_senders),
    ("oversized_send_is_refused", oversized_send_is_refused),
    ("created_files", created_files),
    ("peer_credentials", peer_credentials),
    ("queue_lifecycle", queue_lifecycle),
];

fn recv_msg(rx: &Receiver<Msg>) -> Msg {
    recv_msg_in(rx, "")
}

fn recv_msg_in(rx: &Receiver<Msg>, context: &str) -> Msg {
    match rx.recv_timeout(PATIENCE) {
        Ok(m) => m,
        Err(e) => panic!("{context}: expected a message, got {e}"),
    }
}

fn recv_err(rx: &Receiver<Msg>, context: &str) -> ipcx::Error {
    match rx.recv_timeout(PATIENCE) {
        Err(RecvTimeoutError::Failed(e)) => e,
        Ok(m) => panic!("{context}: expected an error, got message {}", m.seq),
        Err(e) => panic!("{context}: expected a failed message, got {e}"),
    }
}

fn expect_disconnected(rx: &Receiver<Msg>) {
    match rx.recv_timeout(PATIENCE) {
        Err(RecvTimeoutError::Disconnected) => {}
        other => panic!(
            "expected Disconnected, got {other:?}",
            other = other.map(|m| m.seq)
        ),
    }
}

pub(crate) fn sizes_param(sizes: &[usize]) -> (&'static str, String) {
    (
        "sizes",
        sizes
            .iter()
            .map(usize::to_string)
            .collect::<Vec<_>>()
            .join(","),
    )
}

pub(crate) fn test_sizes(t: &Transport) -> Vec<usize> {
    if t.is_udp() {
        vec![0, 1, 7, 100, 1000, 20_000]
    } else if t.family == Family::Queue {
        vec![0, 1, 7, 100, 4091, 4096, t.max_payload()]
    } else {
        let all = [0, 1, 7, 100, 4091, 4096, 65_000, t.max_payload()];
        all.into_iter().filter(|&n| n <= t.max_payload()).collect()
    }
}

/// One send is one receive, byte for byte, in order; then the end.
fn boundaries_and_order(t: &Transport) {
    let s = Scratch::new(t.name);
    let sizes = test_sizes(t);
    let n = 4 * sizes.len() as u64;
    let (rx, peer) = parent_receives::<Msg>(
        t,
        &s,
        "send",
        &[("count", n.to_string()), sizes_param(&sizes)],
    );
    for seq in 0..n {
        let m = recv_msg(&rx);
        assert_eq!(m.seq, seq, "messages out of order");
        assert_eq!(
            m.payload.len(),
            sizes[seq as usize % sizes.len()],
            "boundary moved"
        );
        assert!(m.is_intact(), "payload of message {seq} corrupted");
    }
    expect_disconnected(&rx);
    peer.finish();
}

/// Bursts of messages with pauses longer than a receiver polls between
/// them: every message arrives, in order, whether the receiver waits with
/// a timeout or without one. (A streaming receiver stops watching a lone
/// Unix connection in epoll and must take it back before it sleeps; TCP
/// watches its regime; receivers with a deadline poll, then sleep.)
fn bursts_and_pauses(t: &Transport) {
    let s = Scratch::new(t.name);
    let (burst, bursts) = (100u64, 5u64);
    let (rx, peer) = parent_receives::<Msg>(
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
    // Some receives wait without a timeout: a lost wake-up would hang.
    let _dog = Watchdog::new(&format!("{}: bursts_and_pauses", t.name), PATIENCE);
    for seq in 0..burst * bursts {
        // Half the bursts taken with a timeout, half without.
        let m = if (seq / burst) % 2 == 0 {
            recv_msg(&rx)
        } else {
            rx.recv().expect("a message after a pause")
        };
        assert_eq!(m.seq, seq, "messages out of order");
        assert!(m.is_intact(), "payload of message {seq} corrupted");
    }
    expect_disconnected(&rx);
    peer.finish();
}

/// `try_send` reports Full and `send_timeout` times out while the receiver
/// is not reading; nothing sent is lost once it reads again.
fn blocks_when_full(t: &Transport) {
    if !t.blocks_when_full() {
        return; // UDP has no flow control: documented.
    }
    let s = Scratch::new(t.name);
    let size = t.max_payload().min(8192);
    let (tx, mut peer) = parent_sends::<Msg>(t, &s, &[("wait_go", "1".into())]);
    let mut sent = 0u64;
    loop {
        match tx.try_send(Msg::new(sent, size)) {
            Ok(()) => sent += 1,
            Err(TrySendError::Full(m)) => {
                assert_eq!(m.seq, sent, "Full gives the message back");
                break;
            }
            Err(e) => panic!("try_send: {e}"),
        }
        assert!(sent < 200_000, "the channel never became full");
    }
    // A TCP receiver's kernel may still open its window a little (buffer
    // autotuning, delayed acks): a send that fits then is a success, not a
    // failure; the channel must come back to Full and time out.
    loop {
        match tx.send_timeout(Msg::new(sent, size), SHORT) {
            Err(SendTimeoutError::Timeout(m)) => {
                assert_eq!(m.seq, sent, "Timeout gives the message back");
                break;
            }
            Ok(()) if t.name.starts_with("tcp") && sent < 200_000 => sent += 1,
            other => panic!("expected Timeout, got {other:?}"),
        }
    }
    peer.tell("go");
    // A blocking send completes once the receiver drains.
    tx.send(Msg::new(sent, size))
        .expect("send after the receiver drains");
    drop(tx);
    for seq in 0..=sent {
        assert_eq!(peer.expect("GOT"), format!("{seq} {size}"));
    }
    assert_eq!(peer.line(), "END");
    peer.finish();
}

/// Empty channel: try_recv is Empty, recv_timeout times out. A sender killed
/// with SIGKILL ends the channel (where a connection exists to notice it).
fn timeouts_and_sender_death(t: &Transport) {
    let s = Scratch::new(t.name);
    let (rx, mut peer) = parent_receives::<Msg>(
        t,
        &s,
        "send",
        &[("count", "2".into()), ("hang", "1".into())],
    );
    assert_eq!(recv_msg(&rx).seq, 0);
    assert_eq!(recv_msg(&rx).seq, 1);
    assert!(matches!(rx.try_recv(), Err(TryRecvError::Empty)));
    let started = std::time::Instant::now();
    assert!(matches!(
        rx.recv_timeout(SHORT),
        Err(RecvTimeoutError::Timeout)
    ));
    assert!(started.elapsed() >= SHORT, "recv_timeout returned early");
    peer.kill();
    if t.notices_sender_death() {
        expect_disconnected(&rx);
    } else {
        assert!(matches!(
            rx.recv_timeout(SHORT),
            Err(RecvTimeoutError::Timeout)
        ));
    }
}

/// Once the receiving process is gone, sends fail with Disconnected.
/// A queue keeps what it is given for the next receiver: its sender
/// learns of the death once the queue is full (link::queue_peers).
fn receiver_gone_fails_sends(t: &Transport) {
    if t.is_broker() {
        return;
    }
    let s = Scratch::new(t.name);
    let (tx, peer) = parent_sends::<Msg>(t, &s, &[("count", "1".into())]);
    tx.send(Msg::new(0, 10)).expect("first send");
    assert_eq!(peer.expect("GOT"), "0 10");
    assert_eq!(peer.line(), "END");
    peer.finish();
    sends_end_disconnected(&tx, 1);
}

/// A receiver killed with SIGKILL between two messages: sends fail with
/// Disconnected within a few seconds, on every transport.
fn receiver_killed_fails_sends(t: &Transport) {
    if t.is_broker() {
        return;
    }
    let s = Scratch::new(t.name);
    let (tx, mut peer) = parent_sends::<Msg>(t, &s, &[("count", "1000000".into())]);
    tx.send(Msg::new(0, 10)).expect("first send");
    assert_eq!(peer.expect("GOT"), "0 10");
    peer.kill();
    let killed = std::time::Instant::now();
    sends_end_disconnected(&tx, 1);
    let noticed = killed.elapsed();
    assert!(
        noticed < Duration::from_secs(5),
        "the sender noticed the receiver's death after {noticed:?}"
    );
}

/// Sends numbered messages (each waiting at most SHORT) until one fails,
/// without pausing between them (a ring holds many); it must fail with
/// Disconnected within PATIENCE.
fn sends_end_disconnected(tx: &ipcx::Sender<Msg>, first: u64) {
    let deadline = std::time::Instant::now() + PATIENCE;
    for seq in first.. {
        match tx.send_timeout(Msg::new(seq, 10), SHORT) {
            Ok(()) | Err(SendTimeoutError::Timeout(_)) => {}
            Err(e) if e.is_disconnected() => return,
            Err(e) => panic!("expected Disconnected, got {e}"),
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no send reported Disconnected within {PATIENCE:?} ({} sent)",
            seq - first
        );
    }
}

/// A receiver of Msg meeting a sender of String: a TypeMismatch error that
/// names both types, and no message decoded as garbage.
fn type_mismatch_receiver_side(t: &Transport) {
    let s = Scratch::new(t.name);
    let (rx, _peer) = parent_receives::<Msg>(
        t,
        &s,
        "send-string",
        &[("count", "1".into()), ("hang", "1".into())],
    );
    if t.refuses_at_open() {
        // The ring records its receivers' type, a WebSocket receiver
        // answers the hello: the sender is refused at open.
        let refusal = _peer.expect("OPEN ERR");
        assert!(refusal.starts_with("TypeMismatch"), "{refusal}");
        assert!(
            refusal.contains("Msg") && refusal.contains("String"),
            "{refusal}"
        );
        assert!(rx.recv_timeout(SHORT).is_err(), "nothing arrives");
        return;
    }
    let e = recv_err(&rx, "type mismatch");
    assert_eq!(e.kind(), ErrorKind::TypeMismatch, "{e}");
    let text = e.to_string();
    assert!(
        text.contains("Msg"),
        "error names the receiver's type: {text}"
    );
    if !t.connectionless() {
        assert!(
            text.contains("String"),
            "error names the sender's type: {text}"
        );
    }
    assert!(
        rx.recv_timeout(SHORT).is_err(),
        "nothing is decoded from the mismatched sender"
    );
}

/// On connections the sender learns of the mismatch too (from the
/// receiver's hello), at its first sends.
fn type_mismatch_sender_side(t: &Transport) {
    if !matches!(t.name, "unix" | "unix-abstract" | "unix+seqpacket") {
        // One-way mechanisms, and TCP (a listener does not answer a peer
        // that only sends; see docs/wire.md): only the receiver can tell.
        return;
    }
    let s = Scratch::new(t.name);
    let (tx, peer) = parent_sends::<String>(t, &s, &[("count", "1".into())]);
    let mut last = None;
    eventually("the sender to see the mismatch", || {
        match tx.send_timeout("hello".into(), SHORT) {
            Ok(()) => false,
            Err(SendTimeoutError::Failed(_, e)) => {
                last = Some(e);
                true
            }
            Err(e) => panic!("expected a TypeMismatch error, got {e}"),
        }
    });
    let e = last.expect("an error");
    assert_eq!(e.kind(), ErrorKind::TypeMismatch, "{e}");
    assert!(peer.expect("ERR").starts_with("TypeMismatch"));
}

/// `ep` with one more option, after `?` or `&` as the grammar wants.
/// `ep` with `option` (`key=value`) added, or in place of the same key's.
fn with_option(ep: &str, option: &str) -> String {
    let key = option.split('=').next().unwrap_or(option);
    let (base, query) = ep.split_once('?').unwrap_or((ep, ""));
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.is_empty() && kv.split('=').next() != Some(key))
        .collect();
    kept.push(option);
    format!("{base}?{}", kept.join("&"))
}

pub(crate) fn hex(chunks: &[Vec<u8>]) -> String {
    chunks
        .iter()
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

fn encoded(seq: u64, len: usize) -> Vec<u8> {
    postcard::to_allocvec(&Msg::new(seq, len)).expect("encode")
}

/// `Msg`'s identity text, written by hand from docs/wire.md.
const MSG_TYPE: &str = "Msg\nMsg\nstruct Msg{seq:u64,payload:seq<u8>}";

/// What a raw peer sends, and what the receiver must make of it.
pub(crate) struct BadInput {
    pub(crate) name: &'static str,
    pub(crate) chunks: Vec<Vec<u8>>,
    /// Messages 0..good arrive first, then an error of this kind.
    pub(crate) good: u64,
    pub(crate) error: ErrorKind,
    /// After the error, message `good` still arrives (the link stayed in step).
    pub(crate) continues: bool,
    /// Endpoint options for the receiver.
    pub(crate) options: &'static str,
}

pub(crate) fn bad_inputs(t: &Transport) -> Vec<BadInput> {
    let prefix = |fam: Family| -> Vec<Vec<u8>> {
        match fam {
            Family::Stream => vec![
                raw::stream_hello(MSG_TYPE),
                raw::frame(&encoded(0, 5)),
                raw::frame(&encoded(1, 5)),
            ],
            Family::Packet => vec![
                [&[0u8][..], &raw::sender_hello(MSG_TYPE, 1)].concat(),
                [&[1u8][..], &encoded(0, 5)].concat(),
                [&[1u8][..], &encoded(1, 5)].concat(),
            ],
            Family::Datagram | Family::Queue => vec![
                raw::datagram(0, 7, MSG_TYPE, &encoded(0, 5)),
                raw::datagram(0, 7, MSG_TYPE, &encoded(1, 5)),
            ],
            // A ring carries payloads only: the raw peer is a Bytes sender.
            Family::Ring => vec![encoded(0, 5), encoded(1, 5)],
        }
    };
    let with = |tail: Vec<Vec<u8>>| [prefix(t.family), tail].concat();
    let case = |name, chunks, good, error, continues, options| BadInput {
        name,
        chunks,
        good,
        error,
        continues,
        options,
    };
    match t.family {
        Family::Ring => vec![
            case(
                "undecodable",
                with(vec![vec![0xff, 0xff, 0xff], encoded(2, 5)]),
                2,
                ErrorKind::Decode,
                true,
                "",
            ),
            case(
                "oversized",
                with(vec![vec![7; 2000], encoded(2, 5)]),
                2,
                ErrorKind::TooLarge,
                true,
                "&max_msg=1KiB",
            ),
        ],
        Family::Stream => vec![
            case(
                "no_hello",
                vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()],
                0,
                ErrorKind::Protocol,
                false,
                "",
            ),
            case(
                "bad_version",
                vec![[&raw::HELLO_MARKER[..], &raw::sender_hello(MSG_TYPE, 9)].concat()],
                0,
                ErrorKind::Protocol,
                false,
                "",
            ),
            case(
                "oversized",
                with(vec![vec![0xff, 0xff, 0xff, 0x7f, 1, 2, 3]]),
                2,
                ErrorKind::TooLarge,
                false,
                "",
            ),
            case(
                "truncated",
                with(vec![[&100u32.to_le_bytes()[..], &[9; 10]].concat()]),
                2,
                ErrorKind::Protocol,
                false,
                "",
            ),
            case(
                "undecodable",
                with(vec![
                    raw::frame(&[0xff, 0xff, 0xff]),
                    raw::frame(&encoded(2, 5)),
                ]),
                2,
                ErrorKind::Decode,
                true,
                "",
            ),
        ],
        Family::Packet => vec![
            case(
                "no_hello",
                vec![[&[1u8][..], &encoded(0, 5)].concat()],
                0,
                ErrorKind::Protocol,
                false,
                "",
            ),
            case(
                "unknown_kind",
                with(vec![vec![7, 1, 2]]),
                2,
                ErrorKind::Protocol,
                false,
                "",
            ),
            case(
                "oversized",
                with(vec![
                    [&[1u8][..], &encoded(9, 2000)].concat(),
                    [&[1u8][..], &encoded(2, 5)].concat(),
                ]),
                2,
                ErrorKind::TooLarge,
                true,
                "?max_msg=1KiB",
            ),
            case(
                "undecodable",
                with(vec![
                    vec![1, 0xff, 0xff, 0xff],
                    [&[1u8][..], &encoded(2, 5)].concat(),
                ]),
                2,
                ErrorKind::Decode,
                true,
                "",
            ),
        ],
        Family::Datagram | Family::Queue => {
            let next = raw::datagram(0, 7, MSG_TYPE, &encoded(2, 5));
            // A POSIX queue refuses messages above its msgsize: make room
            // for the oversized one so that the receiver must refuse it.
            let oversized_options = if t.name == "mq" {
                "?max_msg=1KiB&msgsize=8KiB"
            } else {
                "?max_msg=1KiB"
            };
            vec![
                case(
                    "short",
                    with(vec![b"IX\x01".to_vec(), next.clone()]),
                    2,
                    ErrorKind::Protocol,
                    true,
                    "",
                ),
                case(
                    "bad_magic",
                    with(vec![b"GET / HTTP/1.1\r\n\r\n".to_vec(), next.clone()]),
                    2,
                    ErrorKind::Protocol,
                    true,
                    "",
                ),
                case(
                    "wrong_type",
                    with(vec![
                        raw::datagram(0, 8, "String\nstr", b"\x01x"),
                        next.clone(),
                    ]),
                    2,
                    ErrorKind::TypeMismatch,
                    true,
                    "",
                ),
                case(
                    "oversized",
                    with(vec![
                        raw::datagram(0, 7, MSG_TYPE, &encoded(9, 2000)),
                        next.clone(),
                    ]),
                    2,
                    ErrorKind::TooLarge,
                    true,
                    oversized_options,
                ),
                case(
                    "undecodable",
                    with(vec![
                        raw::datagram(0, 7, MSG_TYPE, &[0xff, 0xff, 0xff]),
                        next,
                    ]),
                    2,
                    ErrorKind::Decode,
                    true,
                    "",
                ),
            ]
        }
    }
}

/// Garbage, oversized lengths, truncation, bad hellos: a typed error naming
/// the endpoint; the messages before it are all delivered; where the link
/// can stay in step, the messages after it too. Never a crash.
fn bad_input(t: &Transport) {
    if t.is_remote() {
        return;
    }
    for bad in bad_inputs(t) {
        let s = Scratch::new(t.name);
        // A truncated frame shows only when the peer closes; the others
        // keep their connection open, so the error cannot come from a close.
        let mut params = vec![("raw", hex(&bad.chunks))];
        if bad.name != "truncated" {
            params.push(("hang", "1".into()));
        }
        let (rx, peer) = match t.endpoint(&s) {
            Some(ep) => {
                let rx =
                    Receiver::<Msg>::open(with_options(&ep, bad.options)).expect("open receiver");
                let peer = Peer::spawn("raw", &rx.endpoint().to_string(), &params);
                (rx, peer)
            }
            None => parent_receives::<Msg>(t, &s, "raw", &params),
        };
        for seq in 0..bad.good {
            assert_eq!(
                recv_msg_in(&rx, bad.name).seq,
                seq,
                "{}: message before the bad input",
                bad.name
            );
        }
        let e = recv_err(&rx, bad.name);
        assert_eq!(e.kind(), bad.error, "{}: {e}", bad.name);
        assert!(
            e.endpoint().is_some(),
            "{}: the error names the endpoint: {e}",
            bad.name
        );
        if bad.continues {
            assert_eq!(
                recv_msg_in(&rx, bad.name).seq,
                bad.good,
                "{}: the link stays usable",
                bad.name
            );
        } else {
            assert!(
                rx.recv_timeout(SHORT).is_err(),
                "{}: nothing after a broken stream",
                bad.name
            );
        }
        drop(peer);
    }
}

/// A peer sending garbage is cut off; other senders on the same receiver
/// carry on, and new ones can still come.
fn bad_peer_leaves_others_alone(t: &Transport) {
    if !t.isolates_senders() || t.is_remote() {
        return;
    }
    let s = Scratch::new(t.name);
    let (rx, _good) = parent_receives::<Msg>(
        t,
        &s,
        "send",
        &[("count", "3".into()), ("hang", "1".into())],
    );
    let ep = rx.endpoint().to_string();
    let garbage = match t.family {
        Family::Datagram | Family::Queue | Family::Ring => vec![b"garbage".to_vec()],
        Family::Packet => vec![vec![42, 1, 2, 3]],
        Family::Stream => vec![b"GET / HTTP/1.1\r\n\r\n".to_vec()],
    };
    let _bad = Peer::spawn("raw", &ep, &[("raw", hex(&garbage)), ("hang", "1".into())]);
    let (mut good, mut errors) = (0, 0);
    while good + errors < 4 {
        match rx.recv_timeout(PATIENCE) {
            Ok(_) => good += 1,
            Err(RecvTimeoutError::Failed(_)) => errors += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((good, errors), (3, 1));
    let late = Peer::spawn(
        "send",
        &ep,
        &[("count", "3".into()), ("offset", "100".into())],
    );
    for seq in 100..103 {
        assert_eq!(recv_msg(&rx).seq, seq);
    }
    late.finish();
}

/// Several processes send at once: every message arrives, each sender's in
/// order, large ones unbroken; the end comes when all are gone.
fn many_senders(t: &Transport) {
    if !t.many_senders() {
        return;
    }
    let s = Scratch::new(t.name);
    let sizes = if t.is_udp() {
        vec![10, 1000]
    } else if t.family == Family::Queue {
        vec![10, 5000]
    } else {
        vec![10, 5000.min(t.max_payload()), 65_000.min(t.max_payload())]
    };
    let per = if t.is_udp() { 10 } else { 40 };
    // Every sender stays until all messages are in: a receiver that saw all
    // its senders leave is at its end, even if another was about to come.
    let params = |offset: u64| {
        vec![
            ("count", per.to_string()),
            sizes_param(&sizes),
            ("offset", offset.to_string()),
            ("hang", "1".into()),
        ]
    };
    let (rx, first) = parent_receives::<Msg>(t, &s, "send", &params(0));
    let ep = rx.endpoint().to_string();
    let others: Vec<Peer> = (1..4)
        .map(|k| Peer::spawn("send", &ep, &params(k * 1000)))
        .collect();
    let mut next: HashMap<u64, u64> = HashMap::new();
    for _ in 0..4 * per {
        let m = recv_msg(&rx);
        assert!(m.is_intact(), "message {} corrupted", m.seq);
        let sender = m.seq / 1000;
        let expected = next.entry(sender).or_insert(sender * 1000);
        assert_eq!(m.seq, *expected, "sender {sender}'s messages out of order");
        *expected += 1;
    }
    first.finish();
    others.into_iter().for_each(Peer::finish);
    expect_disconnected(&rx);
}

/// A message above max_msg (or above what a datagram carries) is refused at
/// send with TooLarge and given back; the channel stays usable.
fn oversized_send_is_refused(t: &Transport) {
    let s = Scratch::new(t.name);
    let (tx, peer) = match t.endpoint(&s) {
        Some(ep) => {
            let peer = Peer::spawn("recv", &ep, &[("count", "1".into())]);
            let bound = peer.expect("READY");
            (
                ipcx::Sender::<Msg>::open_timeout(with_option(&bound, "max_msg=1KiB"), PATIENCE)
                    .expect("open"),
                peer,
            )
        }
        None => parent_sends::<Msg>(t, &s, &[("count", "1".into())]),
    };
    if t.is_broker() {
        // Above the server's max_payload (1 MiB by default).
        let plain = tx.endpoint().to_string();
        let plain = plain.split('?').next().unwrap_or_default();
        let tx = ipcx::Sender::<Msg>::open(plain).expect("open with defaults");
        assert_eq!(tx.max_message_len(), 1 << 20);
        match tx.send(Msg::new(8, 1 << 20)) {
            Err(ipcx::SendError::Failed(_, e)) => assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}"),
            other => panic!("a message over max_payload must be refused, got {other:?}"),
        }
    } else if t.is_udp() {
        // Above what one UDP datagram carries, with the default max_msg.
        let plain = tx.endpoint().to_string();
        let plain = plain.split('?').next().unwrap_or_default();
        let tx = ipcx::Sender::<Msg>::open(plain).expect("open with defaults");
        match tx.send(Msg::new(8, 70_000)) {
            Err(ipcx::SendError::Failed(_, e)) => assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}"),
            other => panic!("a 70 kB datagram must be refused, got {other:?}"),
        }
    }
    if t.name == "fifo" {
        // Without max_msg a FIFO writer keeps every frame one atomic write.
        let plain = tx.endpoint().to_string();
        let plain = plain.split('?').next().unwrap_or_default();
        let tx = ipcx::Sender::<Msg>::open(plain).expect("open with defaults");
        assert_eq!(tx.max_message_len(), 4092);
        match tx.send(Msg::new(9, 4092)) {
            Err(ipcx::SendError::Failed(_, e)) => {
                assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
                assert!(
                    e.to_string().contains("max_msg"),
                    "says how to lift it: {e}"
                );
            }
            other => panic!("a FIFO message over 4092 bytes must be refused, got {other:?}"),
        }
    }
    let big = if t.is_pipe() { 17 << 20 } else { 2000 };
    match tx.send(Msg::new(7, big)) {
        Err(ipcx::SendError::Failed(m, e)) => {
            assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
            assert_eq!(m.seq, 7, "the message is given back");
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    tx.send(Msg::new(0, 100))
        .expect("a small message after the refusal");
    assert_eq!(peer.expect("GOT"), "0 100");
    peer.finish();
}

fn mode_of(path: &str) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path)
        .expect("stat")
        .permissions()
        .mode()
        & 0o7777
}

/// Files are created 0600 (or as `mode=` says) and removed by their
/// creator; a planted symlink is refused; a live listener is not replaced,
/// a stale socket file is.
fn created_files(t: &Transport) {
    let s = Scratch::new(t.name);
    let Some(ep) = t.endpoint(&s) else { return };
    let Some(path) = t.created_file(&ep) else {
        return;
    };

    // Created by a receiver in another process: 0600 by default.
    let peer = Peer::spawn("recv", &ep, &[("hang", "1".into()), ("count", "0".into())]);
    peer.expect("READY");
    assert_eq!(mode_of(&path), 0o600, "{path} default mode");
    if ep.starts_with("unix") {
        let e = Receiver::<Msg>::open(&ep).expect_err("a live listener is not replaced");
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
    }
    drop(peer); // SIGKILL: the socket file stays behind, stale.

    if ep.starts_with("unix") {
        assert!(
            std::fs::symlink_metadata(&path).is_ok(),
            "the killed listener left its file"
        );
        let rx = Receiver::<Msg>::open(&ep).expect("a stale socket file is replaced");
        drop(rx);
    } else {
        let _ = std::fs::remove_file(&path);
    }
    assert!(
        std::fs::symlink_metadata(&path).is_err(),
        "the creator removes {path} when done"
    );

    let rx = Receiver::<Msg>::open(with_options(&ep, "?mode=0640")).expect("open with mode");
    assert_eq!(mode_of(&path), 0o640);
    drop(rx);

    let target = s.path("target");
    std::os::unix::fs::symlink(&target, &path).expect("plant a symlink");
    let e = Receiver::<Msg>::open(&ep).expect_err("a planted symlink is refused");
    assert!(
        matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::AddrInUse),
        "{e}"
    );
    assert!(
        std::fs::symlink_metadata(&target).is_err(),
        "nothing created through the symlink"
    );
}

/// Unix sockets: the sender sees who it is connected to (SO_PEERCRED); a
/// listener with `allow_uid=` refuses other users; a 0600 socket file keeps
/// other users out. Peers of another uid are real processes (needs root).
fn peer_credentials(t: &Transport) {
    if !t.name.starts_with("unix") || t.family == Family::Datagram || !running_as_root() {
        return;
    }
    const NOBODY: u32 = 65534;
    let s = Scratch::new(t.name);
    let ep = t.endpoint(&s).expect("named endpoint");

    let (tx, peer) = parent_sends::<Msg>(t, &s, &[("count", "1".into())]);
    let cred = tx.peer_cred().expect("peer credentials on a Unix socket");
    assert_eq!((cred.pid as u32, cred.uid), (peer.pid(), 0), "{cred:?}");
    tx.send(Msg::new(0, 1)).expect("send");
    peer.finish();

    // allow_uid: a listener any user may reach (abstract, or mode 0666) but
    // that accepts only root.
    let open_to_all = if ep.contains(":@") {
        with_options(&ep, "?allow_uid=0")
    } else {
        with_options(&ep, "?mode=0666&allow_uid=0")
    };
    let rx = Receiver::<Msg>::open(&open_to_all).expect("open listener");
    let _stranger = Peer::spawn_as(NOBODY, "try-open", &rx.endpoint().to_string());
    let e = recv_err(&rx, "stranger");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(
        e.to_string().contains("uid 65534"),
        "the error names the refused peer: {e}"
    );
    let friend = Peer::spawn("send", &rx.endpoint().to_string(), &[("count", "1".into())]);
    assert_eq!(
        recv_msg(&rx).seq,
        0,
        "an allowed peer is served after a refused one"
    );
    friend.finish();
    drop(rx);

    // The default 0600 socket file: another user cannot even connect. An
    // abstract socket has no file: by default it lets in its own uid alone.
    // (A name of its own: the one above may still be bound while the
    // stranger's connection is being torn down.)
    let ep = if ep.contains(":@") {
        format!("{ep}-default")
    } else {
        ep
    };
    let rx = Receiver::<Msg>::open(&ep).expect("open listener");
    let stranger = Peer::spawn_as(NOBODY, "try-open", &rx.endpoint().to_string());
    if ep.contains(":@") {
        let e = recv_err(&rx, "stranger on an abstract socket");
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(
            e.to_string().contains("allow_uid="),
            "says how to let it in: {e}"
        );
        let friend = Peer::spawn("send", &rx.endpoint().to_string(), &[("count", "1".into())]);
        assert_eq!(recv_msg(&rx).seq, 0, "the same uid gets through");
        friend.finish();
    } else {
        assert_eq!(stranger.line(), "OPEN ERR PermissionDenied");
    }
}

fn running_as_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Message queues: created 0600 (as `lsipc` sees a System V one), removed
/// by their creator when done, kept with `persist=true`; a depth above the
/// system limit is an error naming the limit and where it is set.
fn queue_lifecycle(t: &Transport) {
    if t.family != Family::Queue {
        return;
    }
    let s = Scratch::new(t.name);
    let ep = t.endpoint(&s).expect("named");
    let exists = || match t.name {
        "mq" => raw::mq_exists(&s.mq_name()),
        _ => sysv_perms(s.sysv_key()).is_some(),
    };

    let peer = Peer::spawn("recv", &ep, &[("hang", "1".into()), ("count", "0".into())]);
    peer.expect("READY");
    assert!(exists(), "the receiver created the queue");
    if t.name == "sysvmq" {
        assert_eq!(
            sysv_perms(s.sysv_key()).as_deref(),
            Some("rw-------"),
            "lsipc sees mode 0600"
        );
    }
    peer.finish();
    assert!(!exists(), "the creator removed the queue when done");

    let rx = Receiver::<Msg>::open(with_options(&ep, "?persist=true")).expect("open persistent");
    drop(rx);
    assert!(exists(), "persist=true keeps the queue");
    raw::remove_queues(&s.mq_name(), s.sysv_key());

    // A producer may come first: it creates the queue, and what it sent
    // waits there, whole, for a worker that comes later.
    let producer = Peer::spawn("send", &ep, &[("count", "3".into())]);
    producer.finish();
    assert!(exists(), "the sender's queue holds its messages");
    // A worker that takes one and leaves does not take the other two with
    // it: a queue that holds messages is never removed.
    let first = Receiver::<Msg>::open(&ep).expect("first worker");
    assert_eq!(recv_msg(&first).seq, 0);
    drop(first);
    assert!(exists(), "a queue holding messages stays");
    let second = Receiver::<Msg>::open(&ep).expect("second worker");
    assert_eq!(recv_msg(&second).seq, 1);
    assert_eq!(recv_msg(&second).seq, 2);
    drop(second);
    raw::remove_queues(&s.mq_name(), s.sysv_key());

    // Created by a receiver and emptied: removed when it is done.
    let rx = Receiver::<Msg>::open(&ep).expect("receiver creates");
    let sender = Peer::spawn("send", &ep, &[("count", "1".into())]);
    assert_eq!(recv_msg(&rx).seq, 0);
    sender.finish();
    expect_disconnected(&rx); // takes the sender's goodbye too
    drop(rx);
    assert!(!exists(), "an empty queue its receiver created is removed");

    if t.name == "mq" {
        let e =
            Receiver::<Msg>::open(with_options(&ep, "?maxmsg=100000")).expect_err("above msg_max");
        assert!(e.to_string().contains("/proc/sys/fs/mqueue/msg_max"), "{e}");
        // Both sides may create it, so they must agree on its size.
        let rx = Receiver::<Msg>::open(with_options(&ep, "?maxmsg=5")).expect("depth 5");
        let e = ipcx::Sender::<Msg>::open(with_options(&ep, "?maxmsg=7")).expect_err("mismatch");
        assert!(
            e.to_string().contains("maxmsg=5"),
            "names what the queue has: {e}"
        );
        drop(rx);
    }
}

/// The permissions `lsipc` shows for System V queue `key`, if it exists.
fn sysv_perms(key: u32) -> Option<String> {
    let out = std::process::Command::new("lsipc")
        .args(["-q", "--noheadings", "--raw", "-o", "KEY,PERMS"])
        .output()
        .expect("lsipc (util-linux) runs");
    let wanted = format!("{key:#010x}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&wanted).map(|rest| rest.trim().to_owned()))
}

/// `ep` with `options` (`?k=v&…`) added to any it already has.
pub(crate) fn with_options(ep: &str, options: &str) -> String {
    match options.strip_prefix('?') {
        Some(rest) if ep.contains('?') => format!("{ep}&{rest}"),
        _ => format!("{ep}{options}"),
    }
}
