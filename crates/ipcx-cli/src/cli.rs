//! The command line, as clap sees it. Stable: scripts and tests rely on it.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration::parse_duration;

const ENDPOINTS: &str = "\
ENDPOINTS:
  pipe:N                 an inherited pipe fd (pipe:0 = stdin, pipe:1 = stdout)
  fifo:/path             a named pipe (created 0600 when missing)
  unix:/path  unix:@name Unix stream socket (recv listens, send connects)
  unix+seqpacket:/path   Unix seqpacket socket
  unix+dgram:/path       Unix datagram socket
  tcp:HOST:PORT          TCP (IPv6 as [::1]:PORT)
  udp:HOST:PORT          UDP
  mq:/name               POSIX message queue (recv creates it)
  sysvmq:0x2a            System V message queue (or sysvmq:/path?proj=N)
  shm:/name              shared-memory ring (recv creates it; no syscall per message)
Options follow `?`: mode=0600, max_msg=16MiB, allow_uid=1000 (unix listeners),
maxmsg=10, msgsize=8192, priority=N (mq), type=N, proj=N (sysvmq), persist=true
(queues, shm), capacity=4MiB, readers=N, overflow=drop-oldest (shm),
wait=adaptive|block|spin (poll a while then sleep, sleep at once, never sleep).";

/// Every IPC mechanism behind one tool.
#[derive(Debug, Parser)]
#[command(name = "ipcx", version, about, after_help = ENDPOINTS)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Send messages to an endpoint: each MESSAGE argument, or else each line of stdin.
    #[command(after_help = ENDPOINTS)]
    Send(SendArgs),
    /// Receive messages and print each on its own line.
    #[command(after_help = ENDPOINTS)]
    Recv(RecvArgs),
    /// Relay messages between two addresses, both ways or one way (socat for
    /// every mechanism).
    #[command(after_help = RELAY_ADDRESSES)]
    Relay(RelayArgs),
    /// List every IPC object on this machine: pipes, FIFOs, sockets, queues,
    /// shared memory, semaphores (POSIX and System V), with the processes on them.
    Ls(LsArgs),
    /// Remove stale IPC objects: nobody uses them and their creators are gone.
    Rm(RmArgs),
    /// A live view of ipcx channels: messages/s, bytes/s, queue depth, blocked time.
    Top(TopArgs),
    /// (internal) list POSIX queues through a private mqueue mount.
    #[command(hide = true, name = "mqueue-list")]
    MqueueList,
    /// Send or wait for signals that carry an integer (sigqueue / signalfd).
    Signal(SignalArgs),
    /// Measure every mechanism between two processes on this machine, next
    /// to the raw syscalls, with the hardware floors.
    Bench(BenchArgs),
    /// Recommend a mechanism for what you need, backed by measured figures.
    Advise(AdviseArgs),
    /// (internal) the peer process of `ipcx bench`.
    #[command(hide = true)]
    BenchPeer,
}

const RELAY_ADDRESSES: &str = "\
ADDRESSES:
  any ENDPOINT           as for send/recv (see `ipcx --help`); ipcx framing by default
  listen:ENDPOINT        accept clients on unix:, unix+seqpacket: or tcp:, one session each
  -                      stdin and stdout
  file:PATH              read, or written (created 0600, truncated; ?append=true, ?mode=)
                         (?owner=USER[:GROUP] on file: and listen:unix: paths)
  exec:COMMAND           a `sh -c COMMAND` child's stdout and stdin
Add ?frame= to say how bytes become messages:
  frame=ipcx   ipcx's framing and hello (default for endpoints: the peer is ipcx)
  frame=none   plain bytes (default for -, file:, exec:): each read is one message;
               on unix+seqpacket:, unix+dgram:, udp: one packet is one message
  frame=line   one message per line (the newline is not part of the message)
Messages go both ways between two-way addresses (stdio, exec:, stream and seqpacket
sockets), else from the first address to the second. Sockets connect unless listen:;
unix+dgram: and udp: bind when read from. A message too large for the target is
reported and counted, never cut. SIGTERM: stop accepting, write what was read, exit 0.
SIGUSR1: print --stats now.

EXAMPLES:
  ipcx relay listen:tcp:127.0.0.1:8080?frame=none unix:/run/app.sock?frame=none
  ipcx relay -u listen:unix:/run/in.sock?frame=line mq:/jobs
  ipcx relay -u shm:/frames udp:10.0.0.2:9000";

#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    /// The first address.
    #[arg(allow_hyphen_values = true)]
    pub(crate) a: String,
    /// The second address.
    #[arg(allow_hyphen_values = true)]
    pub(crate) b: String,
    /// One way only: from the first address to the second.
    #[arg(short = 'u')]
    pub(crate) unidirectional: bool,
    /// One way only: from the second address to the first.
    #[arg(short = 'U')]
    pub(crate) reverse: bool,
    /// Show each message on stderr as text, with its direction and time.
    #[arg(short = 'v')]
    pub(crate) verbose: bool,
    /// Show each message on stderr as a hex dump.
    #[arg(short = 'x')]
    pub(crate) hex: bool,
    /// Print messages, bytes and rates on exit (and on SIGUSR1).
    #[arg(long)]
    pub(crate) stats: bool,
    /// Write one JSON object per event to FILE (`-`: stderr).
    #[arg(long, value_name = "FILE")]
    pub(crate) json_log: Option<std::path::PathBuf>,
    /// At most this many clients at once on a listener (more wait in its backlog).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub(crate) max_clients: usize,
    /// After one direction ends, how long the other may go on.
    #[arg(short = 't', long, value_parser = parse_duration, default_value = "500ms", value_name = "DURATION")]
    pub(crate) close_delay: Duration,
    /// Wait up to this long for a target that is not there yet (a listener, a queue's receiver).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) wait: Option<Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// Only names (or ipcx endpoints) containing this text.
    pub(crate) name: Option<String>,
    /// Only these kinds, comma-separated: pipe, fifo, unix, tcp, udp, mq,
    /// posix-shm, posix-sem, sysv-msg, sysv-shm, sysv-sem (or socket, sysv, posix, shm).
    #[arg(long = "type", short = 't', value_name = "LIST")]
    pub(crate) r#type: Vec<String>,
    /// Only objects this process holds or maps.
    #[arg(long, short = 'p')]
    pub(crate) pid: Option<i32>,
    /// Only objects owned by this user (name or uid).
    #[arg(long, short = 'u')]
    pub(crate) user: Option<String>,
    /// Only ipcx endpoints.
    #[arg(long)]
    pub(crate) ipcx: bool,
    /// Print JSON (schema: docs/ls.md).
    #[arg(long)]
    pub(crate) json: bool,
    /// Print the system limits of each mechanism instead.
    #[arg(long)]
    pub(crate) limits: bool,
}

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// What to look at: names, paths or keys (0x2a); none means every
    /// ipcx object and every socket file under /tmp and /run.
    pub(crate) names: Vec<String>,
    /// Say what would be removed, remove nothing.
    #[arg(long, short = 'n')]
    pub(crate) dry_run: bool,
    /// Remove the named objects even if in use or not known to be stale.
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TopArgs {
    /// Print one snapshot and exit (with --json: machine-readable).
    #[arg(long)]
    pub(crate) once: bool,
    /// JSON output (with --once).
    #[arg(long)]
    pub(crate) json: bool,
    /// Time between refreshes, and the window rates are measured over (e.g. 1s, 500ms).
    #[arg(long, short = 'd', value_parser = parse_duration, default_value = "1s", value_name = "DURATION")]
    pub(crate) interval: Duration,
}

#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// A short run (a few seconds per mechanism, under 30 s in all on 2 cores).
    #[arg(long)]
    pub(crate) quick: bool,
    /// Print every figure as JSON (the schema: docs/bench.md).
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write an HTML page with plots to this file.
    #[arg(long, value_name = "FILE.html")]
    pub(crate) report: Option<std::path::PathBuf>,
    /// Which mechanisms, comma-separated (default: all): pipe, fifo, unix,
    /// unix+seqpacket, unix+dgram, tcp, udp, mq, sysvmq, shm, shm+spin,
    /// shm+block, shm+loan (the payload written and read in the ring).
    #[arg(long, value_name = "LIST")]
    pub(crate) mechanisms: Option<String>,
    /// Payload sizes, comma-separated (default 64,4KiB,64KiB,1MiB; --quick 64,64KiB).
    #[arg(long, value_name = "LIST")]
    pub(crate) sizes: Option<String>,
    /// Multiply the number of rounds and messages (e.g. 0.1 or 5).
    #[arg(long, value_name = "FACTOR")]
    pub(crate) scale: Option<f64>,
    /// Exactly this many ping-pong rounds and streamed messages per point.
    #[arg(long, value_name = "N", conflicts_with = "scale")]
    pub(crate) count: Option<usize>,
    /// About this long per point and test (e.g. 200ms, 2s): each point is
    /// first timed on a short run, then its counts are set to fill it.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", conflicts_with_all = ["scale", "count"])]
    pub(crate) duration: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub(crate) struct AdviseArgs {
    /// Typical payload size (e.g. 200, 64KiB, 8MiB).
    #[arg(long, default_value = "1KiB")]
    pub(crate) size: String,
    /// Messages per second needed.
    #[arg(long, default_value_t = 1000.0)]
    pub(crate) rate: f64,
    /// How many processes receive each message.
    #[arg(long, default_value_t = 1)]
    pub(crate) receivers: u32,
    /// The processes run on different machines.
    #[arg(long)]
    pub(crate) remote: bool,
    /// Messages need priorities.
    #[arg(long)]
    pub(crate) priorities: bool,
    /// Messages must outlive the processes (a queue kept by the kernel).
    #[arg(long)]
    pub(crate) persistent: bool,
    /// The processes are parent and child (they can share an anonymous pipe).
    #[arg(long)]
    pub(crate) related: bool,
    /// Figures from a saved `ipcx bench --json` (otherwise a quick run measures them).
    #[arg(long, value_name = "FILE.json")]
    pub(crate) from: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct SignalArgs {
    #[command(subcommand)]
    pub(crate) command: SignalCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SignalCommand {
    /// Queue a signal carrying VALUE to process PID.
    Send {
        /// The receiving process.
        pid: i32,
        /// The integer the signal carries.
        #[arg(allow_negative_numbers = true)]
        value: i32,
        /// Which signal: RTMIN+N (queued, ordered), USR1, TERM, or a number.
        #[arg(long, short = 's', default_value = "RTMIN+1")]
        signal: String,
    },
    /// Wait for signals and print each as `SIGNAME value=N pid=P uid=U`.
    ///
    /// SIGKILL and SIGSTOP cannot be waited for: they cannot be caught.
    Wait {
        /// Which signals (repeatable).
        #[arg(long, short = 's', default_value = "RTMIN+1")]
        signal: Vec<String>,
        /// Exit after this many signals.
        #[arg(short = 'n', long = "count", value_name = "COUNT")]
        count: Option<u64>,
        /// Give up (exit status 1) when no signal arrives for this long.
        #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
        timeout: Option<Duration>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    /// Where to send, e.g. unix:/run/app.sock.
    pub(crate) endpoint: String,
    /// Messages to send, one message each. Without any, each line of stdin is one message.
    pub(crate) messages: Vec<String>,
    /// Wait up to this long for a receiver to appear (e.g. 5s, 250ms).
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) wait: Option<Duration>,
    /// Message priority on a POSIX queue (0-32767; higher is received first).
    #[arg(long, value_name = "N")]
    pub(crate) priority: Option<u32>,
    /// Message type on a System V queue (> 0).
    #[arg(long = "type", value_name = "N")]
    pub(crate) msg_type: Option<i64>,
}

#[derive(Debug, Args)]
pub(crate) struct RecvArgs {
    /// Where to receive, e.g. unix:/run/app.sock.
    pub(crate) endpoint: String,
    /// Exit after this many messages, taking new senders until then
    /// (otherwise exit when every sender so far is gone).
    #[arg(short = 'n', long = "count", value_name = "COUNT")]
    pub(crate) count: Option<u64>,
    /// Keep taking new senders until stopped (SIGTERM, SIGINT, SIGHUP),
    /// as the endpoint option serve=true.
    #[arg(long)]
    pub(crate) serve: bool,
    /// Give up (exit status 1) when no message arrives for this long.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) timeout: Option<Duration>,
    /// Print each message as hexadecimal instead of raw bytes.
    #[arg(long)]
    pub(crate) hex: bool,
    /// System V queue: take only type N (N > 0), or the lowest type ≤ |N| first (N < 0).
    #[arg(long = "type", value_name = "N", allow_negative_numbers = true)]
    pub(crate) msg_type: Option<i64>,
}
