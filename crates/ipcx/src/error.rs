//! Errors: one [`Error`] for set-up and I/O failures, and Go-channel style
//! send/receive errors that give an unsent message back.

use std::fmt;
use std::io;
use std::sync::Arc;

/// What went wrong, broadly. Match on this rather than on the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The endpoint string does not follow the grammar (see [`crate::Endpoint`]).
    InvalidEndpoint,
    /// The endpoint is valid but this operation does not apply to it
    /// (e.g. `pipe:` with no inherited fd on the command line).
    Unsupported,
    /// Nobody is there: no listener on a socket, no reader on a FIFO.
    NoPeer,
    /// The address is taken by a live listener.
    AddrInUse,
    /// The kernel refused access (file permissions, peer uid not allowed).
    PermissionDenied,
    /// The two ends disagree on the message type.
    TypeMismatch,
    /// A message is larger than `max_msg` or than the transport can carry.
    TooLarge,
    /// The peer sent bytes that do not follow the ipcx wire format
    /// (bad magic, truncated frame, garbage).
    Protocol,
    /// A payload could not be encoded with serde.
    Encode,
    /// A payload could not be decoded into the receiver's type.
    Decode,
    /// Opening did not complete before its deadline.
    TimedOut,
    /// A [`Stop`](crate::Stop) ended the operation (an orderly stop, not a fault).
    Stopped,
    /// Any other operating-system error.
    Io,
}

/// A failure with what failed, where, and why.
///
/// The `Display` text is meant for people: it names the endpoint and says
/// what to do where that is known.
#[derive(Clone)]
pub struct Error {
    kind: ErrorKind,
    endpoint: Option<Arc<str>>,
    detail: String,
    source: Option<Arc<io::Error>>,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, detail: impl Into<String>) -> Self {
        Error {
            kind,
            endpoint: None,
            detail: detail.into(),
            source: None,
        }
    }

    pub(crate) fn io(detail: impl Into<String>, err: io::Error) -> Self {
        let kind = match err.kind() {
            io::ErrorKind::PermissionDenied => ErrorKind::PermissionDenied,
            io::ErrorKind::AddrInUse => ErrorKind::AddrInUse,
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => ErrorKind::NoPeer,
            io::ErrorKind::TimedOut => ErrorKind::TimedOut,
            _ => ErrorKind::Io,
        };
        Error {
            kind,
            endpoint: None,
            detail: detail.into(),
            source: Some(Arc::new(err)),
        }
    }

    /// Names the endpoint the error is about (kept if one is already set).
    pub(crate) fn at(mut self, endpoint: &Arc<str>) -> Self {
        if self.endpoint.is_none() {
            self.endpoint = Some(endpoint.clone());
        }
        self
    }

    /// The broad class of the failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The endpoint the failure is about, as its canonical string.
    pub fn endpoint(&self) -> Option<&str> {
        self.endpoint.as_deref()
    }

    /// The operating-system error behind this one, if any.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.source.as_deref()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(ep) = &self.endpoint {
            write!(f, "{ep}: ")?;
        }
        f.write_str(&self.detail)?;
        if let Some(src) = &self.source {
            write!(f, ": {src}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("endpoint", &self.endpoint)
            .field("detail", &self.detail)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind {
            ErrorKind::NoPeer => io::ErrorKind::NotFound,
            ErrorKind::AddrInUse => io::ErrorKind::AddrInUse,
            ErrorKind::PermissionDenied => io::ErrorKind::PermissionDenied,
            ErrorKind::TimedOut => io::ErrorKind::TimedOut,
            ErrorKind::InvalidEndpoint | ErrorKind::Unsupported => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Why a transport operation did not complete. Internal: the public
/// methods turn it into the error type of the call (send, try_send, ...).
#[derive(Debug)]
pub(crate) enum Fail {
    /// Full (send) or empty (receive) when the deadline passed.
    NotReady,
    /// The peer is gone; no more messages will pass.
    Disconnected,
    /// The deadline's [`Stop`](crate::Stop) was triggered while waiting.
    Stopped,
    /// Something else; the message says what.
    Error(Error),
}

impl From<crate::sys::Woke> for Result<(), Fail> {
    /// A wait's end as the link sees it: go on, or give up.
    fn from(woke: crate::sys::Woke) -> Self {
        match woke {
            crate::sys::Woke::Ready => Ok(()),
            crate::sys::Woke::TimedOut => Err(Fail::NotReady),
            crate::sys::Woke::Stopped => Err(Fail::Stopped),
        }
    }
}

impl Fail {
    /// An OS error from `what`, at the endpoint `label`.
    pub(crate) fn io(what: &str, e: std::io::Error, label: &Arc<str>) -> Fail {
        Error::io(what, e).at(label).into()
    }

    /// A message above `max_msg` (`limit`); `note` says where the limit
    /// comes from (may be empty).
    pub(crate) fn too_large(len: usize, limit: u32, note: &str, label: &Arc<str>) -> Fail {
        let sep = if note.is_empty() { "" } else { ": " };
        Error::new(
            ErrorKind::TooLarge,
            format!("a {len}-byte message is larger than max_msg ({limit} bytes){sep}{note}"),
        )
        .at(label)
        .into()
    }

    /// A message (ipcx's 16-byte header included) above what one queue
    /// message or datagram carries (`what`, `limit` bytes).
    pub(crate) fn too_big_for(len: usize, limit: usize, what: &str, label: &Arc<str>) -> Fail {
        Error::new(
            ErrorKind::TooLarge,
            format!(
                "a {len}-byte message (16 of them ipcx's header) exceeds {what}, {limit} bytes; \
                 ipcx does not split messages"
            ),
        )
        .at(label)
        .into()
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Error(e)
    }
}

macro_rules! send_error_common {
    ($name:ident { $($variant:ident),* }) => {
        impl<T> $name<T> {
            /// Gives the message that was not sent back.
            pub fn into_inner(self) -> T {
                match self {
                    $($name::$variant(msg) => msg,)*
                    $name::Failed(msg, _) => msg,
                }
            }
        }
        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => write!(f, "{}::{}(..)", stringify!($name), stringify!($variant)),)*
                    $name::Failed(_, e) => write!(f, "{}::Failed(.., {e:?})", stringify!($name)),
                }
            }
        }
        impl<T> fmt::Display for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str(describe(stringify!($variant))),)*
                    $name::Failed(_, e) => write!(f, "sending failed: {e}"),
                }
            }
        }
        impl<T> std::error::Error for $name<T> {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $name::Failed(_, e) => Some(e),
                    _ => None,
                }
            }
        }
    };
}

fn describe(variant: &str) -> &'static str {
    match variant {
        "Full" => "sending on a full channel",
        "Timeout" => "timed out sending on a full channel",
        _ => "sending on a disconnected channel",
    }
}

/// [`Sender::send`](crate::Sender::send) failed; the message is given back.
pub enum SendError<T> {
    /// Every receiver is gone.
    Disconnected(T),
    /// The message could not be sent for another reason (too large, I/O error, ...).
    Failed(T, Error),
}
send_error_common!(SendError { Disconnected });

/// [`Sender::try_send`](crate::Sender::try_send) failed; the message is given back.
pub enum TrySendError<T> {
    /// The channel is full right now.
    Full(T),
    /// Every receiver is gone.
    Disconnected(T),
    /// The message could not be sent for another reason.
    Failed(T, Error),
}
send_error_common!(TrySendError { Full, Disconnected });

/// [`Sender::send_timeout`](crate::Sender::send_timeout) failed; the message is given back.
pub enum SendTimeoutError<T> {
    /// The channel stayed full until the timeout.
    Timeout(T),
    /// Every receiver is gone.
    Disconnected(T),
    /// The message could not be sent for another reason.
    Failed(T, Error),
}
send_error_common!(SendTimeoutError {
    Timeout,
    Disconnected
});

impl<T> TrySendError<T> {
    /// True when the channel was full.
    pub fn is_full(&self) -> bool {
        matches!(self, TrySendError::Full(_))
    }
    /// True when every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, TrySendError::Disconnected(_))
    }
}

impl<T> SendTimeoutError<T> {
    /// True when the channel stayed full until the timeout.
    pub fn is_timeout(&self) -> bool {
        matches!(self, SendTimeoutError::Timeout(_))
    }
    /// True when every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendTimeoutError::Disconnected(_))
    }
}

impl<T> SendError<T> {
    /// True when every receiver is gone.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendError::Disconnected(_))
    }
}

/// [`Receiver::recv`](crate::Receiver::recv) failed.
#[derive(Debug, Clone)]
pub enum RecvError {
    /// Every sender is gone and everything they sent has been received.
    Disconnected,
    /// A message or connection failed; the receiver itself goes on
    /// (other connections and later messages are unaffected).
    Failed(Error),
}

/// [`Receiver::try_recv`](crate::Receiver::try_recv) failed.
#[derive(Debug, Clone)]
pub enum TryRecvError {
    /// Nothing to receive right now.
    Empty,
    /// Every sender is gone.
    Disconnected,
    /// A message or connection failed; the receiver goes on.
    Failed(Error),
}

/// [`Receiver::recv_timeout`](crate::Receiver::recv_timeout) failed.
#[derive(Debug, Clone)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the timeout.
    Timeout,
    /// Every sender is gone.
    Disconnected,
    /// A message or connection failed; the receiver goes on.
    Failed(Error),
}

macro_rules! recv_error_common {
    ($name:ident, $($variant:ident => $text:expr),*) => {
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant => f.write_str($text),)*
                    $name::Failed(e) => write!(f, "receiving failed: {e}"),
                }
            }
        }
        impl std::error::Error for $name {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                match self {
                    $name::Failed(e) => Some(e),
                    _ => None,
                }
            }
        }
    };
}
recv_error_common!(RecvError, Disconnected => "receiving on a disconnected channel");
recv_error_common!(TryRecvError, Empty => "receiving on an empty channel",
    Disconnected => "receiving on a disconnected channel");
recv_error_common!(RecvTimeoutError, Timeout => "timed out receiving on an empty channel",
    Disconnected => "receiving on a disconnected channel");

impl From<Fail> for RecvError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::Error(e) => RecvError::Failed(e),
            // Without a deadline NotReady cannot happen; treat it as the end.
            // A stopped receiver ends like a closed channel.
            Fail::NotReady | Fail::Disconnected | Fail::Stopped => RecvError::Disconnected,
        }
    }
}

impl From<Fail> for TryRecvError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::NotReady => TryRecvError::Empty,
            Fail::Disconnected | Fail::Stopped => TryRecvError::Disconnected,
            Fail::Error(e) => TryRecvError::Failed(e),
        }
    }
}

impl From<Fail> for RecvTimeoutError {
    fn from(f: Fail) -> Self {
        match f {
            Fail::NotReady => RecvTimeoutError::Timeout,
            Fail::Disconnected | Fail::Stopped => RecvTimeoutError::Disconnected,
            Fail::Error(e) => RecvTimeoutError::Failed(e),
        }
    }
}

impl<T> SendError<T> {
    pub(crate) fn from_fail(f: Fail, msg: T) -> Self {
        match f {
            Fail::Error(e) => SendError::Failed(msg, e),
            Fail::Stopped => SendError::Failed(msg, crate::Stop::error("send")),
            Fail::NotReady | Fail::Disconnected => SendError::Disconnected(msg),
        }
    }
}

impl<T> TrySendError<T> {
    pub(crate) fn from_fail(f: Fail, msg: T) -> Self {
        match f {
            Fail::NotReady => TrySendError::Full(msg),
            Fail::Disconnected => TrySendError::Disconnected(msg),
            Fail::Stopped => TrySendError::Failed(msg, crate::Stop::error("send")),
            Fail::Error(e) => TrySendError::Failed(msg, e),
        }
    }
}

impl<T> SendTimeoutError<T> {
    pub(crate) fn from_fail(f: Fail, msg: T) -> Self {
        match f {
            Fail::NotReady => SendTimeoutError::Timeout(msg),
            Fail::Disconnected => SendTimeoutError::Disconnected(msg),
            Fail::Stopped => SendTimeoutError::Failed(msg, crate::Stop::error("send")),
            Fail::Error(e) => SendTimeoutError::Failed(msg, e),
        }
    }
}
