//! The runtime the remote transports (`nats://`, `ws://`) run on: one thread of its own per process,
//! started at the first remote open, so blocking ends need no runtime
//! of the caller's and async ends do not care which one they run on.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::error::{Error, ErrorKind};
use crate::sys::Deadline;

/// The runtime's handle, started on first use.
pub(crate) fn handle() -> Result<&'static Handle, Error> {
    static RUNTIME: OnceLock<Result<Handle, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("ipcx-remote".into())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .map_err(|e| e.to_string())?;
            Ok(handle)
        })
        .as_ref()
        .map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot start the runtime of remote endpoints: {e}"),
            )
        })
}

/// Runs `work` on the runtime and waits for it, until `deadline` (which
/// may carry a stop) passes: then it is left to finish on its own.
pub(crate) fn run<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
    deadline: Deadline<'_>,
    what: &str,
) -> Result<T, Error> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    handle()?.spawn(async move {
        let _ = tx.send(work.await);
    });
    // Slices, so a stop is noticed within one.
    const SLICE: Duration = Duration::from_millis(20);
    loop {
        let slice = deadline.left().map_or(SLICE, |left| left.min(SLICE));
        match rx.recv_timeout(slice) {
            Ok(done) => return Ok(done),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("{what}: the runtime of remote endpoints stopped"),
                ))
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        if deadline.is_stopped() {
            return Err(Error::new(ErrorKind::Stopped, format!("{what}: stopped")));
        }
        if deadline.has_passed() {
            return Err(Error::new(
                ErrorKind::TimedOut,
                format!("{what}: timed out"),
            ));
        }
    }
}
