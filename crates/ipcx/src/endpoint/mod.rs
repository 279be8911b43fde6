//! The endpoint grammar: one string names any endpoint.
//!
//! ```text
//! endpoint = scheme ":" address [ "?" option *( "&" option ) ]
//! option   = key "=" value
//! ```
//!
//! | scheme            | address                    | example                          |
//! |-------------------|----------------------------|----------------------------------|
//! | `pipe`            | empty, or an inherited fd  | `pipe:` · `pipe:3`               |
//! | `fifo`            | a path                     | `fifo:/run/app/in`               |
//! | `unix`            | a path, or `@` + name      | `unix:/run/app.sock` · `unix:@app` |
//! | `unix+seqpacket`  | as `unix`                  | `unix+seqpacket:/run/x`          |
//! | `unix+dgram`      | as `unix`                  | `unix+dgram:@y`                  |
//! | `tcp`             | host `:` port              | `tcp:127.0.0.1:7000` · `tcp:[::1]:7000` |
//! | `udp`             | host `:` port              | `udp:localhost:7001`             |
//! | `mq`              | `/name`                    | `mq:/jobs?maxmsg=10&msgsize=8192` |
//! | `sysvmq`          | a key, or a path for `ftok` | `sysvmq:0x2a` · `sysvmq:/etc/app?proj=7` |
//! | `shm`             | `/name`                    | `shm:/frames?capacity=4MiB&readers=2` |
//! | `nats`            | `//` servers `/` subject   | `nats://127.0.0.1:4222/jobs?queue=workers` |
//! | `ws`              | `//` host `:` port path    | `ws://127.0.0.1:8080/frames`     |
//! | `wss`             | as `ws`, over TLS          | `wss://127.0.0.1:8443/frames?ca=/etc/ca.pem` |
//!
//! Options: `mode=` (octal, default `0600`), `max_msg=` (default `16MiB`),
//! `allow_uid=` (Unix stream/seqpacket listeners; an abstract one lets in
//! its own uid alone without it), `wait=adaptive|block|spin`, `serve=true`
//! (receivers keep taking new senders; not `pipe` or `shm`, whose one
//! sender is all they ever have), and per mechanism: `maxmsg=`,
//! `msgsize=`, `priority=` (`mq`), `type=`, `proj=` (`sysvmq`),
//! `persist=true` (queues and rings), `capacity=`, `readers=`,
//! `overflow=drop-oldest` (`shm`). [`Scheme::options`] lists what each
//! takes; a key it does not take is an error naming the valid ones. Paths
//! escape `%`, `?` and non-printable bytes as `%XX`.
//!
//! Printing an endpoint gives its canonical string, and parsing that string
//! gives the same endpoint back:
//!
//! ```
//! use ipcx::Endpoint;
//! let ep: Endpoint = "unix:/tmp/app.sock?max_msg=64KiB".parse()?;
//! assert_eq!(ep.to_string(), "unix:/tmp/app.sock?max_msg=64KiB");
//! assert_eq!(ep.to_string().parse::<Endpoint>()?, ep);
//! # Ok::<(), ipcx::Error>(())
//! ```

mod escape;
mod options;
mod parse;
mod scheme;

use std::fmt;
use std::net::IpAddr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

pub(crate) use options::Key;
pub use options::{
    format_size, parse_size, Options, Overflow, RemoteOptions, WaitMode, DEFAULT_MAX_MSG,
    DEFAULT_MODE, MAX_MAX_MSG,
};
pub use scheme::{Scheme, SchemeInfo, TABLE as TABLE_OF_SCHEMES};

/// A parsed endpoint: which mechanism, where, and with which options.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    address: Address,
    options: Options,
}

/// Where an endpoint is, per mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Address {
    /// An anonymous pipe: `None` asks for a new one, `Some(fd)` adopts an
    /// end inherited from the parent process.
    Pipe(Option<i32>),
    /// A named pipe at a path.
    Fifo(PathBuf),
    /// A Unix domain socket.
    Unix(UnixKind, UnixAddr),
    /// A TCP socket.
    Tcp(HostPort),
    /// A UDP socket.
    Udp(HostPort),
    /// A POSIX message queue, by name (`/jobs`).
    Mq(String),
    /// A System V message queue.
    SysvMq(SysvKey),
    /// A POSIX shared-memory ring, by name (`/frames`).
    Shm(String),
    /// A NATS subject on a server (or cluster).
    Nats(NatsAddr),
    /// A WebSocket endpoint (`ws://`, or `wss://` when `tls`).
    WebSocket(WsAddr),
}

/// Where a `ws://` or `wss://` endpoint is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WsAddr {
    /// `wss://`: TLS.
    pub tls: bool,
    /// The host and port (a receiver binds it; port 0 picks a free one).
    pub at: HostPort,
    /// The request path, from `/`.
    pub path: String,
}

/// Where a `nats://` endpoint is: the servers to try, and the subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NatsAddr {
    /// The servers, in the order they are tried (one, or a cluster's nodes).
    pub servers: Vec<HostPort>,
    /// The subject: dot-separated tokens; a receiver's may hold the
    /// wildcards `*` (one token) and `>` (the rest).
    pub subject: String,
}

/// How a System V object is named.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SysvKey {
    /// A numeric IPC key (written in hex, `0x2a`).
    Key(u32),
    /// A path given to `ftok` with the `proj` option.
    Path(PathBuf),
}

/// The three Unix socket types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnixKind {
    /// `SOCK_STREAM`: a byte stream; ipcx frames each message.
    Stream,
    /// `SOCK_SEQPACKET`: connected, reliable, with message boundaries.
    SeqPacket,
    /// `SOCK_DGRAM`: connectionless datagrams.
    Dgram,
}

/// A Unix socket address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UnixAddr {
    /// A socket file in the filesystem.
    Path(PathBuf),
    /// A Linux abstract-namespace name (written `@name`; no file, no permissions).
    Abstract(Vec<u8>),
}

/// A host and port for TCP and UDP.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// The host: an IP address or a name resolved at open.
    pub host: Host,
    /// The port; 0 asks the kernel for a free one when binding.
    pub port: u16,
}

/// The host part of a [`HostPort`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// An IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A host name such as `localhost`.
    Name(String),
}

impl Endpoint {
    /// Makes an endpoint from an address and options.
    pub fn new(address: Address, options: Options) -> Endpoint {
        Endpoint { address, options }
    }

    /// Where the endpoint is.
    pub fn address(&self) -> &Address {
        &self.address
    }

    /// Its options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Its options, to change before opening.
    pub fn options_mut(&mut self) -> &mut Options {
        &mut self.options
    }

    /// The mechanism it names.
    pub fn scheme(&self) -> Scheme {
        match &self.address {
            Address::Pipe(_) => Scheme::Pipe,
            Address::Fifo(_) => Scheme::Fifo,
            Address::Unix(UnixKind::Stream, _) => Scheme::Unix,
            Address::Unix(UnixKind::SeqPacket, _) => Scheme::UnixSeqPacket,
            Address::Unix(UnixKind::Dgram, _) => Scheme::UnixDgram,
            Address::Tcp(_) => Scheme::Tcp,
            Address::Udp(_) => Scheme::Udp,
            Address::Mq(_) => Scheme::Mq,
            Address::SysvMq(_) => Scheme::SysvMq,
            Address::Shm(_) => Scheme::Shm,
            Address::Nats(_) => Scheme::Nats,
            Address::WebSocket(WsAddr { tls: false, .. }) => Scheme::Ws,
            Address::WebSocket(WsAddr { tls: true, .. }) => Scheme::Wss,
        }
    }

    /// The path of the file this endpoint creates or opens, if it has one.
    pub fn path(&self) -> Option<&std::path::Path> {
        match &self.address {
            Address::Fifo(p) | Address::Unix(_, UnixAddr::Path(p)) => Some(p),
            _ => None,
        }
    }
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            Host::Ip(IpAddr::V4(ip)) => write!(f, "{ip}:{}", self.port),
            Host::Name(name) => write!(f, "{name}:{}", self.port),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(64);
        out.push_str(self.scheme().name());
        out.push(':');
        match &self.address {
            Address::Pipe(None) => {}
            Address::Pipe(Some(fd)) => out.push_str(&fd.to_string()),
            Address::Fifo(path) => escape::escape_into(&mut out, path.as_os_str().as_bytes()),
            Address::Unix(_, UnixAddr::Path(path)) => {
                // A leading `@` would read back as an abstract name.
                let bytes = path.as_os_str().as_bytes();
                if let Some(rest) = bytes.strip_prefix(b"@") {
                    out.push_str("%40");
                    escape::escape_into(&mut out, rest);
                } else {
                    escape::escape_into(&mut out, bytes);
                }
            }
            Address::Unix(_, UnixAddr::Abstract(name)) => {
                out.push('@');
                escape::escape_into(&mut out, name);
            }
            Address::Tcp(hp) | Address::Udp(hp) => out.push_str(&hp.to_string()),
            Address::Mq(name) | Address::Shm(name) => {
                escape::escape_into(&mut out, name.as_bytes())
            }
            Address::SysvMq(SysvKey::Key(key)) => out.push_str(&format!("{key:#x}")),
            Address::SysvMq(SysvKey::Path(path)) => {
                escape::escape_into(&mut out, path.as_os_str().as_bytes())
            }
            Address::Nats(addr) => {
                out.push_str("//");
                let servers: Vec<String> = addr.servers.iter().map(HostPort::to_string).collect();
                out.push_str(&servers.join(","));
                out.push('/');
                out.push_str(&addr.subject);
            }
            Address::WebSocket(addr) => {
                out.push_str("//");
                out.push_str(&addr.at.to_string());
                escape::escape_into(&mut out, addr.path.as_bytes());
            }
        }
        let mut sep = '?';
        for key in Key::ALL {
            if self.options.is_set(key) {
                out.push(sep);
                out.push_str(key.name());
                out.push('=');
                self.options.write_value(key, &mut out);
                sep = '&';
            }
        }
        f.write_str(&out)
    }
}

/// Anything that names an endpoint: a string, or an [`Endpoint`].
pub trait ToEndpoint {
    /// Parses or clones into an [`Endpoint`].
    fn to_endpoint(&self) -> Result<Endpoint, crate::Error>;
}

impl ToEndpoint for Endpoint {
    fn to_endpoint(&self) -> Result<Endpoint, crate::Error> {
        Ok(self.clone())
    }
}

impl ToEndpoint for str {
    fn to_endpoint(&self) -> Result<Endpoint, crate::Error> {
        self.parse()
    }
}

impl ToEndpoint for String {
    fn to_endpoint(&self) -> Result<Endpoint, crate::Error> {
        self.parse()
    }
}

impl<T: ToEndpoint + ?Sized> ToEndpoint for &T {
    fn to_endpoint(&self) -> Result<Endpoint, crate::Error> {
        (**self).to_endpoint()
    }
}
