//! The transport conformance suite: every case in `cases.rs` against every
//! transport in `transports.rs`, each with its peer in a separate process
//! (this binary, re-run with `IPCX_PEER=<role>`).
//!
//! Run one: `cargo test -p ipcx --test conformance -- unix+dgram::bad_input`.

mod cases;
mod foreign;
mod peer;
mod select;
mod stopping;
#[cfg(feature = "tokio")]
mod tokio_cases;
mod transports;

use ipcx_testkit::{harness, raw};

use libtest_mimic::{Arguments, Trial};
use serde::{Deserialize, Serialize};

/// The message every case sends: a sequence number and a payload whose
/// bytes are derived from it, so corruption and reordering both show.
#[derive(Debug, Serialize, Deserialize)]
pub struct Msg {
    pub seq: u64,
    pub payload: Vec<u8>,
}

impl Msg {
    pub fn new(seq: u64, len: usize) -> Msg {
        Msg {
            seq,
            payload: (0..len).map(|i| Self::byte(seq, i)).collect(),
        }
    }

    fn byte(seq: u64, i: usize) -> u8 {
        (seq.wrapping_mul(31) as usize).wrapping_add(i) as u8
    }

    pub fn is_intact(&self) -> bool {
        self.payload
            .iter()
            .enumerate()
            .all(|(i, b)| *b == Self::byte(self.seq, i))
    }
}

/// The cases through the async ends, when the `tokio` feature is on.
fn async_cases() -> &'static [(&'static str, cases::Case)] {
    #[cfg(feature = "tokio")]
    return tokio_cases::ALL;
    #[cfg(not(feature = "tokio"))]
    return &[];
}

fn main() {
    if let Ok(role) = std::env::var(harness::PEER_ENV) {
        peer::run(&role);
    }
    let args = Arguments::from_args();
    let mut trials: Vec<Trial> = transports::ALL
        .iter()
        .chain(transports::remote())
        .flat_map(|t| {
            cases::ALL
                .iter()
                .chain(stopping::ALL)
                .chain(foreign::ALL)
                .chain(async_cases())
                .map(move |(name, case)| {
                    Trial::test(format!("{}::{name}", t.name), move || {
                        case(t);
                        Ok(())
                    })
                })
        })
        .collect();
    trials.extend(select::trials());
    libtest_mimic::run(&args, trials).exit();
}
