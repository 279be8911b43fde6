//! `ipcx.Sender`: sends bytes, or values of a declared type, to an
//! endpoint.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyMemoryView, PyString};

use crate::buffer::Loan;
use crate::errors::{disconnected, to_py};
use crate::schema::Schema;
use crate::slot::Slot;
use ipcx::{ByteSender, SendTimeoutError, TrySendError};

/// Sends messages to `endpoint` (the same strings as the Rust API and the
/// CLI: `unix:/run/app.sock`, `shm:/frames`, `mq:/jobs` ...).
///
/// `type`: a dataclass (or enum) the messages are, declared with the same
/// identity as the Rust type of that shape (a Rust `Receiver<Job>` takes
/// them); without it, messages are bytes. `name`: an identity by name
/// alone, with bytes messages. `timeout`: how long to wait for a receiver
/// to appear (seconds; the default 0 fails at once with `NoPeer` when
/// nobody is there).
#[pyclass(module = "ipcx", subclass, frozen)]
pub(crate) struct Sender {
    /// An `Arc` so a loan can keep the end (and its mapping) alive.
    end: Slot<Arc<ByteSender>>,
    endpoint: String,
    schema: Option<Schema>,
}

impl Sender {
    /// What `data` is sent as: its postcard encoding for a typed sender,
    /// else its bytes.
    fn encode<'a>(&self, data: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, [u8]>> {
        match &self.schema {
            Some(schema) => Ok(std::borrow::Cow::Owned(crate::postcard::encode(
                schema, data,
            )?)),
            None => message(data),
        }
    }
}

/// A message as bytes: `bytes` as it is, `bytearray` copied, `str` as UTF-8.
fn message<'a>(data: &'a Bound<'_, PyAny>) -> PyResult<std::borrow::Cow<'a, [u8]>> {
    if let Ok(b) = data.cast::<PyBytes>() {
        return Ok(std::borrow::Cow::Borrowed(b.as_bytes()));
    }
    if let Ok(b) = data.cast::<PyByteArray>() {
        return Ok(std::borrow::Cow::Owned(b.to_vec()));
    }
    if let Ok(s) = data.cast::<PyString>() {
        return Ok(std::borrow::Cow::Owned(s.to_cow()?.as_bytes().to_vec()));
    }
    Err(pyo3::exceptions::PyTypeError::new_err(format!(
        "a message is bytes, bytearray or str, not {}",
        data.get_type().name()?
    )))
}

#[pymethods]
impl Sender {
    #[new]
    #[pyo3(signature = (endpoint, r#type = None, *, name = None, timeout = 0.0))]
    fn new(
        py: Python<'_>,
        endpoint: &str,
        r#type: Option<&Bound<'_, PyAny>>,
        name: Option<&str>,
        timeout: f64,
    ) -> PyResult<Self> {
        let schema = r#type.map(Schema::of).transpose()?;
        let mut options = crate::identity_options(schema.as_ref(), name)?;
        let deadline = crate::deadline(Some(timeout))?;
        let endpoint = endpoint.to_owned();
        loop {
            let wait = crate::slice(deadline);
            if !wait.is_zero() {
                options.timeout(wait);
            }
            let opened = py.detach(|| ByteSender::open_with(endpoint.as_str(), &options));
            match opened {
                Ok(end) => {
                    return Ok(Sender {
                        endpoint: end.endpoint().to_string(),
                        end: Slot::new(Arc::new(end)),
                        schema,
                    })
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ipcx::ErrorKind::NoPeer | ipcx::ErrorKind::TimedOut
                    ) && !crate::slice(deadline).is_zero() =>
                {
                    py.check_signals()?;
                }
                Err(e) => return Err(to_py(&e)),
            }
        }
    }

    /// Sends `data` (bytes, bytearray or str; a value of `type` for a
    /// typed sender), waiting while the channel is full: for ever, or
    /// `timeout` seconds (then `TimeoutError`). `Disconnected` once the
    /// receiver is gone.
    #[pyo3(signature = (data, timeout = None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let bytes = self.encode(data)?;
        let deadline = crate::deadline(timeout)?;
        self.end.with("Sender", |end| loop {
            let wait = crate::slice(deadline);
            match py.detach(|| end.send_bytes_timeout(&bytes[..], wait)) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(_)) => {
                    crate::slice_ended(
                        py,
                        deadline,
                        "send: the channel stayed full until the timeout",
                    )?;
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    return Err(disconnected("send: the receiver is gone"))
                }
                Err(SendTimeoutError::Failed(_, e)) => return Err(to_py(&e)),
            }
        })
    }

    /// Sends `data` if there is room now: True if sent, False if full.
    fn try_send(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = self.encode(data)?;
        self.end.with("Sender", |end| {
            match py.detach(|| end.try_send_bytes(&bytes[..])) {
                Ok(()) => Ok(true),
                Err(TrySendError::Full(_)) => Ok(false),
                Err(TrySendError::Disconnected(_)) => {
                    Err(disconnected("try_send: the receiver is gone"))
                }
                Err(TrySendError::Failed(_, e)) => Err(to_py(&e)),
            }
        })
    }

    /// Sends a message of up to `size` bytes written in place: `fill` gets
    /// a writable `memoryview` of the message's room in the channel (the
    /// ring's own memory on `shm:`: no copy) and returns how many bytes it
    /// wrote (None: all `size`). The view is valid only while `fill` runs.
    /// Waits for room as `send` does. Bytes senders only.
    ///
    /// ```python
    /// def fill(room):
    ///     numpy.frombuffer(room, numpy.uint8).reshape(frame.shape)[:] = frame
    /// tx.send_with(frame.nbytes, fill)
    /// ```
    ///
    /// If `fill` raises, the room was taken already: an empty message is
    /// sent in its place and the exception is raised.
    #[pyo3(signature = (size, fill, timeout = None))]
    fn send_with(
        &self,
        py: Python<'_>,
        size: usize,
        fill: &Bound<'_, PyAny>,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        if let Some(s) = &self.schema {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "send_with lends raw bytes; this sender encodes {} values (open it without type=)",
                s.name
            )));
        }
        let deadline = crate::deadline(timeout)?;
        let fill = fill.clone().unbind();
        self.end.with("Sender", |end| loop {
            let wait = crate::slice(deadline);
            let mut outcome: Option<PyResult<()>> = None;
            let sent = py.detach(|| {
                end.send_with_timeout(size, Some(wait), |room| {
                    Python::attach(|py| {
                        let (n, done) = lend(py, room, end, fill.bind(py));
                        outcome = Some(done);
                        n
                    })
                })
            });
            match sent {
                Ok(n) => return outcome.unwrap_or(Ok(())).map(|()| n),
                Err(SendTimeoutError::Timeout(())) => {
                    crate::slice_ended(
                        py,
                        deadline,
                        "send_with: the channel stayed full until the timeout",
                    )?;
                }
                Err(SendTimeoutError::Disconnected(())) => {
                    return Err(disconnected("send_with: the receiver is gone"))
                }
                Err(SendTimeoutError::Failed((), e)) => return Err(to_py(&e)),
            }
        })
    }

    /// Closes the sender: the receiver sees it go (after what was sent).
    fn close(&self, py: Python<'_>) {
        self.end.close(py);
    }

    /// The endpoint as opened.
    #[getter]
    fn endpoint(&self) -> &str {
        &self.endpoint
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.close(py);
    }

    fn __repr__(&self) -> String {
        format!("ipcx.Sender({:?})", self.endpoint)
    }
}

/// Runs `fill` on a view of `room`: how many bytes to send, and what to
/// report (`fill`'s exception, or a view kept past it).
fn lend(
    py: Python<'_>,
    room: &mut [u8],
    end: &Arc<ByteSender>,
    fill: &Bound<'_, PyAny>,
) -> (usize, PyResult<()>) {
    let size = room.len();
    let loan = match Bound::new(py, Loan::new(room, Arc::clone(end))) {
        Ok(loan) => loan,
        Err(e) => return (0, Err(e)),
    };
    let view = match PyMemoryView::from(loan.as_any()) {
        Ok(view) => view,
        Err(e) => return (0, Err(e)),
    };
    let wrote = fill.call1((&view,)).and_then(|n| {
        if n.is_none() {
            return Ok(size);
        }
        let n: usize = n.extract()?;
        if n > size {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "fill returned {n}: more than the {size} bytes lent"
            )));
        }
        Ok(n)
    });
    // Our view goes; any other (a numpy array made in fill) must be gone too.
    let released = view.call_method0("release").is_ok();
    let kept = (loan.get().close() && released)
        .then_some(())
        .ok_or_else(|| {
            pyo3::exceptions::PyBufferError::new_err(
                "send_with: the message was sent, but a view of its room outlived fill \
             (a numpy array of it?): writing to it now would corrupt later messages; \
             let every view of the room go before fill returns",
            )
        });
    match wrote {
        Ok(n) => (n, kept),
        Err(e) => (0, Err(e)),
    }
}
