//! The schemes, in one table: each row says what the rest of the crate
//! needs to know about a mechanism besides how to open it (its name, the
//! options it takes, whether it keeps message boundaries, whether it has
//! connections, whether a receiver may serve senders that come and go).
//! Adding a mechanism is a variant, a row, an address parser
//! (`parse.rs`) and a transport module (see ARCHITECTURE.md).

/// The mechanism an endpoint names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `pipe:`
    Pipe,
    /// `fifo:`
    Fifo,
    /// `unix:`
    Unix,
    /// `unix+seqpacket:`
    UnixSeqPacket,
    /// `unix+dgram:`
    UnixDgram,
    /// `tcp:`
    Tcp,
    /// `udp:`
    Udp,
    /// `mq:`
    Mq,
    /// `sysvmq:`
    SysvMq,
    /// `shm:`
    Shm,
    /// `nats://` (with the `nats` cargo feature)
    Nats,
    /// `ws://` (with the `websocket` cargo feature)
    Ws,
    /// `wss://`: WebSocket over TLS (with the `websocket` cargo feature)
    Wss,
}

/// What one scheme is, for the code that does not open it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemeInfo {
    /// The scheme.
    pub scheme: Scheme,
    /// As written before the colon.
    pub name: &'static str,
    /// The option keys it accepts.
    pub options: &'static [&'static str],
    /// The mechanism keeps message boundaries itself (ipcx adds no length
    /// prefix to its messages).
    pub keeps_boundaries: bool,
    /// Senders connect to the receiver (and are told when it goes).
    pub connected: bool,
}

/// Every scheme, in the order errors list them; row `i` is for the
/// variant whose discriminant is `i` (checked by a test).
pub const TABLE: [SchemeInfo; 13] = [
    SchemeInfo {
        scheme: Scheme::Pipe,
        name: "pipe",
        options: &["max_msg", "wait"],
        keeps_boundaries: false,
        connected: true,
    },
    SchemeInfo {
        scheme: Scheme::Fifo,
        name: "fifo",
        options: &["mode", "max_msg", "wait", "serve"],
        keeps_boundaries: false,
        connected: true,
    },
    SchemeInfo {
        scheme: Scheme::Unix,
        name: "unix",
        options: &["mode", "max_msg", "allow_uid", "wait", "serve"],
        keeps_boundaries: false,
        connected: true,
    },
    SchemeInfo {
        scheme: Scheme::UnixSeqPacket,
        name: "unix+seqpacket",
        options: &["mode", "max_msg", "allow_uid", "wait", "serve"],
        keeps_boundaries: true,
        connected: true,
    },
    SchemeInfo {
        scheme: Scheme::UnixDgram,
        name: "unix+dgram",
        options: &["mode", "max_msg", "wait", "serve"],
        keeps_boundaries: true,
        connected: false,
    },
    SchemeInfo {
        scheme: Scheme::Tcp,
        name: "tcp",
        options: &["max_msg", "wait", "serve"],
        keeps_boundaries: false,
        connected: true,
    },
    SchemeInfo {
        scheme: Scheme::Udp,
        name: "udp",
        options: &["max_msg", "wait", "serve"],
        keeps_boundaries: true,
        connected: false,
    },
    SchemeInfo {
        scheme: Scheme::Mq,
        name: "mq",
        options: &[
            "mode", "max_msg", "maxmsg", "msgsize", "priority", "persist", "wait", "serve",
        ],
        keeps_boundaries: true,
        connected: false,
    },
    SchemeInfo {
        scheme: Scheme::SysvMq,
        name: "sysvmq",
        options: &["mode", "max_msg", "type", "proj", "persist", "serve"],
        keeps_boundaries: true,
        connected: false,
    },
    SchemeInfo {
        scheme: Scheme::Shm,
        name: "shm",
        options: &[
            "mode", "max_msg", "capacity", "readers", "overflow", "wait", "persist",
        ],
        keeps_boundaries: true,
        connected: true,
    },
    SchemeInfo {
        scheme: Scheme::Nats,
        name: "nats",
        options: &[
            "max_msg",
            "wait",
            "serve",
            "capacity",
            "queue",
            "tls",
            "ca",
            "cert",
            "key",
            "creds",
            "nkey",
            "token_file",
            "user",
            "password_file",
            "jetstream",
            "stream",
            "durable",
            "ack_wait",
        ],
        keeps_boundaries: true,
        connected: false,
    },
    SchemeInfo {
        scheme: Scheme::Ws,
        name: "ws",
        options: &["max_msg", "wait", "serve", "capacity", "listen"],
        keeps_boundaries: true,
        connected: true,
    },
    SchemeInfo {
        scheme: Scheme::Wss,
        name: "wss",
        options: &[
            "max_msg", "wait", "serve", "capacity", "listen", "ca", "cert", "key",
        ],
        keeps_boundaries: true,
        connected: true,
    },
];

impl Scheme {
    /// Every scheme this build knows, in the order errors list them.
    pub const ALL: [Scheme; TABLE.len()] = {
        let mut all = [Scheme::Pipe; TABLE.len()];
        let mut i = 0;
        while i < TABLE.len() {
            all[i] = TABLE[i].scheme;
            i += 1;
        }
        all
    };

    /// Its row of the table.
    pub fn info(self) -> &'static SchemeInfo {
        &TABLE[self as usize]
    }

    /// The scheme named `name` (as written before the colon).
    pub fn named(name: &str) -> Option<Scheme> {
        TABLE
            .iter()
            .find(|row| row.name == name)
            .map(|row| row.scheme)
    }

    /// The scheme as written before the colon.
    pub fn name(self) -> &'static str {
        self.info().name
    }

    /// The option keys this scheme accepts.
    pub fn options(self) -> &'static [&'static str] {
        self.info().options
    }

    /// True for mechanisms that keep message boundaries themselves
    /// (ipcx adds no length prefix to their messages).
    pub fn keeps_boundaries(self) -> bool {
        self.info().keeps_boundaries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_row_is_at_its_variants_place_and_names_are_unique() {
        for (i, row) in TABLE.iter().enumerate() {
            assert_eq!(row.scheme as usize, i, "{} is out of place", row.name);
            assert_eq!(Scheme::named(row.name), Some(row.scheme));
            assert!(row.options.contains(&"max_msg"), "{}", row.name);
        }
        let mut names: Vec<_> = TABLE.iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), TABLE.len());
    }
}
