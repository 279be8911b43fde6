//! Every transport the suite runs against, with what the contract lets
//! differ between them, and the two ways of pairing with a peer process.

use std::time::Duration;

use ipcx::{Receiver, Sender};

use crate::harness::{peer_command, Peer, Scratch, PATIENCE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Framed byte stream: pipe, FIFO, Unix stream, TCP.
    Stream,
    /// SOCK_SEQPACKET.
    Packet,
    /// SOCK_DGRAM: Unix datagram and UDP.
    Datagram,
    /// Message queues, POSIX and System V: datagram header, no connection.
    Queue,
    /// The shared-memory ring: one sender at a time, boundaries kept.
    Ring,
}

#[derive(Debug)]
pub struct Transport {
    pub name: &'static str,
    pub family: Family,
    /// Endpoint for a scratch area; `None` for the anonymous pipe.
    template: Option<fn(&Scratch) -> String>,
}

pub const ALL: &[Transport] = &[
    Transport {
        name: "pipe",
        family: Family::Stream,
        template: None,
    },
    // A FIFO writer sends at most 4092 bytes (one atomic write) unless
    // max_msg says more; then each frame is written under flock.
    Transport {
        name: "fifo",
        family: Family::Stream,
        template: Some(|s| format!("fifo:{}", s.path("f"))),
    },
    Transport {
        name: "fifo-locked",
        family: Family::Stream,
        template: Some(|s| format!("fifo:{}?max_msg=2MiB", s.path("f"))),
    },
    Transport {
        name: "unix",
        family: Family::Stream,
        template: Some(|s| format!("unix:{}", s.path("s"))),
    },
    Transport {
        name: "unix-abstract",
        family: Family::Stream,
        template: Some(|s| format!("unix:@{}", s.name)),
    },
    Transport {
        name: "unix+seqpacket",
        family: Family::Packet,
        template: Some(|s| format!("unix+seqpacket:{}", s.path("q"))),
    },
    Transport {
        name: "unix+dgram",
        family: Family::Datagram,
        template: Some(|s| format!("unix+dgram:{}", s.path("d"))),
    },
    Transport {
        name: "tcp",
        family: Family::Stream,
        template: Some(|_| "tcp:127.0.0.1:0".into()),
    },
    Transport {
        name: "tcp6",
        family: Family::Stream,
        template: Some(|_| "tcp:[::1]:0".into()),
    },
    Transport {
        name: "udp",
        family: Family::Datagram,
        template: Some(|_| "udp:127.0.0.1:0".into()),
    },
    Transport {
        name: "mq",
        family: Family::Queue,
        template: Some(|s| format!("mq:{}", s.mq_name())),
    },
    Transport {
        name: "sysvmq",
        family: Family::Queue,
        template: Some(|s| format!("sysvmq:{:#x}", s.sysv_key())),
    },
    // The same contract whatever the waiting (`wait=`: poll first by
    // default, never, or only).
    Transport {
        name: "unix+seqpacket-block",
        family: Family::Packet,
        template: Some(|s| format!("unix+seqpacket:{}?wait=block", s.path("q"))),
    },
    Transport {
        name: "unix+dgram-block",
        family: Family::Datagram,
        template: Some(|s| format!("unix+dgram:{}?wait=block", s.path("d"))),
    },
    Transport {
        name: "tcp-spin",
        family: Family::Stream,
        template: Some(|_| "tcp:127.0.0.1:0?wait=spin".into()),
    },
    Transport {
        name: "shm",
        family: Family::Ring,
        template: Some(|s| format!("shm:{}?capacity=4MiB", s.mq_name())),
    },
    Transport {
        name: "shm-block",
        family: Family::Ring,
        template: Some(|s| format!("shm:{}?capacity=4MiB&wait=block", s.mq_name())),
    },
];

/// Remote transports, when the `nats` feature is on: a core NATS subject
/// on one nats-server that this test binary starts (and that dies with it).
#[cfg(feature = "nats")]
const NATS: &[Transport] = &[Transport {
    name: "nats",
    family: Family::Datagram,
    template: Some(|s| {
        let server = ipcx_testkit::nats::shared();
        format!(
            "nats://127.0.0.1:{}/ipcx.conformance.{}",
            server.port, s.name
        )
    }),
}];
#[cfg(not(feature = "nats"))]
const NATS: &[Transport] = &[];

/// WebSocket, when the `websocket` feature is on: a listening receiver,
/// connecting senders (each a connection, as on `tcp:`).
#[cfg(feature = "websocket")]
const WEBSOCKET: &[Transport] = &[Transport {
    name: "ws",
    family: Family::Datagram,
    template: Some(|_| "ws://127.0.0.1:0/conformance".into()),
}];
#[cfg(not(feature = "websocket"))]
const WEBSOCKET: &[Transport] = &[];

/// The remote transports this build has.
pub fn remote() -> impl Iterator<Item = &'static Transport> {
    NATS.iter().chain(WEBSOCKET)
}

impl Transport {
    pub fn is_pipe(&self) -> bool {
        self.template.is_none()
    }

    pub fn endpoint(&self, s: &Scratch) -> Option<String> {
        self.template.map(|t| t(s))
    }

    /// Messages may be lost when the receiver falls behind: UDP, and core
    /// NATS (which drops for a slow consumer, and ipcx counts it).
    pub fn is_udp(&self) -> bool {
        self.name == "udp" || self.name == "nats"
    }

    /// Largest payload a test message may carry here.
    pub fn max_payload(&self) -> usize {
        match self.family {
            _ if self.is_udp() => 60_000,
            // PIPE_BUF less the frame header and the message's encoding.
            _ if self.name == "fifo" => 4080,
            Family::Stream | Family::Ring => 1 << 20,
            Family::Packet | Family::Datagram => 150_000,
            // msgsize_max/msgmax are 8192 here; less the headers.
            Family::Queue => 8000,
        }
    }

    /// Messages carry a per-message header instead of riding a connection.
    pub fn connectionless(&self) -> bool {
        matches!(self.family, Family::Datagram | Family::Queue)
    }

    /// Several processes can send to one receiver (a ring has one
    /// producer at a time).
    pub fn many_senders(&self) -> bool {
        !self.is_pipe() && self.family != Family::Ring
    }

    /// Each sender has its own link, so a bad one can be cut off alone
    /// (a FIFO is one byte stream shared by all its writers).
    pub fn isolates_senders(&self) -> bool {
        self.many_senders() && !self.name.starts_with("fifo")
    }

    /// A sender killed with SIGKILL is noticed (datagrams and queues have no connection).
    pub fn notices_sender_death(&self) -> bool {
        !self.connectionless() || self.name == "ws"
    }

    /// `send` blocks when the receiver does not keep up (UDP drops instead).
    pub fn blocks_when_full(&self) -> bool {
        !self.is_udp()
    }

    /// A remote transport (`nats://`, `ws://`): a raw peer would need a
    /// NATS or WebSocket client (tests/nats and the CLI's tests have those).
    pub fn is_remote(&self) -> bool {
        self.name == "nats" || self.name == "ws"
    }

    /// A broker between the ends (`nats://`): a sender does not learn when
    /// its receivers go (it publishes to whoever subscribes, as `nats pub`
    /// does) and opens without waiting for one.
    pub fn is_broker(&self) -> bool {
        self.name == "nats"
    }

    /// The receiver's type is checked when a sender opens (a ring's record
    /// of its receivers, a WebSocket hello), not per message.
    pub fn refuses_at_open(&self) -> bool {
        self.family == Family::Ring || self.name == "ws"
    }

    /// The path of the file the receiving end creates.
    pub fn created_file(&self, ep: &str) -> Option<String> {
        let (scheme, rest) = ep.split_once(':')?;
        (matches!(scheme, "fifo" | "unix" | "unix+seqpacket" | "unix+dgram")
            && rest.starts_with('/'))
        .then(|| rest.split('?').next().unwrap_or(rest).to_owned())
    }
}

/// This process receives; a peer process in `role` sends.
pub fn parent_receives<T: ipcx::Message>(
    t: &Transport,
    s: &Scratch,
    role: &str,
    params: &[(&str, String)],
) -> (Receiver<T>, Peer) {
    match t.endpoint(s) {
        Some(ep) => {
            let rx = Receiver::<T>::open(&ep).expect("open receiver");
            let peer = Peer::spawn(role, &rx.endpoint().to_string(), params);
            (rx, peer)
        }
        None => {
            let (rx, end) = ipcx::pipe::from_child::<T>().expect("pipe");
            let child = end
                .spawn(peer_command(role, "", params), crate::harness::EP_ENV)
                .expect("spawn");
            (rx, Peer::from_child(child))
        }
    }
}

/// A peer process receives (role `recv`); this process sends.
pub fn parent_sends<T: ipcx::Message>(
    t: &Transport,
    s: &Scratch,
    params: &[(&str, String)],
) -> (Sender<T>, Peer) {
    match t.endpoint(s) {
        Some(ep) => {
            let peer = Peer::spawn("recv", &ep, params);
            let bound = peer.expect("READY");
            let tx = Sender::<T>::open_timeout(&bound, PATIENCE).expect("open sender");
            (tx, peer)
        }
        None => {
            let (tx, end) = ipcx::pipe::to_child::<T>().expect("pipe");
            let child = end
                .spawn(peer_command("recv", "", params), crate::harness::EP_ENV)
                .expect("spawn");
            let peer = Peer::from_child(child);
            peer.expect("READY");
            (tx, peer)
        }
    }
}

pub const SHORT: Duration = Duration::from_millis(100);
