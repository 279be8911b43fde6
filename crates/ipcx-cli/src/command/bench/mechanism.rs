//! The mechanisms `ipcx bench` measures, their ipcx endpoints, and what the
//! kernel limits.

/// One mechanism as measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mechanism {
    Pipe,
    Fifo,
    Unix,
    SeqPacket,
    Dgram,
    Tcp,
    Udp,
    Mq,
    SysvMq,
    Shm,
    ShmSpin,
    ShmBlock,
    /// The ring with the payload written and read where it lies.
    ShmLoan,
    /// A real-time signal with a 4-byte value.
    Signal,
}

impl Mechanism {
    pub(crate) const ALL: [Mechanism; 14] = [
        Mechanism::Pipe,
        Mechanism::Fifo,
        Mechanism::Unix,
        Mechanism::SeqPacket,
        Mechanism::Dgram,
        Mechanism::Tcp,
        Mechanism::Udp,
        Mechanism::Mq,
        Mechanism::SysvMq,
        Mechanism::Shm,
        Mechanism::ShmSpin,
        Mechanism::ShmBlock,
        Mechanism::ShmLoan,
        Mechanism::Signal,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Mechanism::Pipe => "pipe",
            Mechanism::Fifo => "fifo",
            Mechanism::Unix => "unix",
            Mechanism::SeqPacket => "unix+seqpacket",
            Mechanism::Dgram => "unix+dgram",
            Mechanism::Tcp => "tcp",
            Mechanism::Udp => "udp",
            Mechanism::Mq => "mq",
            Mechanism::SysvMq => "sysvmq",
            Mechanism::Shm => "shm",
            Mechanism::ShmSpin => "shm+spin",
            Mechanism::ShmBlock => "shm+block",
            Mechanism::ShmLoan => "shm+loan",
            Mechanism::Signal => "signal",
        }
    }

    /// The one payload size the mechanism carries, if it has only one.
    pub(crate) fn fixed_size(self) -> Option<usize> {
        (self == Mechanism::Signal).then_some(super::signal::PAYLOAD)
    }

    /// One of the shared-memory rings.
    pub(crate) fn is_shm(self) -> bool {
        matches!(
            self,
            Mechanism::Shm | Mechanism::ShmSpin | Mechanism::ShmBlock | Mechanism::ShmLoan
        )
    }

    pub(crate) fn parse(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name() == name)
    }

    /// A raw-syscall baseline exists (the kernel mechanisms; a ring in
    /// shared memory has no kernel path to compare with).
    pub(crate) fn has_raw(self) -> bool {
        !self.is_shm()
    }

    /// Measured at both waiting policies (ipcx's default against a raw
    /// loop that polls the same way, `wait=block` against raw blocking
    /// calls): every kernel transport but signals and System V queues,
    /// which have no `wait=` (ipcx sleeps in the blocking call at once on
    /// both, as the raw loop does).
    pub(crate) fn has_policies(self) -> bool {
        self.has_raw() && !matches!(self, Mechanism::Signal | Mechanism::SysvMq)
    }

    /// ipcx calls (`ipcx::rpc`) run on it: the two-way transports.
    pub(crate) fn has_calls(self) -> bool {
        matches!(
            self,
            Mechanism::Unix
                | Mechanism::SeqPacket
                | Mechanism::Tcp
                | Mechanism::Shm
                | Mechanism::ShmSpin
                | Mechanism::ShmBlock
        )
    }

    /// The largest message the mechanism carries in one piece, and why.
    pub(crate) fn limit(self) -> Option<(usize, &'static str)> {
        match self {
            Mechanism::Udp => Some((65_000, "a UDP datagram is at most 65,507 bytes")),
            Mechanism::Mq => Some((8_000, "POSIX queues: msgsize_max = 8192 here")),
            Mechanism::SysvMq => Some((8_000, "System V queues: msgmax = 8192 here")),
            Mechanism::Dgram | Mechanism::SeqPacket => {
                Some((200_000, "Unix datagrams are bounded by the socket buffer"))
            }
            _ => None,
        }
    }

    /// The ipcx endpoint of one direction (`which`: "ping" or "pong").
    pub(crate) fn endpoint(self, dir: &str, tag: &str, which: &str, size: usize) -> String {
        let shm = |wait: &str| {
            let cap = (size * 8).max(1 << 16).next_power_of_two();
            format!("shm:/{tag}-{which}?capacity={cap}{wait}")
        };
        match self {
            Mechanism::Pipe => String::new(), // handed over as inherited fds
            // Above 4092 bytes a FIFO writer needs max_msg=, and then writes
            // each frame under flock (many writers could interleave it).
            Mechanism::Fifo if size > 4092 => format!(
                "fifo:{dir}/{which}?max_msg={}",
                2 * size.next_power_of_two()
            ),
            Mechanism::Fifo => format!("fifo:{dir}/{which}"),
            Mechanism::Unix => format!("unix:{dir}/{which}.sock"),
            Mechanism::SeqPacket => format!("unix+seqpacket:{dir}/{which}.sock"),
            Mechanism::Dgram => format!("unix+dgram:{dir}/{which}.sock"),
            Mechanism::Tcp => "tcp:127.0.0.1:0".into(),
            Mechanism::Udp => "udp:127.0.0.1:0".into(),
            Mechanism::Mq => format!("mq:/{tag}-{which}?maxmsg=10&msgsize=8192"),
            Mechanism::SysvMq => {
                let key = crate::command::bench::raw::sysv_key(tag, which);
                format!("sysvmq:{key:#x}")
            }
            Mechanism::Shm | Mechanism::ShmLoan => shm(""),
            Mechanism::Signal => String::new(), // process ids, not endpoints
            Mechanism::ShmSpin => shm("&wait=spin"),
            Mechanism::ShmBlock => shm("&wait=block"),
        }
    }
}
