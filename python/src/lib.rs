//! `ipcx._ipcx`: ipcx's byte channels for Python. `Sender(endpoint)` and
//! `Receiver(endpoint)` take the same endpoint strings as the Rust API and
//! the CLI, speak the same wire, and raise exceptions named after
//! [`ipcx::ErrorKind`] (errors.rs).
//!
//! `type=` declares a dataclass as the message type: the identity text of
//! docs/wire.md (schema.rs) and postcard values (postcard.rs), as a Rust
//! serde type of that shape. `recv_view` and `send_with` lend ring memory
//! through the buffer protocol (buffer.rs).
//!
//! Every call that can wait releases the GIL, and waits in slices of
//! 50 ms between which it checks for signals, so Ctrl-C interrupts a
//! blocked `recv` or `send` as it does `time.sleep`.

mod buffer;
mod errors;
mod postcard;
mod receiver;
mod schema;
mod sender;
mod slot;

use pyo3::prelude::*;

/// How long one slice of a wait is, between two looks for signals.
pub(crate) const SLICE: std::time::Duration = std::time::Duration::from_millis(50);

/// `timeout` in seconds (None: forever) as a deadline.
pub(crate) fn deadline(timeout: Option<f64>) -> PyResult<Option<std::time::Instant>> {
    match timeout {
        None => Ok(None),
        Some(t) if t.is_finite() && t >= 0.0 => Ok(Some(
            std::time::Instant::now() + std::time::Duration::from_secs_f64(t),
        )),
        Some(t) => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "timeout={t}: a number of seconds, 0 or more (None waits for ever)"
        ))),
    }
}

/// How long the next slice of a wait until `deadline` is.
pub(crate) fn slice(deadline: Option<std::time::Instant>) -> std::time::Duration {
    deadline.map_or(SLICE, |d| {
        d.saturating_duration_since(std::time::Instant::now())
            .min(SLICE)
    })
}

/// After a slice of a wait found nothing: looks for signals (Ctrl-C
/// raises here), then `TimeoutError` saying `what` once the whole
/// deadline has passed; else the wait goes on with another slice.
pub(crate) fn slice_ended(
    py: Python<'_>,
    deadline: Option<std::time::Instant>,
    what: &str,
) -> PyResult<()> {
    py.check_signals()?;
    if deadline.is_some() && slice(deadline).is_zero() {
        return Err(errors::timed_out(what));
    }
    Ok(())
}

/// The identity an end declares: a Python type's (`type=`), a name alone
/// (`name=`), or bytes.
pub(crate) fn identity_options(
    schema: Option<&schema::Schema>,
    name: Option<&str>,
) -> PyResult<ipcx::OpenOptions> {
    let mut options = ipcx::OpenOptions::new();
    match (schema, name) {
        (Some(_), Some(_)) => {
            return Err(pyo3::exceptions::PyValueError::new_err(
                "give type= or name=, not both: a type declares its own name",
            ))
        }
        (Some(schema), None) => {
            options.identity(schema.identity());
        }
        (None, Some(name)) => {
            options.identity(ipcx::Identity::named(name));
        }
        (None, None) => {}
    }
    Ok(options)
}

/// The postcard bytes a typed sender sends for `value` (a `type`).
#[pyfunction]
fn encode<'py>(
    py: Python<'py>,
    value: &Bound<'py, PyAny>,
    r#type: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let schema = schema::Schema::of(r#type)?;
    Ok(pyo3::types::PyBytes::new(
        py,
        &postcard::encode(&schema, value)?,
    ))
}

/// The value of `type` a typed receiver makes of `data` (`ProtocolError`
/// if the bytes are not one).
#[pyfunction]
fn decode(py: Python<'_>, r#type: &Bound<'_, PyAny>, data: &[u8]) -> PyResult<Py<PyAny>> {
    let schema = schema::Schema::of(r#type)?;
    postcard::decode(py, &schema, data)
}

/// The identity text a `type` declares (docs/wire.md), as
/// `ipcx::Identity::of::<T>().text()` prints it in Rust.
#[pyfunction]
fn identity(r#type: &Bound<'_, PyAny>) -> PyResult<String> {
    Ok(schema::Schema::of(r#type)?.identity().text())
}

#[pymodule]
fn _ipcx(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode, m)?)?;
    m.add_function(wrap_pyfunction!(decode, m)?)?;
    m.add_function(wrap_pyfunction!(identity, m)?)?;
    m.add_class::<sender::Sender>()?;
    m.add_class::<receiver::Receiver>()?;
    m.add_class::<buffer::Frame>()?;
    m.add_class::<buffer::Loan>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
