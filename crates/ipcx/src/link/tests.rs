//! Property tests of the stream frame codec over real pipes: whatever the
//! messages and however the bytes are split, what was sent is what is
//! received; and arbitrary bytes from a peer never panic the reader or
//! make it hand out more than max_msg.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use proptest::prelude::*;

use super::stream::{StreamReader, StreamWriter};
use crate::codec::Identity;
use crate::error::Fail;
use crate::sys::{Deadline, FdKind};
use crate::wire::hello::Hello;

fn pipe() -> (OwnedFd, OwnedFd) {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe")
}

fn receiver_hello(max_msg: u32) -> Hello {
    Hello {
        sends: None,
        receives: Some(Identity::bytes()),
        max_msg,
    }
}

fn label() -> Arc<str> {
    "pipe:test".into()
}

/// Reads every message until the end; errors are returned as `Err`.
fn read_all(mut reader: StreamReader) -> Vec<Result<Vec<u8>, String>> {
    let mut out = Vec::new();
    loop {
        match reader.recv(Deadline::NEVER) {
            Ok(m) => out.push(Ok(m.to_vec())),
            Err(Fail::Disconnected) => return out,
            Err(Fail::Error(e)) => {
                out.push(Err(e.to_string()));
                if reader.is_closed() {
                    return out;
                }
            }
            Err(Fail::NotReady | Fail::Stopped) => unreachable!("no deadline, no stop"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn frames_round_trip(messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..9000), 0..24)) {
        let (r, w) = pipe();
        let sent = messages.clone();
        let writer = std::thread::spawn(move || {
            let mut w = StreamWriter::new(Arc::new(w), FdKind::Pipe, 1 << 20, label());
            let hello = Hello { sends: Some(Identity::bytes()), receives: None, max_msg: 0 };
            w.send_hello(&hello, Deadline::NEVER).expect("hello");
            for m in &sent {
                w.send(m, Deadline::NEVER).expect("send");
            }
        });
        let got = read_all(StreamReader::new(Arc::new(r), FdKind::Pipe, receiver_hello(1 << 20), label()));
        writer.join().expect("writer");
        let want: Vec<Result<Vec<u8>, String>> = messages.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn split_anywhere_same_messages(messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..10), cuts in proptest::collection::vec(1usize..64, 1..50)) {
        // The exact bytes a writer produces, delivered in arbitrary pieces.
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&crate::wire::HELLO_MARKER.to_le_bytes());
        Hello { sends: Some(Identity::bytes()), receives: None, max_msg: 0 }.encode(&mut bytes);
        for m in &messages {
            bytes.extend_from_slice(&(m.len() as u32).to_le_bytes());
            bytes.extend_from_slice(m);
        }
        let (r, w) = pipe();
        let writer = std::thread::spawn(move || {
            let mut f = std::fs::File::from(w);
            let mut rest = &bytes[..];
            for c in cuts.iter().cycle() {
                if rest.is_empty() { break; }
                let n = (*c).min(rest.len());
                f.write_all(&rest[..n]).expect("write");
                rest = &rest[n..];
            }
        });
        let got = read_all(StreamReader::new(Arc::new(r), FdKind::Pipe, receiver_hello(4096), label()));
        writer.join().expect("writer");
        let want: Vec<Result<Vec<u8>, String>> = messages.into_iter().map(Ok).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn arbitrary_bytes_never_panic(garbage in proptest::collection::vec(any::<u8>(), 0..3000), with_hello in any::<bool>()) {
        let mut bytes = Vec::new();
        if with_hello {
            bytes.extend_from_slice(&crate::wire::HELLO_MARKER.to_le_bytes());
            Hello { sends: Some(Identity::bytes()), receives: None, max_msg: 0 }.encode(&mut bytes);
        }
        bytes.extend_from_slice(&garbage);
        let (r, w) = pipe();
        let writer = std::thread::spawn(move || {
            let _ = std::fs::File::from(w).write_all(&bytes);
        });
        let got = read_all(StreamReader::new(Arc::new(r), FdKind::Pipe, receiver_hello(512), label()));
        writer.join().expect("writer");
        for m in got.iter().flatten() {
            prop_assert!(m.len() <= 512);
        }
    }

    #[test]
    fn hello_decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Hello::decode(&bytes);
        let _ = crate::wire::datagram::Header::decode(&bytes);
    }
}
