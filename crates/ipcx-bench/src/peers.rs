//! One interface over the rings measured: ipcx's `shm:` channel, its ring
//! protocol alone, the hand-written ring, and iceoryx2 (with `--features iceoryx2`).

use std::time::Duration;

use ipcx::{Bytes, Receiver, ReceiverGuard, Sender, SenderGuard};

use crate::{bare_ring, handwritten};

/// Which implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Handwritten,
    /// ipcx's ring protocol without the channel (`bare_ring`).
    Bare,
    /// ipcx through `Sender::lock` / `Receiver::lock` guards.
    Ipcx,
    /// ipcx through `&self` calls (a lock per message; shareable ends).
    IpcxShared,
    /// As `Ipcx`, with the statistics area off (`ipcx::stats::set_enabled`).
    IpcxNoStats,
    /// iceoryx2 set up to lose nothing (the publisher waits), as the rings.
    Iceoryx2,
    /// iceoryx2 as its own latency benchmark sets it up (a buffer of one,
    /// overflow on): ping-pongs only.
    Iceoryx2Own,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Handwritten => "hand-written",
            Kind::Bare => "ipcx-ring bare",
            Kind::Ipcx => "ipcx",
            Kind::IpcxShared => "ipcx &self",
            Kind::IpcxNoStats => "ipcx no stats",
            Kind::Iceoryx2 => "iceoryx2",
            Kind::Iceoryx2Own => "iceoryx2 own",
        }
    }

    pub fn is_iceoryx2(self) -> bool {
        matches!(self, Kind::Iceoryx2 | Kind::Iceoryx2Own)
    }

    /// Whether it may stream (loses nothing when its receiver is behind).
    pub fn lossless(self) -> bool {
        self != Kind::Iceoryx2Own
    }

    pub fn parse(s: &str) -> Kind {
        match s {
            "hand-written" => Kind::Handwritten,
            "ipcx-ring" | "ipcx-ring bare" | "ipcx-ring-bare" => Kind::Bare,
            "ipcx" => Kind::Ipcx,
            "ipcx-shared" | "ipcx &self" => Kind::IpcxShared,
            "ipcx-no-stats" | "ipcx no stats" => Kind::IpcxNoStats,
            "iceoryx2" => Kind::Iceoryx2,
            "iceoryx2-own" | "iceoryx2 own" => Kind::Iceoryx2Own,
            other => panic!("unknown implementation {other}"),
        }
    }
}

/// The sending end of one direction.
pub enum Tx {
    Handwritten(handwritten::Ring),
    Bare(bare_ring::Tx),
    /// Held by this thread for the whole run (`Sender::lock`), as a
    /// single-threaded producer would; the end is leaked with it.
    Ipcx(SenderGuard<'static, Bytes>),
    IpcxShared(&'static Sender<Bytes>),
    #[cfg(feature = "iceoryx2")]
    Iceoryx2(crate::iceoryx::Pub),
}

/// The receiving end of one direction.
pub enum Rx {
    Handwritten(handwritten::Ring),
    Bare(bare_ring::Rx),
    Ipcx(ReceiverGuard<'static, Bytes>),
    IpcxShared(&'static Receiver<Bytes>),
    #[cfg(feature = "iceoryx2")]
    Iceoryx2(crate::iceoryx::Sub),
}

/// Ring bytes for messages of `size`: room for a few hundred small ones,
/// or eight large ones.
pub fn capacity_for(size: usize) -> usize {
    (size * 8).max(1 << 16).next_power_of_two()
}

fn ipcx_endpoint(name: &str, size: usize) -> String {
    format!("shm:/{name}?capacity={}&wait=spin", capacity_for(size))
}

/// Creates the receiving end (the side that creates the memory).
pub fn receiver(kind: Kind, name: &str, size: usize) -> Rx {
    match kind {
        Kind::Handwritten => {
            Rx::Handwritten(handwritten::Ring::open(name, capacity_for(size), true))
        }
        Kind::Bare => Rx::Bare(bare_ring::Rx::create(name, capacity_for(size))),
        Kind::Ipcx | Kind::IpcxNoStats => {
            ipcx::stats::set_enabled(kind == Kind::Ipcx);
            let rx: Receiver<Bytes> =
                Receiver::open(ipcx_endpoint(name, size)).expect("ipcx receiver");
            Rx::Ipcx(Box::leak(Box::new(rx)).lock())
        }
        Kind::IpcxShared => {
            let rx: Receiver<Bytes> =
                Receiver::open(ipcx_endpoint(name, size)).expect("ipcx receiver");
            Rx::IpcxShared(Box::leak(Box::new(rx)))
        }
        #[cfg(feature = "iceoryx2")]
        Kind::Iceoryx2 | Kind::Iceoryx2Own => {
            Rx::Iceoryx2(crate::iceoryx::Sub::open(name, size, iceoryx_setting(kind)))
        }
        #[cfg(not(feature = "iceoryx2"))]
        Kind::Iceoryx2 | Kind::Iceoryx2Own => unreachable!("built without iceoryx2"),
    }
}

/// Opens the sending end once the receiver exists.
pub fn sender(kind: Kind, name: &str, size: usize) -> Tx {
    match kind {
        Kind::Handwritten => {
            Tx::Handwritten(handwritten::Ring::open(name, capacity_for(size), false))
        }
        Kind::Bare => Tx::Bare(bare_ring::Tx::open(name, capacity_for(size))),
        Kind::Ipcx | Kind::IpcxNoStats => {
            ipcx::stats::set_enabled(kind == Kind::Ipcx);
            let tx: Sender<Bytes> =
                Sender::open_timeout(ipcx_endpoint(name, size), Duration::from_secs(10))
                    .expect("ipcx sender");
            Tx::Ipcx(Box::leak(Box::new(tx)).lock())
        }
        Kind::IpcxShared => {
            let tx: Sender<Bytes> =
                Sender::open_timeout(ipcx_endpoint(name, size), Duration::from_secs(10))
                    .expect("ipcx sender");
            Tx::IpcxShared(Box::leak(Box::new(tx)))
        }
        #[cfg(feature = "iceoryx2")]
        Kind::Iceoryx2 | Kind::Iceoryx2Own => {
            Tx::Iceoryx2(crate::iceoryx::Pub::open(name, size, iceoryx_setting(kind)))
        }
        #[cfg(not(feature = "iceoryx2"))]
        Kind::Iceoryx2 | Kind::Iceoryx2Own => unreachable!("built without iceoryx2"),
    }
}

#[cfg(feature = "iceoryx2")]
fn iceoryx_setting(kind: Kind) -> crate::iceoryx::Setting {
    if kind == Kind::Iceoryx2Own {
        crate::iceoryx::Setting::OwnBenchmark
    } else {
        crate::iceoryx::Setting::Lossless
    }
}

impl Tx {
    /// Copies `msg` in.
    pub fn send(&mut self, msg: &[u8]) {
        match self {
            Tx::Handwritten(r) => r.send(msg),
            Tx::Bare(r) => r.send(msg),
            Tx::Ipcx(s) => s.send_bytes(msg).expect("send"),
            Tx::IpcxShared(s) => s.send_bytes(msg).expect("send"),
            #[cfg(feature = "iceoryx2")]
            Tx::Iceoryx2(p) => p.send(msg),
        }
    }

    /// Writes `len` bytes of `byte` in place (a loan) and sends them.
    pub fn send_loan(&mut self, len: usize, byte: u8) {
        match self {
            Tx::Handwritten(r) => r.send(&vec![byte; len]),
            Tx::Bare(r) => r.send(&vec![byte; len]),
            Tx::Ipcx(s) => {
                s.send_with(len, |buf| {
                    buf.fill(byte);
                    len
                })
                .expect("send");
            }
            Tx::IpcxShared(s) => {
                s.send_with(len, |buf| {
                    buf.fill(byte);
                    len
                })
                .expect("send");
            }
            #[cfg(feature = "iceoryx2")]
            Tx::Iceoryx2(p) => p.send_loan(len, byte),
        }
    }
}

impl Rx {
    /// Lends the next message to `f`, spinning until there is one.
    pub fn recv(&mut self, f: &mut dyn FnMut(&[u8])) {
        match self {
            Rx::Handwritten(r) => r.recv(f),
            Rx::Bare(r) => r.recv(f),
            Rx::Ipcx(r) => r.recv_bytes_with(None, f).expect("recv"),
            Rx::IpcxShared(r) => r.recv_bytes_with(None, f).expect("recv"),
            #[cfg(feature = "iceoryx2")]
            Rx::Iceoryx2(s) => s.recv(f),
        }
    }
}
