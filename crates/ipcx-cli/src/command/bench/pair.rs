//! Setting up a pair: this process and a peer process (`ipcx bench-peer`,
//! this same binary), joined by one mechanism, through ipcx or raw
//! syscalls. The peer learns what to do from `IPCX_BENCH_*` variables and,
//! except over pipes (whose stdout is the data path), says `READY` on stdout.

use std::io::{BufRead, BufReader};
use std::os::fd::{IntoRawFd, OwnedFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use ipcx::rpc::{Client, Server};
use ipcx::{Bytes, Receiver, Sender};
use rustix::net::{AddressFamily, SocketAddrUnix, SocketType};

use super::link::{CallLink, IpcxLink, Link, StreamLink};
use super::mechanism::Mechanism;
use super::poll::Polling;
use super::raw::{DgramLink, MqLink, PacketLink, SysvLink};
use super::signal::{self, IpcxSignalLink, RawSignalLink};

/// What the peer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Sends back every message, `count` times.
    Echo,
    /// Sends `count` messages.
    Source,
}

/// How this side and the peer talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Implementation {
    /// ipcx channels, one each way, with the default `wait=adaptive`
    /// (poll 20 µs, then sleep).
    Ipcx,
    /// ipcx channels with `wait=block` (sleep at once, as raw calls do).
    IpcxBlock,
    /// The same mechanism by plain blocking syscalls.
    Raw,
    /// Plain syscalls that poll for 20 µs before the blocking one, as
    /// ipcx's default does (`poll.rs`).
    RawPoll,
    /// ipcx calls (`ipcx::rpc`): the peer serves, this side calls.
    Call,
}

impl Implementation {
    const ALL: [Implementation; 5] = [
        Implementation::Ipcx,
        Implementation::IpcxBlock,
        Implementation::Raw,
        Implementation::RawPoll,
        Implementation::Call,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Implementation::Ipcx => "ipcx",
            Implementation::IpcxBlock => "ipcx+block",
            Implementation::Raw => "raw",
            Implementation::RawPoll => "raw+poll",
            Implementation::Call => "call",
        }
    }

    fn parse(name: &str) -> Option<Implementation> {
        Implementation::ALL.into_iter().find(|i| i.name() == name)
    }

    fn is_raw(self) -> bool {
        matches!(self, Implementation::Raw | Implementation::RawPoll)
    }
}

/// One pair to set up.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub(crate) mechanism: Mechanism,
    pub(crate) imp: Implementation,
    pub(crate) role: Role,
    pub(crate) size: usize,
    pub(crate) count: usize,
    pub(crate) dir: String,
    pub(crate) tag: String,
    pub(crate) cpu: Option<usize>,
}

const OPEN_WAIT: Duration = Duration::from_secs(20);
/// What a message may carry besides its payload (a call's header).
const MESSAGE_HEADROOM: usize = 64 << 10;

/// The peer process of a pair, killed if this side gives up on the point
/// (an error mid-point would otherwise leave it waiting forever).
pub(crate) struct Peer(pub(crate) Child);

impl std::ops::Deref for Peer {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Peer {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Spec {
    fn command(&self, extra: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(std::env::current_exe().expect("current exe"));
        cmd.arg("bench-peer")
            .env("IPCX_BENCH_MECHANISM", self.mechanism.name())
            .env("IPCX_BENCH_IMPLEMENTATION", self.imp.name())
            .env(
                "IPCX_BENCH_ROLE",
                if self.role == Role::Echo {
                    "echo"
                } else {
                    "source"
                },
            )
            .env("IPCX_BENCH_SIZE", self.size.to_string())
            .env("IPCX_BENCH_COUNT", self.count.to_string())
            .env("IPCX_BENCH_DIR", &self.dir)
            .env("IPCX_BENCH_TAG", &self.tag)
            .env(
                "IPCX_BENCH_CPU",
                self.cpu.map_or(String::new(), |c| c.to_string()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in extra {
            cmd.env(format!("IPCX_BENCH_{k}"), v);
        }
        cmd
    }

    fn ep(&self, which: &str) -> String {
        self.policy(
            self.mechanism
                .endpoint(&self.dir, &self.tag, which, self.size),
        )
    }

    /// `ep` with this pair's options: its waiting policy (`wait=block`
    /// for ipcx+block), and room for its messages when they need more
    /// than the default `max_msg` (a call's frame adds a header to the
    /// payload: a 16 MiB call is a little over 16 MiB).
    fn policy(&self, ep: String) -> String {
        let mut options = Vec::new();
        if self.imp == Implementation::IpcxBlock && !ep.contains("wait=") {
            options.push("wait=block".to_owned());
        }
        let room = self.size + MESSAGE_HEADROOM;
        if room > ipcx::endpoint::DEFAULT_MAX_MSG as usize && !ep.contains("max_msg=") {
            options.push(format!("max_msg={room}"));
        }
        if options.is_empty() {
            return ep;
        }
        let sep = if ep.contains('?') { '&' } else { '?' };
        format!("{ep}{sep}{}", options.join("&"))
    }

    /// Starts the peer process (killed if the pair is not set up).
    fn spawn(&self, extra: &[(&str, String)]) -> Result<Peer> {
        Ok(Peer(self.command(extra).spawn().context("start the peer")?))
    }

    /// Starts the peer and joins it: this side's end of the pair.
    pub(crate) fn start(&self) -> Result<(Box<dyn Link>, Peer)> {
        match self.imp {
            Implementation::Ipcx | Implementation::IpcxBlock => self.start_ipcx(),
            Implementation::Raw => self.start_raw(),
            Implementation::RawPoll => {
                let (link, child) = self.start_raw()?;
                Ok((Box::new(Polling(link)), child))
            }
            Implementation::Call => self.start_call(),
        }
    }

    /// The peer serves calls (`serve_calls`); this side is a client.
    fn start_call(&self) -> Result<(Box<dyn Link>, Peer)> {
        let mut child = self.spawn(&[])?;
        let ep = ready_line(&mut child)?;
        let client = Client::<Bytes, Bytes>::connect_timeout(ep, OPEN_WAIT)?;
        Ok((Box::new(CallLink::new(client)), child))
    }

    fn start_ipcx(&self) -> Result<(Box<dyn Link>, Peer)> {
        if self.mechanism == Mechanism::Signal {
            // Blocked here before the peer exists, so nothing it sends is lost.
            let link = IpcxSignalLink::new(signal::number()?)?;
            let mut child = self.spawn(&[])?;
            ready_line(&mut child)?;
            return Ok((Box::new(link.to(child.id() as i32)), child));
        }
        if self.mechanism == Mechanism::Pipe {
            let mut child = self.spawn(&[])?;
            let to = child.stdin.take().expect("piped").into_raw_fd();
            let from = child.stdout.take().expect("piped").into_raw_fd();
            let tx = Sender::<Bytes>::open(self.policy(format!("pipe:{to}")))?;
            let rx = Receiver::<Bytes>::open(self.policy(format!("pipe:{from}")))?;
            return Ok((ipcx_link(self.mechanism, tx, rx), child));
        }
        let rx = Receiver::<Bytes>::open(self.ep("pong"))?;
        let pong = rx.endpoint().to_string();
        let mut child = self.spawn(&[("PONG", pong)])?;
        let ping = ready_line(&mut child)?;
        let tx = Sender::<Bytes>::open_timeout(self.policy(ping), OPEN_WAIT)?;
        Ok((ipcx_link(self.mechanism, tx, rx), child))
    }

    fn start_raw(&self) -> Result<(Box<dyn Link>, Peer)> {
        let dir = &self.dir;
        Ok(match self.mechanism {
            Mechanism::Pipe => {
                let mut child = self.spawn(&[])?;
                let w = child.stdin.take().expect("piped");
                let r = child.stdout.take().expect("piped");
                (Box::new(StreamLink::new(r, w)), child)
            }
            Mechanism::Fifo => {
                let (ping, pong) = (format!("{dir}/raw-ping"), format!("{dir}/raw-pong"));
                for p in [&ping, &pong] {
                    rustix::fs::mknodat(
                        rustix::fs::CWD,
                        p.as_str(),
                        rustix::fs::FileType::Fifo,
                        rustix::fs::Mode::from_raw_mode(0o600),
                        0,
                    )?;
                }
                let mut child = self.spawn(&[])?;
                // Same order on both sides: ping first, so neither blocks forever.
                let w = std::fs::OpenOptions::new().write(true).open(&ping)?;
                let r = std::fs::File::open(&pong)?;
                ready_line(&mut child)?;
                (Box::new(StreamLink::new(r, w)), child)
            }
            Mechanism::Unix => {
                let path = format!("{dir}/raw.sock");
                let listener = UnixListener::bind(&path)?;
                let mut child = self.spawn(&[])?;
                let (s, _) = listener.accept()?;
                ready_line(&mut child)?;
                (Box::new(StreamLink::new(s.try_clone()?, s)), child)
            }
            Mechanism::Tcp => {
                let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
                let port = listener.local_addr()?.port().to_string();
                let mut child = self.spawn(&[("PORT", port)])?;
                let (s, _) = listener.accept()?;
                s.set_nodelay(true)?;
                ready_line(&mut child)?;
                (Box::new(StreamLink::new(s.try_clone()?, s)), child)
            }
            Mechanism::SeqPacket => {
                let path = format!("{dir}/raw.sock");
                let fd = rustix::net::socket(AddressFamily::UNIX, SocketType::SEQPACKET, None)?;
                rustix::net::bind(&fd, &SocketAddrUnix::new(path.as_str())?)?;
                rustix::net::listen(&fd, 1)?;
                let mut child = self.spawn(&[])?;
                let conn = rustix::net::accept(&fd)?;
                ready_line(&mut child)?;
                (Box::new(PacketLink(conn)), child)
            }
            Mechanism::Dgram => {
                let (ping, pong) = (
                    format!("{dir}/raw-ping.sock"),
                    format!("{dir}/raw-pong.sock"),
                );
                let s = UnixDatagram::bind(&pong)?;
                let mut child = self.spawn(&[])?;
                ready_line(&mut child)?; // the peer has bound `ping`
                let link = DgramLink {
                    fd: OwnedFd::from(s),
                    peer: SocketAddrUnix::new(ping.as_str())?,
                };
                (Box::new(link), child)
            }
            Mechanism::Udp => {
                let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
                let port = s.local_addr()?.port().to_string();
                let mut child = self.spawn(&[("PORT", port)])?;
                let peer: std::net::SocketAddr = ready_line(&mut child)?.parse()?;
                s.connect(peer)?;
                (Box::new(PacketLink(OwnedFd::from(s))), child)
            }
            Mechanism::Mq => {
                let link = MqLink::create(&self.tag)?;
                let mut child = self.spawn(&[])?;
                ready_line(&mut child)?;
                (Box::new(link), child)
            }
            Mechanism::SysvMq => {
                let link = SysvLink::create()?;
                let mut child = self.spawn(&[("ID", link.id().to_string())])?;
                ready_line(&mut child)?;
                (Box::new(link), child)
            }
            Mechanism::Signal => {
                let link = RawSignalLink::new(signal::number()?)?;
                let mut child = self.spawn(&[])?;
                ready_line(&mut child)?;
                (Box::new(link.to(child.id() as i32)), child)
            }
            Mechanism::Shm | Mechanism::ShmSpin | Mechanism::ShmBlock | Mechanism::ShmLoan => {
                return Err(anyhow!("shared memory has no raw kernel path"));
            }
        })
    }
}

/// The ipcx side of a pair (see [`IpcxLink`]).
fn ipcx_link(m: Mechanism, tx: Sender<Bytes>, rx: Receiver<Bytes>) -> Box<dyn Link> {
    Box::new(IpcxLink {
        tx,
        rx,
        read_in_place: m.is_shm(),
        loan: m == Mechanism::ShmLoan,
    })
}

/// Reads the peer's `READY [info]` line.
fn ready_line(child: &mut Child) -> Result<String> {
    let out: &mut ChildStdout = child.stdout.as_mut().expect("piped");
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    line.trim()
        .strip_prefix("READY")
        .map(|rest| rest.trim().to_owned())
        .ok_or_else(|| anyhow!("the peer did not start: `{line}`"))
}

fn env(key: &str) -> String {
    std::env::var(format!("IPCX_BENCH_{key}")).unwrap_or_default()
}

/// The peer process: joins the pair, then echoes or streams.
pub(crate) fn peer_main() -> Result<()> {
    if let Some(role) = super::scaling::peer_role() {
        return super::scaling::peer_main(&role);
    }
    let mechanism = Mechanism::parse(&env("MECHANISM")).context("mechanism")?;
    if let Ok(cpu) = env("CPU").parse::<usize>() {
        super::machine::pin(cpu);
    }
    let size: usize = env("SIZE").parse()?;
    let count: usize = env("COUNT").parse()?;
    let spec = Spec {
        mechanism,
        imp: Implementation::parse(&env("IMPLEMENTATION")).context("implementation")?,
        role: if env("ROLE") == "echo" {
            Role::Echo
        } else {
            Role::Source
        },
        size,
        count,
        dir: env("DIR"),
        tag: env("TAG"),
        cpu: None,
    };
    if spec.imp == Implementation::Call {
        return serve_calls(&spec);
    }
    let mut link = spec.join()?;
    let mut buf = vec![0u8; size.max(8192)];
    match spec.role {
        Role::Echo => {
            for _ in 0..count {
                link.echo(&mut buf)?;
            }
        }
        Role::Source => {
            let msg = vec![7u8; size];
            for _ in 0..count {
                link.send(&msg)?;
            }
            // Stay until the other side has read everything (a receiver
            // may take the end of its peer for the end of the channel).
            link.recv(&mut buf)?;
        }
    }
    Ok(())
}

/// The peer of a call pair: a server (one place, answering on its
/// connection's reader) that echoes `count` calls, then stops; `serve`
/// returns once the last reply is sent.
fn serve_calls(spec: &Spec) -> Result<()> {
    let stop = ipcx::Stop::new()?;
    let options = ipcx::OpenOptions::new().stop(&stop).clone();
    let server = Server::<Bytes, Bytes>::bind_with(spec.ep("call"), &options)?.workers(1);
    say_ready(&server.endpoint().to_string());
    let left = std::sync::atomic::AtomicUsize::new(spec.count);
    server.serve_bytes(move |request| {
        if left.fetch_sub(1, std::sync::atomic::Ordering::Relaxed) == 1 {
            stop.stop();
        }
        Ok(request.to_vec())
    })?;
    Ok(())
}

fn say_ready(info: &str) {
    println!("READY {info}");
}

impl Spec {
    /// The peer's side of the pair.
    fn join(&self) -> Result<Box<dyn Link>> {
        if self.mechanism == Mechanism::Signal {
            let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
            let signal = signal::number()?;
            let link: Box<dyn Link> = if self.imp.is_raw() {
                Box::new(RawSignalLink::new(signal)?.to(parent))
            } else {
                Box::new(IpcxSignalLink::new(signal)?.to(parent))
            };
            say_ready("");
            return Ok(link);
        }
        if !self.imp.is_raw() {
            if self.mechanism == Mechanism::Pipe {
                let rx = Receiver::<Bytes>::open(self.policy("pipe:0".into()))?;
                let tx = Sender::<Bytes>::open(self.policy("pipe:1".into()))?;
                return Ok(ipcx_link(self.mechanism, tx, rx));
            }
            let rx = Receiver::<Bytes>::open(self.ep("ping"))?;
            say_ready(&rx.endpoint().to_string());
            let tx = Sender::<Bytes>::open_timeout(self.policy(env("PONG")), OPEN_WAIT)?;
            return Ok(ipcx_link(self.mechanism, tx, rx));
        }
        let raw = self.join_raw()?;
        Ok(if self.imp == Implementation::RawPoll {
            Box::new(Polling(raw))
        } else {
            raw
        })
    }

    /// The peer's side of a raw pair.
    fn join_raw(&self) -> Result<Box<dyn Link>> {
        let dir = &self.dir;
        Ok(match self.mechanism {
            Mechanism::Pipe => {
                let r = std::io::stdin();
                let w = std::io::stdout();
                Box::new(StreamLink::new(r, w))
            }
            Mechanism::Fifo => {
                let r = std::fs::File::open(format!("{dir}/raw-ping"))?;
                let w = std::fs::OpenOptions::new()
                    .write(true)
                    .open(format!("{dir}/raw-pong"))?;
                say_ready("");
                Box::new(StreamLink::new(r, w))
            }
            Mechanism::Unix => {
                let s = UnixStream::connect(format!("{dir}/raw.sock"))?;
                say_ready("");
                Box::new(StreamLink::new(s.try_clone()?, s))
            }
            Mechanism::Tcp => {
                let s = std::net::TcpStream::connect(("127.0.0.1", env("PORT").parse::<u16>()?))?;
                s.set_nodelay(true)?;
                say_ready("");
                Box::new(StreamLink::new(s.try_clone()?, s))
            }
            Mechanism::SeqPacket => {
                let fd = rustix::net::socket(AddressFamily::UNIX, SocketType::SEQPACKET, None)?;
                rustix::net::connect(&fd, &SocketAddrUnix::new(format!("{dir}/raw.sock"))?)?;
                say_ready("");
                Box::new(PacketLink(fd))
            }
            Mechanism::Dgram => {
                let s = UnixDatagram::bind(format!("{dir}/raw-ping.sock"))?;
                say_ready("");
                Box::new(DgramLink {
                    fd: OwnedFd::from(s),
                    peer: SocketAddrUnix::new(format!("{dir}/raw-pong.sock").as_str())?,
                })
            }
            Mechanism::Udp => {
                let s = std::net::UdpSocket::bind("127.0.0.1:0")?;
                s.connect(("127.0.0.1", env("PORT").parse::<u16>()?))?;
                say_ready(&s.local_addr()?.to_string());
                Box::new(PacketLink(OwnedFd::from(s)))
            }
            Mechanism::Mq => {
                let link = MqLink::open(&self.tag)?;
                say_ready("");
                Box::new(link)
            }
            Mechanism::SysvMq => {
                let link = SysvLink::open(env("ID").parse()?);
                say_ready("");
                Box::new(link)
            }
            Mechanism::Shm | Mechanism::ShmSpin | Mechanism::ShmBlock | Mechanism::ShmLoan => {
                return Err(anyhow!("shared memory has no raw kernel path"))
            }
            Mechanism::Signal => unreachable!("joined above"),
        })
    }
}
