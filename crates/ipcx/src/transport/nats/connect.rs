//! From an endpoint to a connected NATS client: the servers, TLS, the
//! credentials, and a [`Status`] that hears the connection's events.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::{ConnectErrorKind, ConnectOptions, Event, ServerError};

use super::secrets::{read_secret, Credentials};
use crate::endpoint::{Endpoint, NatsAddr};
use crate::error::{Error, ErrorKind};

/// What the connection told us while it ran: how often it dropped, and
/// an error that ends the end (a permission the server refused).
#[derive(Debug, Default)]
pub(super) struct Status {
    pub(super) disconnects: AtomicU64,
    fatal: Mutex<Option<Error>>,
    pub(super) changed: tokio::sync::Notify,
}

impl Status {
    fn heard(&self, event: Event, label: &str) {
        match event {
            Event::Disconnected => {
                self.disconnects.fetch_add(1, Ordering::Relaxed);
            }
            Event::ServerError(ServerError::Other(text))
                if text.to_ascii_lowercase().contains("permissions violation") =>
            {
                self.fail(Error::new(
                    ErrorKind::PermissionDenied,
                    format!("the NATS server refused: {text} ({label})"),
                ));
            }
            Event::ServerError(ServerError::AuthorizationViolation) => {
                self.fail(Error::new(
                    ErrorKind::PermissionDenied,
                    format!("the NATS server refused this client's credentials ({label})"),
                ));
            }
            _ => {}
        }
    }

    fn fail(&self, error: Error) {
        let mut fatal = self.fatal.lock().unwrap_or_else(|p| p.into_inner());
        fatal.get_or_insert(error);
        drop(fatal);
        self.changed.notify_waiters();
    }

    /// The error that ended the end, if one did.
    pub(super) fn fatal(&self) -> Option<Error> {
        self.fatal.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// How long one attempt to reach a server may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The client options for `ep`: credentials read now (so a bad file is an
/// error at open), TLS, and events into `status`.
pub(super) fn options(ep: &Endpoint, status: &Arc<Status>) -> Result<ConnectOptions, Error> {
    let remote = &ep.options().remote;
    let mut options = match Credentials::find(remote)? {
        Credentials::None => ConnectOptions::new(),
        Credentials::Creds(text) => ConnectOptions::with_credentials(&text).map_err(|e| {
            Error::new(
                ErrorKind::InvalidEndpoint,
                format!("the credentials file is not a NATS creds file: {e}"),
            )
        })?,
        Credentials::Nkey(seed) => ConnectOptions::with_nkey(seed),
        Credentials::Token(token) => ConnectOptions::with_token(token),
        Credentials::UserPassword(user, password) => {
            ConnectOptions::with_user_and_password(user, password)
        }
    };
    if remote.tls || remote.ca.is_some() || remote.cert.is_some() {
        options = options.require_tls(true);
    }
    if let Some(ca) = &remote.ca {
        check_readable("CA", ca)?;
        options = options.add_root_certificates(ca.clone());
    }
    match (&remote.cert, &remote.key) {
        (Some(cert), Some(key)) => {
            check_readable("certificate", cert)?;
            // The key is a secret: only its owner may read it.
            read_secret("private key", key)?;
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        (None, None) => {}
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidEndpoint,
                "a client certificate needs both cert= and key=",
            ))
        }
    }
    let label = ep.to_string();
    let status = Arc::clone(status);
    Ok(options
        .name(format!("ipcx {} pid {}", ep, std::process::id()))
        .connection_timeout(CONNECT_TIMEOUT)
        // What this end publishes never comes back to it.
        .no_echo()
        .event_callback(move |event| {
            let status = Arc::clone(&status);
            let label = label.clone();
            async move { status.heard(event, &label) }
        }))
}

fn check_readable(what: &str, path: &std::path::Path) -> Result<(), Error> {
    std::fs::metadata(path)
        .map(|_| ())
        .map_err(|e| Error::io(format!("cannot read the {what} file {}", path.display()), e))
}

/// The servers as async-nats takes them.
pub(super) fn servers(addr: &NatsAddr) -> Vec<String> {
    let scheme = "nats";
    addr.servers
        .iter()
        .map(|hp| format!("{scheme}://{hp}"))
        .collect()
}

/// Connects and subscribes to `subject` (in queue group `group`, if one),
/// waiting on the runtime until `deadline`. Once this returns the server
/// has the subscription: messages sent after it reach it.
pub(super) fn subscribed(
    options: ConnectOptions,
    servers: Vec<String>,
    subject: async_nats::Subject,
    group: Option<String>,
    deadline: crate::sys::Deadline<'_>,
) -> Result<(async_nats::Client, async_nats::Subscriber), Error> {
    crate::transport::runtime::run(
        async move {
            let client = connect(options, servers).await?;
            let subscribed = match group {
                Some(group) => client.queue_subscribe(subject, group).await,
                None => client.subscribe(subject).await,
            };
            let cannot = |e: String| Error::new(ErrorKind::Io, format!("cannot subscribe: {e}"));
            let subscriber = subscribed.map_err(|e| cannot(e.to_string()))?;
            client.flush().await.map_err(|e| cannot(e.to_string()))?;
            Ok::<_, Error>((client, subscriber))
        },
        deadline,
        "subscribing on NATS",
    )?
}

/// Connects (the first attempt only: an end that cannot reach any server
/// at open says so at once, as a socket would).
pub(super) async fn connect(
    options: ConnectOptions,
    servers: Vec<String>,
) -> Result<async_nats::Client, Error> {
    let shown = servers.join(",");
    options.connect(servers).await.map_err(|e| {
        // rustls' verdicts arrive as I/O errors: tell them by their text.
        let text = e.to_string().to_ascii_lowercase();
        let tls = text.contains("certificate") || text.contains("tls");
        let (kind, what) = match e.kind() {
            ConnectErrorKind::Io if tls => (ErrorKind::Protocol, "TLS with the NATS server failed"),
            ConnectErrorKind::Io => (ErrorKind::NoPeer, "no NATS server answers"),
            ConnectErrorKind::TimedOut => (
                ErrorKind::TimedOut,
                "the NATS server did not answer in time",
            ),
            ConnectErrorKind::Authentication | ConnectErrorKind::AuthorizationViolation => (
                ErrorKind::PermissionDenied,
                "the NATS server refused the credentials",
            ),
            ConnectErrorKind::Tls => (ErrorKind::Protocol, "TLS with the NATS server failed"),
            ConnectErrorKind::Dns => (ErrorKind::NoPeer, "the NATS server's name does not resolve"),
            _ => (ErrorKind::Io, "cannot connect to the NATS server"),
        };
        Error::new(kind, format!("{what} at {shown}: {e}"))
    })
}
