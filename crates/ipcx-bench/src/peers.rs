//! One interface over the three rings measured: ipcx's `shm:` channel, the
//! hand-written ring, and iceoryx2 (with `--features iceoryx2`).

use std::time::Duration;

use ipcx::{Bytes, Receiver, Sender};

use crate::handwritten;

/// Which implementation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Handwritten,
    Ipcx,
    Iceoryx2,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Handwritten => "hand-written",
            Kind::Ipcx => "ipcx",
            Kind::Iceoryx2 => "iceoryx2",
        }
    }

    pub fn parse(s: &str) -> Kind {
        match s {
            "hand-written" => Kind::Handwritten,
            "ipcx" => Kind::Ipcx,
            "iceoryx2" => Kind::Iceoryx2,
            other => panic!("unknown implementation {other}"),
        }
    }
}

/// The sending end of one direction.
pub enum Tx {
    Handwritten(handwritten::Ring),
    Ipcx(Sender<Bytes>),
    #[cfg(feature = "iceoryx2")]
    Iceoryx2(crate::iceoryx::Pub),
}

/// The receiving end of one direction.
pub enum Rx {
    Handwritten(handwritten::Ring),
    Ipcx(Receiver<Bytes>),
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
        Kind::Ipcx => Rx::Ipcx(Receiver::open(ipcx_endpoint(name, size)).expect("ipcx receiver")),
        #[cfg(feature = "iceoryx2")]
        Kind::Iceoryx2 => Rx::Iceoryx2(crate::iceoryx::Sub::open(name, size)),
        #[cfg(not(feature = "iceoryx2"))]
        Kind::Iceoryx2 => unreachable!("built without iceoryx2"),
    }
}

/// Opens the sending end once the receiver exists.
pub fn sender(kind: Kind, name: &str, size: usize) -> Tx {
    match kind {
        Kind::Handwritten => {
            Tx::Handwritten(handwritten::Ring::open(name, capacity_for(size), false))
        }
        Kind::Ipcx => Tx::Ipcx(
            Sender::open_timeout(ipcx_endpoint(name, size), Duration::from_secs(10))
                .expect("ipcx sender"),
        ),
        #[cfg(feature = "iceoryx2")]
        Kind::Iceoryx2 => Tx::Iceoryx2(crate::iceoryx::Pub::open(name, size)),
        #[cfg(not(feature = "iceoryx2"))]
        Kind::Iceoryx2 => unreachable!("built without iceoryx2"),
    }
}

impl Tx {
    /// Copies `msg` in.
    pub fn send(&mut self, msg: &[u8]) {
        match self {
            Tx::Handwritten(r) => r.send(msg),
            Tx::Ipcx(s) => s.send_bytes(msg).expect("send"),
            #[cfg(feature = "iceoryx2")]
            Tx::Iceoryx2(p) => p.send(msg),
        }
    }

    /// Writes `len` bytes of `byte` in place (a loan) and sends them.
    pub fn send_loan(&mut self, len: usize, byte: u8) {
        match self {
            Tx::Handwritten(r) => r.send(&vec![byte; len]),
            Tx::Ipcx(s) => {
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
            Rx::Ipcx(r) => r.recv_bytes_with(None, f).expect("recv"),
            #[cfg(feature = "iceoryx2")]
            Rx::Iceoryx2(s) => s.recv(f),
        }
    }
}
