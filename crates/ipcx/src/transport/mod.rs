//! One module per mechanism. Each turns an [`Endpoint`] into kernel objects
//! and hands back [links](crate::link) that keep the contract written in
//! [`crate::link`]. To add a mechanism: a module here, a scheme in
//! [`crate::endpoint`], a line in each `match` below, and it runs the whole
//! conformance suite (`tests/conformance`).
//!
//! | scheme            | link         | sender opens            | receiver opens              |
//! |-------------------|--------------|-------------------------|-----------------------------|
//! | `pipe:N`          | stream       | adopts inherited fd N   | adopts inherited fd N       |
//! | `fifo:`           | stream       | opens for writing       | creates if missing, reads   |
//! | `unix:` / `tcp:`  | stream       | connects + hello        | listens, accepts many       |
//! | `unix+seqpacket:` | packet       | connects + hello        | listens, accepts many       |
//! | `unix+dgram:`/`udp:` | datagram  | connects (no hello)     | binds                       |
//! | `mq:` / `sysvmq:` | datagram     | opens the queue         | creates or opens the queue  |
//! | `shm:`            | shm (ring)   | attaches, one at a time | creates or attaches (broadcast) |

pub(crate) mod cleanup;
pub(crate) mod fifo;
mod mq;
#[cfg(feature = "nats")]
mod nats;
pub(crate) mod pipe;
#[cfg(feature = "remote")]
pub(crate) mod runtime;
#[cfg(feature = "remote")]
pub(crate) mod secrets;
pub(crate) mod shm;
pub(crate) mod socket;
mod sysvmq;
#[cfg(feature = "websocket")]
mod websocket;

pub(crate) use socket::{handshake, Connection, Side};
pub(crate) mod tcp;
pub(crate) mod udp;
mod unix_dgram;

use std::os::fd::OwnedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::codec::Identity;
use crate::endpoint::{Address, Endpoint, UnixKind};
use crate::error::{Error, ErrorKind};
use crate::link::carrier::Carrier;
use crate::link::datagram::{DatagramReader, DatagramWriter};
use crate::link::fanin::FanIn;
use crate::link::{Inbound, Outbound};
use crate::sys::{Deadline, PeerCred};
use crate::wire::hello::Hello;

pub(crate) use cleanup::RemoveOnDrop;

/// What opening an endpoint produced.
#[derive(Debug)]
pub(crate) struct Opened<L> {
    pub(crate) link: L,
    /// Who is on the other end (Unix stream/seqpacket connections).
    pub(crate) peer_cred: Option<PeerCred>,
    /// Removes a FIFO or socket file this end created, when dropped.
    pub(crate) cleanup: Option<RemoveOnDrop>,
    /// The endpoint as actually opened (e.g. with the port the kernel chose).
    pub(crate) local: Endpoint,
}

impl<L> Opened<L> {
    pub(crate) fn new(link: L, local: Endpoint) -> Self {
        Opened {
            link,
            peer_cred: None,
            cleanup: None,
            local,
        }
    }
}

/// What every open needs: the endpoint, its printed name for errors, this
/// end's hello and the deadline.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub(crate) ep: &'a Endpoint,
    pub(crate) label: Arc<str>,
    pub(crate) hello: Hello,
    pub(crate) deadline: Deadline<'a>,
}

impl Ctx<'_> {
    pub(crate) fn max_msg(&self) -> u32 {
        self.ep.options().max_msg
    }

    /// The sending link over a connected datagram socket that carries at
    /// most `transport_max` bytes per datagram.
    pub(crate) fn datagram_sender(
        &self,
        carrier: Carrier,
        transport_max: usize,
    ) -> Opened<Outbound> {
        let sends = self
            .hello
            .sends
            .as_ref()
            .expect("a sender's hello names what it sends");
        let writer = DatagramWriter::new(
            carrier,
            sends,
            self.max_msg(),
            transport_max,
            self.label.clone(),
        );
        Opened::new(Outbound::Datagram(writer), self.ep.clone())
    }

    /// The receiving link over a bound datagram socket (`local`: the
    /// endpoint as bound).
    pub(crate) fn datagram_receiver(
        &self,
        carrier: Carrier,
        transport_max: usize,
        local: Endpoint,
    ) -> Opened<Inbound> {
        let receives = self
            .hello
            .receives
            .clone()
            .expect("a receiver's hello names what it receives");
        let reader = DatagramReader::new(
            carrier,
            receives,
            self.max_msg(),
            transport_max,
            label_of(&local),
        );
        Opened::new(Inbound::Datagram(reader), local)
    }
}

#[cfg(feature = "nats")]
fn remote_sender(
    ctx: &Ctx<'_>,
    addr: &crate::endpoint::NatsAddr,
) -> Result<Opened<Outbound>, Error> {
    nats::sender(ctx, addr)
}

#[cfg(feature = "nats")]
fn remote_receiver(
    ctx: &Ctx<'_>,
    addr: &crate::endpoint::NatsAddr,
) -> Result<Opened<Inbound>, Error> {
    nats::receiver(ctx, addr)
}

/// Opens one end of calls over a remote endpoint (`rpc` on `nats://`):
/// `hello` says what it sends and receives.
#[cfg(feature = "nats")]
pub(crate) fn open_call(
    ep: &Endpoint,
    hello: Hello,
    server: bool,
    deadline: Deadline<'_>,
) -> Result<Opened<Connection>, Error> {
    let Address::Nats(addr) = ep.address() else {
        return Err(not_connection_oriented(ep));
    };
    let ctx = Ctx {
        ep,
        label: label_of(ep),
        hello,
        deadline,
    };
    let side = if server {
        nats::call::Side::Server
    } else {
        nats::call::Side::Client
    };
    retry_while_nobody_there(ctx.deadline, &ctx.label, || {
        nats::call::open(&ctx, addr, side)
    })
    .map_err(|e| e.at(&ctx.label))
}

/// Opens one end of calls over a remote endpoint: not in this build.
#[cfg(not(feature = "nats"))]
pub(crate) fn open_call(
    _: &Endpoint,
    _: Hello,
    _: bool,
    _: Deadline<'_>,
) -> Result<Opened<Connection>, Error> {
    Err(no_nats())
}

#[cfg(not(feature = "nats"))]
fn remote_sender(_: &Ctx<'_>, _: &crate::endpoint::NatsAddr) -> Result<Opened<Outbound>, Error> {
    Err(no_nats())
}

#[cfg(not(feature = "nats"))]
fn remote_receiver(_: &Ctx<'_>, _: &crate::endpoint::NatsAddr) -> Result<Opened<Inbound>, Error> {
    Err(no_nats())
}

#[cfg(not(feature = "nats"))]
fn no_nats() -> Error {
    no_feature("NATS", "nats")
}

#[cfg(feature = "websocket")]
fn websocket_sender(
    ctx: &Ctx<'_>,
    addr: &crate::endpoint::WsAddr,
) -> Result<Opened<Outbound>, Error> {
    websocket::sender(ctx, addr)
}

#[cfg(feature = "websocket")]
fn websocket_receiver(
    ctx: &Ctx<'_>,
    addr: &crate::endpoint::WsAddr,
) -> Result<Opened<Inbound>, Error> {
    websocket::receiver(ctx, addr)
}

#[cfg(not(feature = "websocket"))]
fn websocket_sender(_: &Ctx<'_>, _: &crate::endpoint::WsAddr) -> Result<Opened<Outbound>, Error> {
    Err(no_feature("WebSocket", "websocket"))
}

#[cfg(not(feature = "websocket"))]
fn websocket_receiver(_: &Ctx<'_>, _: &crate::endpoint::WsAddr) -> Result<Opened<Inbound>, Error> {
    Err(no_feature("WebSocket", "websocket"))
}

/// What an endpoint of a transport this build left out says.
#[allow(dead_code)]
fn no_feature(what: &str, feature: &str) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "this build of ipcx has no {what} support: build it with the `{feature}` cargo \
             feature (the ipcx CLI has it)"
        ),
    )
}

pub(crate) fn label_of(ep: &Endpoint) -> Arc<str> {
    ep.to_string().into()
}

/// Opens the sending end of `ep`. While nobody is there yet (`NoPeer`),
/// retries until the deadline; without one, fails at once.
pub(crate) fn open_sender(
    ep: &Endpoint,
    sends: Identity,
    deadline: Deadline<'_>,
) -> Result<Opened<Outbound>, Error> {
    let hello = Hello {
        sends: Some(sends),
        receives: None,
        max_msg: 0,
    };
    let ctx = Ctx {
        ep,
        label: label_of(ep),
        hello,
        deadline,
    };
    let spin = crate::sys::Spin::of_endpoint(ep);
    retry_while_nobody_there(ctx.deadline, &ctx.label, || match ep.address() {
        Address::Pipe(fd) => pipe::sender(&ctx, *fd),
        Address::Fifo(path) => fifo::sender(&ctx, path),
        Address::Unix(UnixKind::Dgram, addr) => unix_dgram::sender(&ctx, addr),
        Address::Udp(hp) => udp::sender(&ctx, hp),
        Address::Mq(name) => mq::sender(&ctx, name),
        Address::SysvMq(key) => sysvmq::sender(&ctx, key),
        Address::Shm(name) => shm::sender(&ctx, name),
        Address::Nats(addr) => remote_sender(&ctx, addr),
        Address::WebSocket(addr) => websocket_sender(&ctx, addr),
        Address::Unix(..) | Address::Tcp(_) => connect_once(&ctx)?.map(|c| c.outbound).lift("send"),
    })
    .map(|mut opened| {
        opened.link.set_spin(spin);
        opened
    })
}

/// Opens the receiving end of `ep`: binds, listens or opens for reading.
pub(crate) fn open_receiver(ep: &Endpoint, receives: Identity) -> Result<Opened<Inbound>, Error> {
    let hello = Hello {
        sends: None,
        receives: Some(receives),
        max_msg: ep.options().max_msg,
    };
    let ctx = Ctx {
        ep,
        label: label_of(ep),
        hello,
        deadline: Deadline::NEVER,
    };
    let opened = match ep.address() {
        Address::Pipe(fd) => pipe::receiver(&ctx, *fd),
        Address::Fifo(path) => fifo::receiver(&ctx, path),
        Address::Unix(UnixKind::Dgram, addr) => unix_dgram::receiver(&ctx, addr),
        Address::Udp(hp) => udp::receiver(&ctx, hp),
        Address::Mq(name) => mq::receiver(&ctx, name),
        Address::SysvMq(key) => sysvmq::receiver(&ctx, key),
        Address::Shm(name) => shm::receiver(&ctx, name),
        Address::Nats(addr) => remote_receiver(&ctx, addr),
        Address::WebSocket(addr) => websocket_receiver(&ctx, addr),
        Address::Unix(..) | Address::Tcp(_) => listen(ep).and_then(|o| {
            o.try_map(|ls| {
                let answer_senders = ep.scheme() != crate::Scheme::Tcp;
                FanIn::new(
                    ls.fd,
                    ls.packets,
                    answer_senders,
                    ctx.hello.clone(),
                    ls.allow_uid,
                    ls.label,
                )
                .map(Inbound::FanIn)
            })
        }),
    };
    opened
        .map(|mut opened| {
            opened.link.set_spin(crate::sys::Spin::of_endpoint(ep));
            // A queue group's members cannot all hear a sender's bye (it
            // goes to one of them): they receive until stopped.
            opened
                .link
                .set_serve(ep.options().serve || ep.options().remote.queue.is_some());
            opened
        })
        .map_err(|e| e.at(&ctx.label))
}

/// Connects a two-way connection (stream and seqpacket sockets).
pub(crate) fn connect(
    ep: &Endpoint,
    hello: Hello,
    deadline: Deadline<'_>,
) -> Result<Opened<Connection>, Error> {
    let ctx = Ctx {
        ep,
        label: label_of(ep),
        hello,
        deadline,
    };
    let spin = crate::sys::Spin::of_endpoint(ep);
    retry_while_nobody_there(ctx.deadline, &ctx.label, || connect_once(&ctx)).map(|mut opened| {
        if let Some(link) = &mut opened.link.outbound {
            link.set_spin(spin);
        }
        if let Some(link) = &mut opened.link.inbound {
            link.set_spin(spin);
        }
        opened
    })
}

fn connect_once(ctx: &Ctx<'_>) -> Result<Opened<Connection>, Error> {
    let (fd, packets) = match ctx.ep.address() {
        Address::Unix(kind @ (UnixKind::Stream | UnixKind::SeqPacket), addr) => (
            socket::connect_unix(*kind, addr)?,
            *kind == UnixKind::SeqPacket,
        ),
        Address::Tcp(hp) => (tcp::connect(hp, ctx.deadline)?, false),
        _ => return Err(not_connection_oriented(ctx.ep)),
    };
    let peer_cred = match ctx.ep.address() {
        Address::Unix(..) => crate::sys::peer_cred(&fd).ok(),
        _ => None,
    };
    // Over TCP a listener does not answer a peer that only sends (see FanIn).
    let side = match ctx.ep.scheme() {
        crate::Scheme::Tcp if ctx.hello.receives.is_none() => Side::ConnectingNoAnswer,
        _ => Side::Connecting,
    };
    let conn = socket::handshake(
        fd,
        packets,
        &ctx.hello,
        side,
        ctx.max_msg(),
        &ctx.label,
        ctx.deadline,
    )?;
    let mut opened = Opened::new(conn, ctx.ep.clone());
    opened.peer_cred = peer_cred;
    Ok(opened)
}

/// A listening socket: for [`crate::Listener`] and fan-in receivers.
#[derive(Debug)]
pub(crate) struct ListenSocket {
    /// Non-blocking, listening.
    pub(crate) fd: OwnedFd,
    pub(crate) packets: bool,
    pub(crate) label: Arc<str>,
    pub(crate) allow_uid: Vec<u32>,
}

impl ListenSocket {
    /// Waits for the next peer and checks its uid against `allow_uid`
    /// (a refused peer is an error; the socket goes on listening).
    /// `tcp`: no peer credentials to report.
    pub(crate) fn accept(
        &self,
        tcp: bool,
        deadline: Deadline<'_>,
    ) -> Result<(OwnedFd, Option<PeerCred>), Error> {
        use rustix::event::PollFlags;
        use rustix::io::Errno;
        use std::os::fd::AsFd;
        let label = &self.label;
        let fd = loop {
            match rustix::net::accept_with(&self.fd, rustix::net::SocketFlags::CLOEXEC) {
                Ok(fd) => break fd,
                Err(Errno::AGAIN) => {
                    let woke = crate::sys::wait(self.fd.as_fd(), PollFlags::IN, deadline)
                        .map_err(|e| Error::io("poll", e).at(label))?;
                    match woke {
                        crate::sys::Woke::Ready => {}
                        crate::sys::Woke::TimedOut => {
                            return Err(Error::new(
                                ErrorKind::TimedOut,
                                "no peer connected in time",
                            )
                            .at(label))
                        }
                        crate::sys::Woke::Stopped => {
                            return Err(crate::Stop::error("accept").at(label))
                        }
                    }
                }
                Err(Errno::INTR | Errno::CONNABORTED) => {}
                Err(e) => return Err(Error::io("accept failed", e.into()).at(label)),
            }
        };
        let peer_cred = crate::sys::peer_cred(&fd).ok().filter(|_| !tcp);
        if let Err(crate::error::Fail::Error(e)) =
            crate::link::fanin::check_allowed(&self.allow_uid, peer_cred, label)
        {
            return Err(e);
        }
        let _ = rustix::net::sockopt::set_tcp_nodelay(&fd, true);
        Ok((fd, peer_cred))
    }
}

pub(crate) fn listen(ep: &Endpoint) -> Result<Opened<ListenSocket>, Error> {
    let socket = |fd, packets, local: &Endpoint| ListenSocket {
        fd,
        packets,
        label: label_of(local),
        allow_uid: allowed_uids(ep),
    };
    match ep.address() {
        Address::Unix(kind @ (UnixKind::Stream | UnixKind::SeqPacket), addr) => {
            let (fd, guard) = socket::bind_unix(*kind, addr, ep.options().mode)?;
            let mut opened = Opened::new(socket(fd, *kind == UnixKind::SeqPacket, ep), ep.clone());
            opened.cleanup = guard;
            Ok(opened)
        }
        Address::Tcp(hp) => {
            let (fd, local) = tcp::bind(ep, hp)?;
            Ok(Opened::new(socket(fd, false, &local), local))
        }
        _ => Err(not_connection_oriented(ep)),
    }
    .map_err(|e| e.at(&label_of(ep)))
}

impl<L> Opened<L> {
    pub(crate) fn try_map<M>(
        self,
        f: impl FnOnce(L) -> Result<M, Error>,
    ) -> Result<Opened<M>, Error> {
        Ok(Opened {
            link: f(self.link)?,
            peer_cred: self.peer_cred,
            cleanup: self.cleanup,
            local: self.local,
        })
    }

    pub(crate) fn map<M>(self, f: impl FnOnce(L) -> M) -> Opened<M> {
        Opened {
            link: f(self.link),
            peer_cred: self.peer_cred,
            cleanup: self.cleanup,
            local: self.local,
        }
    }
}

impl<L> Opened<Option<L>> {
    /// Unwraps a half that the hello promised.
    fn lift(self, what: &str) -> Result<Opened<L>, Error> {
        match self.link {
            Some(link) => Ok(Opened {
                link,
                peer_cred: self.peer_cred,
                cleanup: self.cleanup,
                local: self.local,
            }),
            None => Err(Error::new(
                ErrorKind::Unsupported,
                format!("this end does not {what}"),
            )),
        }
    }
}

fn not_connection_oriented(ep: &Endpoint) -> Error {
    Error::new(
        ErrorKind::Unsupported,
        format!(
            "{}: has no connections; listeners and two-way connections need unix:, \
             unix+seqpacket: or tcp:",
            ep.scheme().name()
        ),
    )
}

/// Runs `open` until it stops failing with `NoPeer` or the deadline passes.
pub(crate) fn retry_while_nobody_there<L>(
    deadline: Deadline<'_>,
    label: &Arc<str>,
    mut open: impl FnMut() -> Result<L, Error>,
) -> Result<L, Error> {
    let mut pause = Duration::from_millis(1);
    loop {
        match open() {
            Err(e) if e.kind() == ErrorKind::NoPeer && deadline.is_stopped() => {
                return Err(crate::Stop::error("waiting for a receiver").at(label))
            }
            Err(e)
                if e.kind() == ErrorKind::NoPeer
                    && deadline.instant().is_some_and(|d| Instant::now() < d) =>
            {
                // Waiting for another process to appear: there is no event to
                // wait on for "somebody binds this address", so back off (a
                // stop wakes the pause at once).
                crate::sys::pause(pause, deadline);
                pause = (pause * 2).min(Duration::from_millis(20));
            }
            Err(e) if e.kind() == ErrorKind::NoPeer && !deadline.is_unlimited() => {
                return Err(
                    Error::new(ErrorKind::TimedOut, "nobody came before the timeout").at(label),
                )
            }
            other => return other.map_err(|e| e.at(label)),
        }
    }
}

/// Who may connect to a listener: `allow_uid=`, or for an abstract Unix
/// socket, which has no file mode to keep strangers out, this process's
/// own uid alone (path sockets are guarded by their 0600 file).
fn allowed_uids(ep: &Endpoint) -> Vec<u32> {
    let given = &ep.options().allow_uid;
    match ep.address() {
        Address::Unix(_, crate::endpoint::UnixAddr::Abstract(_)) if given.is_empty() => {
            vec![rustix::process::geteuid().as_raw()]
        }
        _ => given.clone(),
    }
}
