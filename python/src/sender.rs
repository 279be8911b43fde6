//! `ipcx.Sender`: sends bytes to an endpoint.

use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString};

use crate::errors::{disconnected, timed_out, to_py};
use crate::slot::Slot;
use ipcx::{ByteSender, SendTimeoutError, TrySendError};

/// Sends messages to `endpoint` (the same strings as the Rust API and the
/// CLI: `unix:/run/app.sock`, `shm:/frames`, `mq:/jobs` ...).
///
/// `timeout`: how long to wait for a receiver to appear (seconds; the
/// default 0 fails at once with `NoPeer` when nobody is there).
#[pyclass(module = "ipcx", frozen)]
pub(crate) struct Sender {
    end: Slot<ByteSender>,
    endpoint: String,
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
    #[pyo3(signature = (endpoint, *, timeout = 0.0))]
    fn new(py: Python<'_>, endpoint: &str, timeout: f64) -> PyResult<Self> {
        let deadline = crate::deadline(Some(timeout))?;
        let endpoint = endpoint.to_owned();
        loop {
            let wait = crate::slice(deadline);
            let opened = py.detach(|| {
                if wait.is_zero() {
                    ByteSender::open(endpoint.as_str())
                } else {
                    ByteSender::open_timeout(endpoint.as_str(), wait)
                }
            });
            match opened {
                Ok(end) => {
                    return Ok(Sender {
                        endpoint: end.endpoint().to_string(),
                        end: Slot::new(end),
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

    /// Sends `data` (bytes, bytearray or str), waiting while the channel is
    /// full: for ever, or `timeout` seconds (then `TimeoutError`).
    /// `Disconnected` once the receiver is gone.
    #[pyo3(signature = (data, timeout = None))]
    fn send(&self, py: Python<'_>, data: &Bound<'_, PyAny>, timeout: Option<f64>) -> PyResult<()> {
        let bytes = message(data)?;
        let deadline = crate::deadline(timeout)?;
        self.end.with("Sender", |end| loop {
            let wait = crate::slice(deadline);
            match py.detach(|| end.send_bytes_timeout(&bytes[..], wait)) {
                Ok(()) => return Ok(()),
                Err(SendTimeoutError::Timeout(_)) => {
                    py.check_signals()?;
                    if crate::slice(deadline).is_zero() && deadline.is_some() {
                        return Err(timed_out("send: the channel stayed full until the timeout"));
                    }
                }
                Err(SendTimeoutError::Disconnected(_)) => {
                    return Err(disconnected("send: the receiver is gone"))
                }
                Err(SendTimeoutError::Failed(_, e)) => return Err(to_py(&e)),
            }
        })
    }

    /// Sends `data` if there is room now: True if sent, False if full.
    fn try_send(&self, data: &Bound<'_, PyAny>) -> PyResult<bool> {
        let bytes = message(data)?;
        self.end
            .with("Sender", |end| match end.try_send_bytes(&bytes[..]) {
                Ok(()) => Ok(true),
                Err(TrySendError::Full(_)) => Ok(false),
                Err(TrySendError::Disconnected(_)) => {
                    Err(disconnected("try_send: the receiver is gone"))
                }
                Err(TrySendError::Failed(_, e)) => Err(to_py(&e)),
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
