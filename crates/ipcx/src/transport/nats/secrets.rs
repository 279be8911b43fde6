//! Where credentials come from: files named by options, else the
//! environment; never the endpoint string (the parser refuses `user@`).
//! A secret file others can read is refused (`transport::secrets`).
//!
//! | option / variable                    | what                            |
//! |--------------------------------------|---------------------------------|
//! | `creds=PATH` · `IPCX_NATS_CREDS=PATH`  | a credentials file (JWT + seed) |
//! | `nkey=PATH` · `IPCX_NATS_NKEY=SEED`    | an nkey seed                    |
//! | `token_file=PATH` · `IPCX_NATS_TOKEN`  | a token                         |
//! | `user=NAME` + `password_file=PATH` · `IPCX_NATS_USER`, `IPCX_NATS_PASSWORD` | a user and password |

use std::path::Path;

use crate::endpoint::RemoteOptions;
use crate::error::{Error, ErrorKind};
pub(super) use crate::transport::secrets::read_secret;

/// The one way this end proves who it is.
#[derive(Clone)]
pub(super) enum Credentials {
    None,
    Creds(String),
    Nkey(String),
    Token(String),
    UserPassword(String, String),
}

/// Secrets are never printed, not even in a debug dump.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Credentials::None => "Credentials::None",
            Credentials::Creds(_) => "Credentials::Creds(..)",
            Credentials::Nkey(_) => "Credentials::Nkey(..)",
            Credentials::Token(_) => "Credentials::Token(..)",
            Credentials::UserPassword(..) => "Credentials::UserPassword(..)",
        })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Credentials {
    /// Options first, then the environment; two kinds at once is an error.
    pub(super) fn find(options: &RemoteOptions) -> Result<Credentials, Error> {
        let mut found = Vec::new();
        if let Some(path) = &options.creds {
            found.push(Credentials::Creds(read_secret("credentials", path)?));
        }
        if let Some(path) = &options.nkey {
            found.push(Credentials::Nkey(read_secret("nkey seed", path)?));
        }
        if let Some(path) = &options.token_file {
            found.push(Credentials::Token(read_secret("token", path)?));
        }
        if options.user.is_some() || options.password_file.is_some() {
            let user = options
                .user
                .clone()
                .or_else(|| env("IPCX_NATS_USER"))
                .ok_or_else(|| invalid("password_file= needs user= (or IPCX_NATS_USER)"))?;
            let password = match &options.password_file {
                Some(path) => read_secret("password", path)?,
                None => env("IPCX_NATS_PASSWORD").ok_or_else(|| {
                    invalid("user= needs a password: password_file= or IPCX_NATS_PASSWORD")
                })?,
            };
            found.push(Credentials::UserPassword(user, password));
        }
        if found.len() > 1 {
            return Err(invalid(
                "give one of creds=, nkey=, token_file= and user=, not several",
            ));
        }
        if let Some(one) = found.pop() {
            return Ok(one);
        }
        if let Some(path) = env("IPCX_NATS_CREDS") {
            return Ok(Credentials::Creds(read_secret(
                "credentials",
                Path::new(&path),
            )?));
        }
        if let Some(seed) = env("IPCX_NATS_NKEY") {
            return Ok(Credentials::Nkey(seed));
        }
        if let Some(token) = env("IPCX_NATS_TOKEN") {
            return Ok(Credentials::Token(token));
        }
        if let (Some(user), Some(password)) = (env("IPCX_NATS_USER"), env("IPCX_NATS_PASSWORD")) {
            return Ok(Credentials::UserPassword(user, password));
        }
        Ok(Credentials::None)
    }
}

fn invalid(detail: &str) -> Error {
    Error::new(ErrorKind::InvalidEndpoint, detail)
}
