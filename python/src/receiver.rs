//! `ipcx.Receiver`: receives bytes, or values of a declared type, from an
//! endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyMemoryView};

use crate::buffer::Frame;
use crate::errors::{disconnected, to_py};
use crate::schema::Schema;
use crate::slot::Slot;
use ipcx::{ByteReceiver, RecvTimeoutError, TryRecvError};

/// From this size on, `recv` makes its bytes straight from the message
/// (below it, copying twice costs less than taking the GIL inside the wait).
const COPY_IN_PLACE: usize = 64 * 1024;

/// Receives messages at `endpoint` (it listens or creates where the Rust
/// API's receiver does). Iterating yields each message until every sender
/// is gone.
///
/// `type`: a dataclass (or enum) the messages are, declared with the same
/// identity as the Rust type of that shape, so a Rust `Sender<Job>` can
/// send to it; without it, messages are bytes and any sender is taken.
/// `name`: an identity by name alone (`Identity::named` in Rust), with
/// bytes messages.
#[pyclass(module = "ipcx", subclass, frozen)]
pub(crate) struct Receiver {
    end: Slot<ByteReceiver>,
    endpoint: String,
    schema: Option<Schema>,
    /// Counts receives: releasing a frame's views gives its room back only
    /// if no receive came since (which would have moved on already).
    receives: AtomicU64,
}

impl Receiver {
    /// A received message as Python sees it: bytes, or a decoded value.
    fn message(&self, py: Python<'_>, bytes: &[u8]) -> PyResult<Py<PyAny>> {
        match &self.schema {
            Some(schema) => crate::postcard::decode(py, schema, bytes),
            None => Ok(PyBytes::new(py, bytes).into_any().unbind()),
        }
    }

    /// The next message, or None once every sender is gone.
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Py<PyAny>>> {
        let deadline = crate::deadline(timeout)?;
        self.end.with("Receiver", |end| loop {
            let wait = crate::slice(deadline);
            self.receives.fetch_add(1, Ordering::Relaxed);
            // A large message becomes bytes where it lies (one copy, at
            // the price of taking the GIL back inside the wait); others
            // are copied out and made into bytes or decoded after the
            // end's lock is let go (a typed value's class may run any
            // Python code, even this receiver's).
            let got = py.detach(|| {
                end.recv_bytes_with(Some(wait), |b| match self.schema {
                    None if b.len() >= COPY_IN_PLACE => {
                        Ok(Python::attach(|py| PyBytes::new(py, b).into_any().unbind()))
                    }
                    _ => Err(b.to_vec()),
                })
            });
            match got {
                Ok(Ok(message)) => return Ok(Some(message)),
                Ok(Err(bytes)) => return self.message(py, &bytes).map(Some),
                Err(RecvTimeoutError::Timeout) => {
                    crate::slice_ended(py, deadline, "recv: nothing arrived before the timeout")?;
                }
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
                Err(RecvTimeoutError::Failed(e)) => return Err(to_py(&e)),
            }
        })
    }

    /// Gives a frame's room back, unless a receive came after it.
    pub(crate) fn release_if_last(&self, py: Python<'_>, receive: u64) {
        if self.receives.load(Ordering::Relaxed) == receive {
            let _ = self.end.with("Receiver", |end| {
                py.detach(|| end.release_in_place());
                Ok(())
            });
        }
    }

    fn bytes_only(&self, what: &str) -> PyResult<()> {
        match &self.schema {
            None => Ok(()),
            Some(s) => Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "{what} lends raw bytes; this receiver decodes {} values (open it without type=)",
                s.name
            ))),
        }
    }
}

#[pymethods]
impl Receiver {
    #[new]
    #[pyo3(signature = (endpoint, r#type = None, *, name = None))]
    fn new(
        py: Python<'_>,
        endpoint: &str,
        r#type: Option<&Bound<'_, PyAny>>,
        name: Option<&str>,
    ) -> PyResult<Self> {
        let schema = r#type.map(Schema::of).transpose()?;
        let options = crate::identity_options(schema.as_ref(), name)?;
        let end = py
            .detach(|| ByteReceiver::open_with(endpoint, &options))
            .map_err(|e| to_py(&e))?;
        Ok(Receiver {
            endpoint: end.endpoint().to_string(),
            end: Slot::new(end),
            schema,
            receives: AtomicU64::new(0),
        })
    }

    /// The next message (bytes, or a value of `type`), waiting for ever or
    /// `timeout` seconds (then `TimeoutError`). `Disconnected` once every
    /// sender is gone and everything they sent has been received.
    #[pyo3(signature = (timeout = None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Py<PyAny>> {
        self.next(py, timeout)?
            .ok_or_else(|| disconnected("recv: every sender is gone"))
    }

    /// The next message if one is there now, else None.
    fn try_recv(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.receives.fetch_add(1, Ordering::Relaxed);
        let bytes = self
            .end
            .with("Receiver", |end| match py.detach(|| end.try_recv_bytes()) {
                Ok(message) => Ok(Some(message)),
                Err(TryRecvError::Empty) => Ok(None),
                Err(TryRecvError::Disconnected) => {
                    Err(disconnected("try_recv: every sender is gone"))
                }
                Err(TryRecvError::Failed(e)) => Err(to_py(&e)),
            })?;
        bytes.map(|b| self.message(py, &b)).transpose()
    }

    /// The next message as a read-only `memoryview`, without a copy on
    /// `shm:`: the view is of the ring itself (`view.obj.in_place`), valid
    /// until this receiver's next receive or until the view is released
    /// (`view.release()`, or dropped), which gives the room back to the
    /// sender. `numpy.frombuffer(view, ...)` reads it in place. Elsewhere
    /// the view is of a copy. Bytes receivers only.
    #[pyo3(signature = (timeout = None))]
    fn recv_view<'py>(
        slf: &Bound<'py, Self>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyMemoryView>> {
        let py = slf.py();
        let rx = slf.get();
        rx.bytes_only("recv_view")?;
        let deadline = crate::deadline(timeout)?;
        let (message, receive) = rx.end.with("Receiver", |end| loop {
            let wait = crate::slice(deadline);
            let receive = rx.receives.fetch_add(1, Ordering::Relaxed) + 1;
            match py.detach(|| end.recv_in_place(Some(wait))) {
                Ok(message) => return Ok((message, receive)),
                Err(RecvTimeoutError::Timeout) => {
                    crate::slice_ended(
                        py,
                        deadline,
                        "recv_view: nothing arrived before the timeout",
                    )?;
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(disconnected("recv_view: every sender is gone"))
                }
                Err(RecvTimeoutError::Failed(e)) => return Err(to_py(&e)),
            }
        })?;
        let frame = Bound::new(py, Frame::new(message, slf.clone().unbind(), receive))?;
        PyMemoryView::from(frame.as_any())
    }

    /// Messages lost on the way, where the transport can lose them
    /// (`overflow=drop-oldest` rings, `udp:`, core NATS); 0 elsewhere.
    fn missed(&self, py: Python<'_>) -> PyResult<u64> {
        self.end
            .with("Receiver", |end| Ok(py.detach(|| end.missed())))
    }

    /// For the asyncio receive (`recv_async`): what to wait on, as
    /// `(kind, fd, recheck)`: kind 0 try now, 1 wait for `fd` to be
    /// readable (at most `recheck` seconds, if not None), 2 pause.
    fn _wait_on(&self, py: Python<'_>) -> PyResult<(u8, i32, Option<f64>)> {
        use std::os::fd::AsRawFd;
        self.end.with("Receiver", |end| {
            Ok(match py.detach(|| end.wait_on()) {
                ipcx::WaitOn::Fd { fd, recheck, .. } => {
                    (1, fd.as_raw_fd(), recheck.map(|d| d.as_secs_f64()))
                }
                ipcx::WaitOn::Pause => (2, -1, None),
                _ => (0, -1, None),
            })
        })
    }

    /// Ends what `_wait_on` began.
    fn _stop_waiting(&self, py: Python<'_>) -> PyResult<()> {
        self.end.with("Receiver", |end| {
            py.detach(|| end.stop_waiting());
            Ok(())
        })
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

    /// The identity text this receiver declares (docs/wire.md).
    #[getter]
    fn identity(&self) -> Option<String> {
        self.schema.as_ref().map(|s| s.identity().text())
    }

    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
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
