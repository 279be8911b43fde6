//! The end a Python object holds, until `close()`: shared by `Sender` and
//! `Receiver`, whose calls after a close raise `Disconnected`.

use std::sync::RwLock;

use pyo3::prelude::*;

use crate::errors::disconnected;

#[derive(Debug)]
pub(crate) struct Slot<T>(RwLock<Option<T>>);

impl<T: Send> Slot<T> {
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
    /// queued to go out).
    pub(crate) fn close(&self, py: Python<'_>) {
        let end = self.0.write().unwrap_or_else(|p| p.into_inner()).take();
        py.detach(|| drop(end));
    }
}
