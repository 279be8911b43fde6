//! Secret files (tokens, passwords, private keys) for the remote
//! transports: only their owner may read them (mode `0600` or less), as
//! ssh requires of a key: a secret that others can read is not one.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::error::{Error, ErrorKind};

/// Refuses a secret file that anyone but its owner can read.
pub(crate) fn owner_only(what: &str, path: &Path) -> Result<(), Error> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("cannot read the {what} file {}", path.display()), e))?;
    if meta.mode() & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            format!(
                "the {what} file {} can be read by others (mode {:04o}): \
                 `chmod 600 {}` first",
                path.display(),
                meta.mode() & 0o777,
                path.display()
            ),
        ));
    }
    Ok(())
}

/// Reads a secret file (see [`owner_only`]), without its final newline.
#[cfg_attr(not(feature = "nats"), allow(dead_code))]
pub(crate) fn read_secret(what: &str, path: &Path) -> Result<String, Error> {
    owner_only(what, path)?;
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::io(format!("cannot read the {what} file {}", path.display()), e))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}
