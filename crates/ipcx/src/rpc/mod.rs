//! Request/reply: typed calls over the two-way transports (`unix:` path
//! and abstract, `unix+seqpacket:`, `tcp:`) and over `shm:`, where each
//! client gets a pair of rings (a call costs no system call while both
//! sides are awake; see docs/wire.md, "Calls over shm:").
//!
//! A [`Client`] sends a request and waits for its reply, with a deadline,
//! many calls in flight from many threads on one connection. A [`Server`]
//! accepts many clients and answers each request with a handler on a
//! bounded pool of workers. A handler's error (or panic) reaches the
//! caller as [`CallError::Remote`]; a server that goes away fails the
//! calls waiting on it with [`CallError::Disconnected`]; a deadline that
//! passes is [`CallError::TimedOut`], and a late reply is dropped, never
//! handed to another call.
//!
//! On the wire each request, reply, error and cancel is one ipcx message
//! on the connection: a 12-byte header (kind, call id) and the body
//! (docs/wire.md, "Calls"). The hello declares `Request<Req>` and
//! `Reply<Resp>`, so a client and a server of other types are refused at
//! the first call with [`ErrorKind::TypeMismatch`](crate::ErrorKind::TypeMismatch).
//! `Client<Bytes, Bytes>` and `Server<Bytes, Bytes>` carry raw bytes
//! (`ipcx call` and `ipcx serve`).
//!
//! ```
//! use ipcx::rpc::{CallError, Client, Server};
//! # let ep = format!("unix:@ipcx-doc-rpc-mod-{}", std::process::id());
//! let server = Server::<u64, u64>::bind(&ep)?;
//! std::thread::spawn(move || {
//!     server.serve(|n: u64| n.checked_mul(2).ok_or_else(|| format!("{n} is too large")))
//! });
//! let client = Client::<u64, u64>::connect_timeout(&ep, std::time::Duration::from_secs(5))?;
//! assert_eq!(client.call(&21)?, 42);
//! assert!(matches!(client.call(&u64::MAX), Err(CallError::Remote(e)) if e.contains("too large")));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod client;
pub(crate) mod frame;
pub(crate) mod server;
mod shm;

pub use client::Client;
pub use server::Server;

use std::fmt;

use crate::codec::{Identity, Message};
use crate::error::{Error, SendError, SendTimeoutError};

/// Why a call has no reply.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CallError {
    /// The handler answered with an error (or panicked): its text.
    Remote(String),
    /// No reply in time; should one come later, it is dropped.
    TimedOut,
    /// The connection ended before the reply (the server stopped, died or
    /// dropped this client).
    Disconnected,
    /// The request or reply could not go through: not encodable or
    /// decodable, refused (type mismatch), or an I/O error.
    Failed(Error),
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Remote(text) => write!(f, "the server answered with an error: {text}"),
            CallError::TimedOut => f.write_str("no reply in time"),
            CallError::Disconnected => {
                f.write_str("the connection to the server ended before the reply")
            }
            CallError::Failed(e) => write!(f, "the call failed: {e}"),
        }
    }
}

impl std::error::Error for CallError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CallError::Failed(e) => Some(e),
            _ => None,
        }
    }
}

impl<T> From<SendError<T>> for CallError {
    fn from(e: SendError<T>) -> Self {
        match e {
            SendError::Disconnected(_) => CallError::Disconnected,
            SendError::Failed(_, e) => CallError::Failed(e),
        }
    }
}

impl<T> From<SendTimeoutError<T>> for CallError {
    fn from(e: SendTimeoutError<T>) -> Self {
        match e {
            SendTimeoutError::Timeout(_) => CallError::TimedOut,
            SendTimeoutError::Disconnected(_) => CallError::Disconnected,
            SendTimeoutError::Failed(_, e) => CallError::Failed(e),
        }
    }
}

/// What a call connection declares: requests of `Req`, replies of `Resp`.
pub(crate) fn identities<Req: Message, Resp: Message>() -> (Identity, Identity) {
    (
        Identity::framed("Request", "rpc request", &Req::identity()),
        Identity::framed("Reply", "rpc reply", &Resp::identity()),
    )
}
