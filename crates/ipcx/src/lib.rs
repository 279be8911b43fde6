//! Every Linux IPC mechanism behind one typed, Go-channel-like API.
//!
//! An endpoint string picks the mechanism; [`Sender`] and [`Receiver`]
//! behave the same on all of them: message boundaries, `send` blocking
//! while the channel is full, timeouts, the end of the channel when every
//! sender is gone, and a type check when the two ends meet.
//!
//! ```
//! use ipcx::{Receiver, Sender};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Job { id: u32, name: String }
//!
//! # let dir = std::env::temp_dir().join(format!("ipcx-doc-lib-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let endpoint = format!("unix:{}/jobs.sock", dir.display()); // or fifo:, tcp:, unix+seqpacket:, ...
//! let jobs = Receiver::<Job>::open(&endpoint)?;
//! let producer = Sender::<Job>::open(&endpoint)?;
//! producer.send(Job { id: 1, name: "resize".into() })?;
//! drop(producer);
//! let received: Vec<Job> = jobs.iter().collect(); // ends when every sender is gone
//! assert_eq!(received, [Job { id: 1, name: "resize".into() }]);
//! # drop(jobs); std::fs::remove_dir(&dir)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Mechanisms
//! See [`endpoint`] for the grammar. `pipe:`, `fifo:`, `unix:`, `tcp:` are
//! byte streams that ipcx frames (`docs/wire.md`); `unix+seqpacket:`,
//! `unix+dgram:` and `udp:` keep boundaries themselves and refuse a message
//! larger than they can carry instead of cutting it.
//!
//! `shm:/name` is a lock-free ring in shared memory (the `ipcx-ring`
//! crate): no syscall per message while both sides are awake, loans
//! ([`Sender::send_with`]) and in-place reads ([`Receiver::recv_bytes_with`],
//! [`Pod`] for `#[repr(C)]` values), broadcast to `readers=N` receivers,
//! and crash safety: a killed sender never shows a torn message, and a
//! dead peer is reported within 100 ms.
//!
//! # Async (tokio)
//! With the cargo feature `tokio`, the module `ipcx::tokio` has async
//! ends for every transport over the same links and wire: an async
//! receiver takes from a blocking sender in another process and the other
//! way round. Receives are cancel safe, a send is whole or not at all,
//! the receiver is a `futures::Stream` and the sender a `futures::Sink`,
//! and both work in `tokio::select!`. Fd transports wait in tokio's
//! reactor, `shm:` on its doorbell (a busy stream makes no system call),
//! System V queues by pauses growing to 5 ms.
//!
//! ```toml
//! ipcx = { version = "0.1", features = ["tokio"] }
//! ```
//!
#![cfg_attr(feature = "tokio", doc = "```")]
#![cfg_attr(not(feature = "tokio"), doc = "```ignore")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//!
//! let endpoint = format!("shm:/ipcx-doc-lib-async-{}", std::process::id());
//! let mut rx = ipcx::tokio::Receiver::<u32>::open(&endpoint)?;
//! let mut tx = ipcx::tokio::Sender::<u32>::open(&endpoint).await?;
//! tx.send(1).await?;
//! tokio::select! {
//!     job = rx.recv() => assert_eq!(job?, 1),
//!     _ = tokio::time::sleep(Duration::from_secs(5)) => panic!("no message"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Semantics
//! * [`Sender::send`] blocks while full, [`Sender::try_send`] gives the
//!   message back as [`TrySendError::Full`], [`Sender::send_timeout`] waits
//!   a while. A deadline bounds the wait for room; a message once begun on
//!   a byte stream is always finished, so the stream never tears.
//! * [`Receiver::recv`] blocks while empty and returns
//!   [`RecvError::Disconnected`] after the last message of the last sender.
//! * Connections start with a hello declaring the message type's
//!   [`Identity`]: its [`std::any::type_name`] without module paths and
//!   its shape (fields, their types, enum variants), so separate programs
//!   that each define the same `struct Job` agree and a `Job` of another
//!   shape is refused with [`ErrorKind::TypeMismatch`] (at the hello on
//!   connections, per message on datagrams and queues). A [`Bytes`]
//!   receiver takes any type.
//! * Bad input from a peer is an [`Error`] naming the endpoint; it never
//!   panics or allocates what the peer claims beyond `max_msg`.
//! * Files ipcx creates are `0600` unless `mode=` says otherwise; opening
//!   never follows a symlink planted where ipcx creates.
//! * ipcx relies on `SIGPIPE` being ignored, as Rust programs do by default.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod channel;
mod codec;
pub mod endpoint;
mod error;
pub mod inspect;
mod link;
pub mod pipe;
pub mod raw;
pub mod rpc;
pub mod signal;
pub mod stats;
mod stop;
pub mod sync;
mod sys;
#[cfg(feature = "tokio")]
pub mod tokio;
mod transport;
mod wire;

/// Entry points for the fuzz targets in `fuzz/` (built with `--cfg
/// fuzzing` only; not an API).
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes a hello record from untrusted bytes.
    pub fn hello(bytes: &[u8]) {
        if let Ok((hello, len)) = crate::wire::hello::Hello::decode(bytes) {
            assert!(len <= bytes.len());
            let mut again = Vec::new();
            hello.encode(&mut again);
            assert_eq!(
                crate::wire::hello::Hello::decode(&again).map(|(_, n)| n),
                Ok(again.len())
            );
        }
    }

    /// Decodes a datagram header from untrusted bytes.
    pub fn datagram_header(bytes: &[u8]) {
        let _ = crate::wire::datagram::Header::decode(bytes);
    }

    /// Decodes a postcard payload as a typed message.
    pub fn payload(bytes: &[u8]) {
        let _ = crate::codec::decode::<(u64, String, Vec<u8>)>(bytes);
    }
}

#[doc(hidden)]
pub use channel::{__select_recv_result, __select_send_result};
pub use channel::{
    ByteReceiver, ByteSender, Bytes, Duplex, InPlace, IntoIter, Iter, Listener, OpenOptions, Pod,
    ReadyTimeoutError, Receiver, ReceiverGuard, Select, Sender, SenderGuard, TryReadyError, WaitOn,
};
pub use codec::{Identity, Message};
pub use endpoint::{Endpoint, Scheme, UnixKind};
pub use error::{
    Error, ErrorKind, RecvError, RecvTimeoutError, SendError, SendTimeoutError, TryRecvError,
    TrySendError,
};
pub use stop::{Stop, STOP_SIGNALS};
pub use sys::PeerCred;
