//! TLS with certificates the test makes (openssl), a wrong CA refused, a
//! client certificate; credentials from owner-only files and from the
//! environment; secrets never in an error.

use std::os::unix::fs::PermissionsExt;

use ipcx::{ErrorKind, Receiver, Sender};
use ipcx_testkit::harness::{Peer, Scratch};
use ipcx_testkit::nats::NatsServer;

use crate::{endpoint, recv_job, Job};

fn sh(script: &str) {
    let out = std::process::Command::new("timeout")
        .args(["-k", "5", "60", "sh", "-ec", script])
        .output()
        .expect("sh");
    assert!(
        out.status.success(),
        "{script}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 signed by it, a client
/// certificate signed by it, and a second CA that signed nothing here.
/// Both leaf certificates carry an extension, so they are X.509 v3:
/// rustls refuses v1 certificates ("could not add certificate or key").
fn make_certificates(dir: &str) {
    sh(&format!(
        r#"cd {dir}
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ipcx-test-ca -keyout ca.key -out ca.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other-ca -keyout other.key -out other.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=ipcx-client -keyout client.key -out client.csr 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile client.ext -out client.pem 2>/dev/null
chmod 600 *.key
"#
    ));
}

pub fn tls_verifies_the_server() {
    let s = Scratch::new("tls");
    let dir = s.path("");
    make_certificates(&dir);
    let file = |name: &str| s.path(name);
    let server = NatsServer::start(
        "tls",
        &[
            "--tls",
            "--tlscert",
            &file("server.pem"),
            "--tlskey",
            &file("server.key"),
        ],
    );
    let good = endpoint(&server, "tls", &format!("ca={}", file("ca.pem")));
    let rx = Receiver::<Job>::open(&good).expect("TLS with the right CA");
    let peer = Peer::spawn("send", &good, &[("count", "3".into())]);
    for seq in 0..3 {
        assert_eq!(recv_job(&rx).seq, seq);
    }
    peer.finish();
    // A server whose certificate this CA did not sign is refused.
    let wrong = endpoint(&server, "tls", &format!("ca={}", file("other.pem")));
    let e = Sender::<Job>::open(&wrong).expect_err("the wrong CA");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("TLS"), "{e}");
    // So is one checked against the system's roots.
    let e = Sender::<Job>::open(endpoint(&server, "tls", "tls=true")).expect_err("system roots");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");

    // A server that asks for a client certificate.
    let mutual = NatsServer::start(
        "mtls",
        &[
            "--tlsverify",
            "--tlscert",
            &file("server.pem"),
            "--tlskey",
            &file("server.key"),
            "--tlscacert",
            &file("ca.pem"),
        ],
    );
    let ca = format!("ca={}", file("ca.pem"));
    assert!(
        Sender::<Job>::open(endpoint(&mutual, "mtls", &ca)).is_err(),
        "no client certificate"
    );
    let with_cert = format!(
        "{ca}&cert={}&key={}",
        file("client.pem"),
        file("client.key")
    );
    let tx =
        Sender::<Job>::open(endpoint(&mutual, "mtls", &with_cert)).expect("client certificate");
    drop(tx);
    // A private key others can read is refused before anything is sent.
    std::fs::set_permissions(file("client.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Sender::<Job>::open(endpoint(&mutual, "mtls", &with_cert)).expect_err("open key");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("chmod 600"), "{e}");
}

pub fn a_token_comes_from_a_file_or_the_environment() {
    let token = format!("tok-{}-secret", std::process::id());
    let server = NatsServer::start("token", &["--auth", &token]);
    let s = Scratch::new("token");
    let file = s.path("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let ep = endpoint(&server, "token", &format!("token_file={file}"));
    let rx = Receiver::<Job>::open(&ep).expect("the token from a file");
    // The peer has the token in its environment alone.
    let plain = endpoint(&server, "token", "");
    let peer = Peer::spawn(
        "send",
        &plain,
        &[("count", "1".into()), ("nats_token", token.clone())],
    );
    assert_eq!(recv_job(&rx).seq, 0);
    peer.finish();
    // No credentials: refused, saying so, and the endpoint is printed as it is.
    let e = Sender::<Job>::open(&plain).expect_err("no token");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    // A wrong token: refused, and no secret in the message.
    let wrong = s.path("wrong");
    std::fs::write(&wrong, "not-the-token").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = Sender::<Job>::open(endpoint(&server, "token", &format!("token_file={wrong}")))
        .expect_err("a wrong token");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    let text = format!("{e} {e:?}");
    assert!(
        !text.contains("not-the-token") && !text.contains(&token),
        "{text}"
    );
    // A token file others can read is refused.
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = Sender::<Job>::open(&ep).expect_err("a readable token file");
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
    assert!(e.to_string().contains("chmod 600"), "{e}");
    // And a token never goes in the endpoint.
    let e = Sender::<Job>::open(format!("nats://{token}@127.0.0.1:{}/x", server.port))
        .expect_err("a token in the URL");
    assert_eq!(e.kind(), ErrorKind::InvalidEndpoint);
    assert!(!e.to_string().contains(&token), "{e}");
}

pub fn a_password_comes_from_the_environment() {
    let password = format!("pw-{}-secret", std::process::id());
    let server = NatsServer::start("password", &["--user", "app", "--pass", &password]);
    let ep = endpoint(&server, "password", "user=app");
    let rx = Peer::spawn("recv-one", &ep, &[("nats_password", password.clone())]);
    assert_eq!(rx.line(), "READY");
    let tx = Peer::spawn(
        "send",
        &endpoint(&server, "password", ""),
        &[
            ("count", "1".into()),
            ("nats_user", "app".into()),
            ("nats_password", password.clone()),
        ],
    );
    assert_eq!(rx.expect("GOT"), "0");
    tx.finish();
    rx.finish();
    // user= without a password anywhere is a clear error at open.
    let e = Sender::<Job>::open(&ep).expect_err("no password");
    assert_eq!(e.kind(), ErrorKind::InvalidEndpoint, "{e}");
    assert!(e.to_string().contains("IPCX_NATS_PASSWORD"), "{e}");
}
