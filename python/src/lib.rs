//! `ipcx._ipcx`: ipcx's byte channels for Python. `Sender(endpoint)` and
//! `Receiver(endpoint)` take the same endpoint strings as the Rust API and
//! the CLI, speak the same wire, and raise exceptions named after
//! [`ipcx::ErrorKind`] (errors.rs).
//!
//! Every call that can wait releases the GIL, and waits in slices of
//! 50 ms between which it checks for signals, so Ctrl-C interrupts a
//! blocked `recv` or `send` as it does `time.sleep`.

mod errors;
mod receiver;
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

#[pymodule]
fn _ipcx(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<sender::Sender>()?;
    m.add_class::<receiver::Receiver>()?;
    errors::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
