//! The end a Python object holds, until `close()`: shared by `Sender` and
//! `Receiver`, whose calls after a close raise `Disconnected`.
//!
//! The rule that keeps the GIL and the ends' locks from deadlocking: every
//! lock that may be held by a thread waiting for the GIL (the end's own,
//! this slot's for writing) is taken with the GIL released.

use std::sync::RwLock;

use pyo3::prelude::*;

use crate::errors::disconnected;

#[derive(Debug)]
pub(crate) struct Slot<T>(RwLock<Option<T>>);

impl<T: Send + Sync> Slot<T> {
    pub(crate) fn new(end: T) -> Slot<T> {
        Slot(RwLock::new(Some(end)))
    }

    /// Runs `f` on the end; `Disconnected` once closed (`what` says which).
    pub(crate) fn with<R>(&self, what: &str, f: impl FnOnce(&T) -> PyResult<R>) -> PyResult<R> {
        let end = self.0.read().unwrap_or_else(|p| p.into_inner());
        match end.as_ref() {
            Some(end) => f(end),
            None => Err(disconnected(&format!("this {what} is closed"))),
        }
    }

    /// Drops the end without the GIL (a sender's drop waits for what it
    /// queued to go out). The lock is taken without the GIL too: a call in
    /// another thread may hold it while it waits for the GIL (a loan's
    /// fill, a received message made into bytes).
    pub(crate) fn close(&self, py: Python<'_>) {
        py.detach(|| {
            let end = self.0.write().unwrap_or_else(|p| p.into_inner()).take();
            drop(end);
        });
    }
}
