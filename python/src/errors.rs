//! Python exceptions that mirror [`ipcx::ErrorKind`]: `ipcx.Error` and
//! one subclass per kind (`ipcx.Disconnected` when the other side is gone
//! and everything it sent has been taken). A timeout raises Python's own
//! `TimeoutError`; a wrong argument `ValueError`. The message is ipcx's:
//! what, where, and what to do.

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyTimeoutError};
use pyo3::prelude::*;

use ipcx::ErrorKind;

create_exception!(ipcx, Error, PyException, "Any ipcx failure.");
create_exception!(ipcx, Disconnected, Error, "The other side is gone.");
create_exception!(
    ipcx,
    InvalidEndpoint,
    Error,
    "The endpoint string is wrong."
);
create_exception!(ipcx, Unsupported, Error, "Not possible on this transport.");
create_exception!(
    ipcx,
    NoPeer,
    Error,
    "Nobody is there (start the receiver first?)."
);
create_exception!(
    ipcx,
    AddrInUse,
    Error,
    "Another end already holds the address."
);
create_exception!(
    ipcx,
    PermissionDenied,
    Error,
    "Not allowed (file mode, uid, credentials)."
);
create_exception!(
    ipcx,
    TypeMismatch,
    Error,
    "The two ends carry different types."
);
create_exception!(
    ipcx,
    TooLarge,
    Error,
    "A message above max_msg or the transport's limit."
);
create_exception!(
    ipcx,
    ProtocolError,
    Error,
    "The peer does not speak ipcx, or broke it."
);
create_exception!(ipcx, Stopped, Error, "The end was stopped.");
create_exception!(ipcx, IoError, Error, "A system call failed.");

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("Disconnected", py.get_type::<Disconnected>())?;
    m.add("InvalidEndpoint", py.get_type::<InvalidEndpoint>())?;
    m.add("Unsupported", py.get_type::<Unsupported>())?;
    m.add("NoPeer", py.get_type::<NoPeer>())?;
    m.add("AddrInUse", py.get_type::<AddrInUse>())?;
    m.add("PermissionDenied", py.get_type::<PermissionDenied>())?;
    m.add("TypeMismatch", py.get_type::<TypeMismatch>())?;
    m.add("TooLarge", py.get_type::<TooLarge>())?;
    m.add("ProtocolError", py.get_type::<ProtocolError>())?;
    m.add("Stopped", py.get_type::<Stopped>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    Ok(())
}

/// The Python exception for an ipcx error.
pub(crate) fn to_py(e: &ipcx::Error) -> PyErr {
    let text = e.to_string();
    match e.kind() {
        ErrorKind::InvalidEndpoint => InvalidEndpoint::new_err(text),
        ErrorKind::Unsupported => Unsupported::new_err(text),
        ErrorKind::NoPeer => NoPeer::new_err(text),
        ErrorKind::AddrInUse => AddrInUse::new_err(text),
        ErrorKind::PermissionDenied => PermissionDenied::new_err(text),
        ErrorKind::TypeMismatch => TypeMismatch::new_err(text),
        ErrorKind::TooLarge => TooLarge::new_err(text),
        ErrorKind::TimedOut => PyTimeoutError::new_err(text),
        ErrorKind::Stopped => Stopped::new_err(text),
        ErrorKind::Protocol | ErrorKind::Encode | ErrorKind::Decode => ProtocolError::new_err(text),
        _ => IoError::new_err(text),
    }
}

pub(crate) fn disconnected(what: &str) -> PyErr {
    Disconnected::new_err(what.to_owned())
}

pub(crate) fn timed_out(what: &str) -> PyErr {
    PyTimeoutError::new_err(what.to_owned())
}
