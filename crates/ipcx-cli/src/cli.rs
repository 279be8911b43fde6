//! The command line, as clap sees it: the subcommands and the help they
//! share. Each subcommand's arguments are defined beside it in
//! `command/`. Stable: scripts and tests rely on it.

use clap::{Parser, Subcommand};

use crate::command::advise::AdviseArgs;
use crate::command::bench::BenchArgs;
use crate::command::call::CallArgs;
use crate::command::ls::LsArgs;
use crate::command::plumber::PlumberArgs;
use crate::command::recv::RecvArgs;
use crate::command::relay::RelayArgs;
use crate::command::rm::RmArgs;
use crate::command::send::SendArgs;
use crate::command::serve::ServeArgs;
use crate::command::signal::SignalArgs;
use crate::command::top::TopArgs;

const ENDPOINTS: &str = "\
ENDPOINTS:
  pipe:N                 an inherited pipe fd (pipe:0 = stdin, pipe:1 = stdout)
  fifo:/path             a named pipe (created 0600 when missing)
  unix:/path  unix:@name Unix stream socket (recv listens, send connects)
  unix+seqpacket:/path   Unix seqpacket socket
  unix+dgram:/path       Unix datagram socket
  tcp:HOST:PORT          TCP (IPv6 as [::1]:PORT)
  udp:HOST:PORT          UDP
  mq:/name               POSIX message queue (either side creates it)
  sysvmq:0x2a            System V message queue (or sysvmq:/path?proj=N; either side creates it)
  shm:/name              shared-memory ring (recv creates it; no syscall per message)
  nats://HOST:PORT/subj  a NATS subject (queue=GROUP, jetstream=true, tls=true, creds=FILE)
  ws://HOST:PORT/path    WebSocket (recv listens; listen=true: send listens, each client gets all)
Options follow `?`: mode=0600, max_msg=16MiB, allow_uid=1000 (unix listeners),
maxmsg=10, msgsize=8192, priority=N (mq), type=N, proj=N (sysvmq), persist=true
(queues, shm), serve=true (receivers take new senders; not pipe, shm), capacity=4MiB, readers=N, overflow=drop-oldest (shm),
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
    /// Answer calls: each request's bytes go to COMMAND's stdin, its stdout
    /// is the reply (inetd for unix:, unix+seqpacket:, tcp:, shm: and nats://).
    #[command(after_help = SERVE_EXAMPLE)]
    Serve(ServeArgs),
    /// Call a server: one request per MESSAGE (or line of stdin), each reply
    /// printed on its own line.
    #[command(after_help = SERVE_EXAMPLE)]
    Call(CallArgs),
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
    /// Watch a pipe, FIFO or POSIX queue: how full its kernel buffer is, who
    /// writes and reads it, and who is blocked because it is full or empty.
    Plumber(PlumberArgs),
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

const SERVE_EXAMPLE: &str = "\
EXAMPLE:
  ipcx serve unix:/tmp/up.sock -- tr a-z A-Z &
  ipcx call unix:/tmp/up.sock hello          # prints HELLO
Exit status of call: 0 all answered, 1 a remote error (COMMAND failed), 2 no reply
(timeout, server gone). serve stops on SIGTERM after answering what it took.";

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
