//! `ipcx.Receiver`: receives bytes from an endpoint.

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::errors::{disconnected, timed_out, to_py};
use crate::slot::Slot;
use ipcx::{ByteReceiver, RecvTimeoutError, TryRecvError};

/// Receives messages at `endpoint` (it listens or creates where the Rust
/// API's receiver does). Iterating yields each message until every sender
/// is gone.
#[pyclass(module = "ipcx", frozen)]
pub(crate) struct Receiver {
    end: Slot<ByteReceiver>,
    endpoint: String,
}

impl Receiver {
    /// The next message, or None once every sender is gone.
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyBytes>>> {
        let deadline = crate::deadline(timeout)?;
        self.end.with("Receiver", |end| loop {
            let wait = crate::slice(deadline);
            match py.detach(|| end.recv_bytes_timeout(wait)) {
                Ok(message) => return Ok(Some(PyBytes::new(py, &message).unbind())),
                Err(RecvTimeoutError::Timeout) => {
                    py.check_signals()?;
                    if deadline.is_some() && crate::slice(deadline).is_zero() {
                        return Err(timed_out("recv: nothing arrived before the timeout"));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Failed(e)) => return Err(to_py(&e)),
            }
        })
    }
}

#[pymethods]
impl Receiver {
    #[new]
    fn new(py: Python<'_>, endpoint: &str) -> PyResult<Self> {
        let end = py
            .detach(|| ByteReceiver::open(endpoint))
            .map_err(|e| to_py(&e))?;
        Ok(Receiver {
            endpoint: end.endpoint().to_string(),
            end: Slot::new(end),
        })
    }

    /// The next message as bytes, waiting for ever or `timeout` seconds
    /// (then `TimeoutError`). `Disconnected` once every sender is gone and
    /// everything they sent has been received.
    #[pyo3(signature = (timeout = None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyBytes>> {
        self.next(py, timeout)?
            .ok_or_else(|| disconnected("recv: every sender is gone"))
    }

    /// The next message if one is there now, else None.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        self.end.with("Receiver", |end| match end.try_recv_bytes() {
            Ok(message) => Ok(Some(PyBytes::new(py, &message).unbind())),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(disconnected("try_recv: every sender is gone")),
            Err(TryRecvError::Failed(e)) => Err(to_py(&e)),
        })
    }

    /// Messages lost on the way, where the transport can lose them
    /// (`overflow=drop-oldest` rings, `udp:`, core NATS); 0 elsewhere.
    fn missed(&self) -> PyResult<u64> {
        self.end.with("Receiver", |end| Ok(end.missed()))
    }

    /// Closes the receiver (senders see it go).
    fn close(&self, py: Python<'_>) {
        self.end.close(py);
    }

    /// The endpoint as opened (with the port the kernel chose, say).
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyBytes>>> {
        self.next(py, None)
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!("ipcx.Receiver({:?})", self.endpoint)
    }
}
