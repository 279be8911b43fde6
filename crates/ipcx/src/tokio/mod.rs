//! Async ends for [tokio](https://tokio.rs) (cargo feature `tokio`): the
//! same endpoints, links, handshakes and wire as the blocking API, so an
//! async end and a blocking one in another process are peers like any
//! other.
//!
//! | | waits on | per message when busy |
//! |---|---|---|
//! | pipes, FIFOs, Unix and TCP sockets, UDP, POSIX queues | the end's fd, in tokio's reactor (`AsyncFd`) | the one syscall the blocking end makes |
//! | `shm:` | the ring's doorbell, an fd rung by the other side only when this end sleeps | no syscall |
//! | `sysvmq:` (no fd) | a timer: pauses growing from 50 µs to 5 ms | the one `msgrcv`/`msgsnd`; an idle end wakes every 5 ms |
//!
//! Nothing spins: where the blocking end polls for a while before sleeping
//! (`wait=adaptive`), an async one sleeps at once and lets other tasks run.
//!
//! **Cancellation.** [`Receiver::recv`] is cancel safe: a dropped future
//! loses no message. A dropped [`Sender::send`] sent the whole message or
//! none of it (see [`Sender`] for byte streams). Both work inside
//! `tokio::select!`; [`Receiver`] is a `futures::Stream`, [`Sender`] a
//! `futures::Sink`. [`Listener`] and [`Duplex`] are the two-way
//! connections of `unix:`, `unix+seqpacket:` and `tcp:`. A [`Stop`](crate::Stop) ends waiting operations as in
//! the blocking API (a stop from [`Stop::on_signals`](crate::Stop::on_signals)
//! turns SIGTERM into an orderly end), and [`Stop::wait`](crate::Stop::wait)
//! has an async twin, [`stopped`].
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let id = std::process::id();
//! let mut frames = ipcx::tokio::Receiver::<u32>::open(format!("shm:/ipcx-doc-tokio-{id}"))?;
//! let mut jobs = ipcx::tokio::Receiver::<u32>::open(format!("unix:@ipcx-doc-tokio-{id}"))?;
//! let mut tx = ipcx::tokio::Sender::<u32>::open(frames.endpoint()).await?;
//! tx.send(1).await?;
//! tokio::select! {
//!     got = frames.recv() => assert_eq!(got?, 1),
//!     _ = jobs.recv() => unreachable!("nobody sends jobs"),
//! }
//! # Ok(()) }
//! ```

mod drive;
mod duplex;
mod receiver;
pub mod rpc;
mod sender;
mod wait;

pub use duplex::{Duplex, Listener};
pub use receiver::Receiver;
pub use sender::Sender;

use crate::error::{Error, Fail};

/// How many ready-but-nothing-there rounds one poll makes before it lets
/// other tasks run (a readiness that keeps firing must not hog a thread).
const STEPS_BEFORE_YIELD: usize = 32;

fn io_fail(what: &str, e: std::io::Error) -> Fail {
    Fail::Error(Error::io(what, e))
}

/// Waits until `stop` is triggered (a signal, with [`Stop::on_signals`](crate::Stop::on_signals)),
/// without a thread: the async twin of [`Stop::wait`](crate::Stop::wait).
pub async fn stopped(stop: &crate::Stop) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    if stop.is_stopped() {
        return Ok(());
    }
    let fd = wait::watch(stop.as_fd(), tokio::io::Interest::READABLE)?;
    loop {
        let mut guard = fd.readable().await?;
        if stop.is_stopped() {
            return Ok(());
        }
        guard.clear_ready();
    }
}
