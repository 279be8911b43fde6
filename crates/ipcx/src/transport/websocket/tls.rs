//! TLS for `wss://`: a listening end's certificate and key (`cert=`,
//! `key=`; the key file must be its owner's alone), a connecting end's
//! trust (`ca=`, else the system's roots). rustls with ring.

use std::path::Path;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::endpoint::{Endpoint, Host, HostPort};
use crate::error::{Error, ErrorKind};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn tls_error(what: String) -> Error {
    Error::new(ErrorKind::Protocol, what)
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            tls_error(format!(
                "cannot read certificates from {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(tls_error(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// The acceptor of a listening `wss://` end.
pub(super) fn acceptor(ep: &Endpoint) -> Result<TlsAcceptor, Error> {
    let remote = &ep.options().remote;
    let (Some(cert), Some(key)) = (&remote.cert, &remote.key) else {
        return Err(Error::new(
            ErrorKind::InvalidEndpoint,
            "a wss:// receiver needs its certificate and key: cert=PATH&key=PATH",
        ));
    };
    crate::transport::secrets::owner_only("private key", key)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
        tls_error(format!(
            "cannot read the private key {}: {e}",
            key.display()
        ))
    })?;
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certificates(cert)?, key)
        .map_err(|e| {
            tls_error(format!(
                "the certificate and key do not make a TLS server: {e}"
            ))
        })?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The connector of a `wss://` sender, and the name its server must have.
pub(super) fn connector(
    ep: &Endpoint,
    at: &HostPort,
) -> Result<(TlsConnector, ServerName<'static>), Error> {
    let mut roots = RootCertStore::empty();
    match &ep.options().remote.ca {
        Some(ca) => {
            for cert in certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| tls_error(format!("a CA certificate in {}: {e}", ca.display())))?;
            }
        }
        None => {
            roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = match &at.host {
        Host::Ip(ip) => ServerName::IpAddress((*ip).into()),
        Host::Name(name) => ServerName::try_from(name.clone())
            .map_err(|e| tls_error(format!("`{name}` is no server name: {e}")))?,
    };
    Ok((TlsConnector::from(Arc::new(config)), name))
}
