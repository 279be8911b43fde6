//! Parsing endpoint strings. Every error names the input and says what is valid.

use std::ffi::OsString;
use std::net::IpAddr;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::str::FromStr;

use super::escape::unescape;
use super::{
    Address, Endpoint, Host, HostPort, Key, NatsAddr, Options, Scheme, SysvKey, UnixAddr, UnixKind,
    WsAddr,
};
use crate::error::{Error, ErrorKind};

/// `sun_path` holds 108 bytes including the terminating NUL.
const UNIX_PATH_MAX: usize = 107;

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(input: &str) -> Result<Endpoint, Error> {
        parse(input).map_err(|detail| {
            Error::new(
                ErrorKind::InvalidEndpoint,
                format!("invalid endpoint `{}`: {detail}", redacted(input)),
            )
        })
    }
}

/// `input` with what stands before an `@` in `scheme://…@host` (a
/// password or token someone put there) written `***`, so an error never
/// repeats a secret.
fn redacted(input: &str) -> std::borrow::Cow<'_, str> {
    let Some((scheme, rest)) = input.split_once("://") else {
        return input.into();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    match authority.rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]).into(),
        None => input.into(),
    }
}

fn valid_schemes() -> String {
    Scheme::ALL
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse(input: &str) -> Result<Endpoint, String> {
    let (scheme_text, rest) = input.split_once(':').ok_or_else(|| {
        format!(
            "expected `scheme:address`; valid schemes: {}",
            valid_schemes()
        )
    })?;
    let scheme = Scheme::named(scheme_text).ok_or_else(|| {
        format!(
            "unknown scheme `{scheme_text}`; valid schemes: {}",
            valid_schemes()
        )
    })?;
    let (address_text, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let address = parse_address(scheme, address_text)?;
    let options = parse_options(scheme, query)?;
    if options.mode != super::DEFAULT_MODE {
        if let Address::Unix(_, UnixAddr::Abstract(_)) = address {
            return Err("mode= has no meaning for an abstract socket (it has no file)".into());
        }
    }
    if !options.allow_uid.is_empty() {
        if let Address::Unix(UnixKind::Stream | UnixKind::SeqPacket, _) = address {
        } else {
            return Err("allow_uid= applies to unix: and unix+seqpacket: listeners only".into());
        }
    }
    if options.proj.is_some() && !matches!(address, Address::SysvMq(SysvKey::Path(_))) {
        return Err("proj= applies to sysvmq:/path (the ftok form) only".into());
    }
    Ok(Endpoint { address, options })
}

fn parse_address(scheme: Scheme, text: &str) -> Result<Address, String> {
    Ok(match scheme {
        Scheme::Pipe => Address::Pipe(parse_pipe(text)?),
        Scheme::Fifo => Address::Fifo(parse_path(text)?),
        Scheme::Unix => Address::Unix(UnixKind::Stream, parse_unix(text)?),
        Scheme::UnixSeqPacket => Address::Unix(UnixKind::SeqPacket, parse_unix(text)?),
        Scheme::UnixDgram => Address::Unix(UnixKind::Dgram, parse_unix(text)?),
        Scheme::Tcp => Address::Tcp(parse_host_port(text)?),
        Scheme::Udp => Address::Udp(parse_host_port(text)?),
        Scheme::Mq => Address::Mq(parse_mq_name(text)?),
        Scheme::SysvMq => Address::SysvMq(parse_sysv_key(text)?),
        Scheme::Shm => Address::Shm(parse_mq_name(text).map_err(|e| {
            e.replace("POSIX queue", "shared-memory")
                .replace("mq:/jobs", "shm:/frames")
        })?),
        Scheme::Nats => Address::Nats(parse_nats(text)?),
        Scheme::Ws => Address::WebSocket(parse_ws(text, false)?),
        Scheme::Wss => Address::WebSocket(parse_ws(text, true)?),
    })
}

/// The port NATS servers listen on unless told otherwise.
pub(crate) const NATS_PORT: u16 = 4222;

/// `//host[:port][,host[:port]...]/subject`.
fn parse_nats(text: &str) -> Result<NatsAddr, String> {
    let rest = text
        .strip_prefix("//")
        .ok_or("expected `nats://host:port/subject`, e.g. nats://127.0.0.1:4222/jobs")?;
    let (servers_text, subject) = rest
        .split_once('/')
        .ok_or("expected `/subject` after the server, e.g. nats://127.0.0.1:4222/jobs")?;
    if servers_text.contains('@') {
        return Err(
            "credentials do not go in an endpoint (it is printed in logs, errors and \
             `ipcx ls`): use creds=, nkey=, token_file= or password_file= (paths of files), \
             or IPCX_NATS_TOKEN / IPCX_NATS_PASSWORD in the environment"
                .into(),
        );
    }
    let servers = servers_text
        .split(',')
        .map(|server| {
            let has_port = match server.strip_prefix('[') {
                Some(v6) => v6.contains("]:"),
                None => server.contains(':'),
            };
            if has_port {
                parse_host_port(server)
            } else {
                parse_host_port(&format!("{server}:{NATS_PORT}"))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(zero) = servers.iter().find(|s| s.port == 0) {
        return Err(format!(
            "server `{zero}`: a NATS server needs a port (default {NATS_PORT})"
        ));
    }
    validate_subject(subject)?;
    Ok(NatsAddr {
        servers,
        subject: subject.to_owned(),
    })
}

/// `//host:port/path` (the path `%XX`-escaped where it must be).
fn parse_ws(text: &str, tls: bool) -> Result<WsAddr, String> {
    let scheme = if tls { "wss" } else { "ws" };
    let rest = text.strip_prefix("//").ok_or_else(|| {
        format!("expected `{scheme}://host:port/path`, e.g. {scheme}://127.0.0.1:8080/frames")
    })?;
    let (at_text, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if at_text.contains('@') {
        return Err(
            "credentials do not go in an endpoint (it is printed in logs and errors)".into(),
        );
    }
    let at = parse_host_port(at_text)?;
    let path =
        String::from_utf8(unescape(path)?).map_err(|_| "the path must be UTF-8".to_owned())?;
    if path.contains(['#', ' ']) || path.bytes().any(|b| b.is_ascii_control()) {
        return Err(format!(
            "the path `{path}` holds a space, `#` or a control character"
        ));
    }
    Ok(WsAddr { tls, at, path })
}

/// A NATS subject: tokens of printable ASCII without spaces, split by `.`;
/// `*` stands alone as a token, `>` only as the last one.
fn validate_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() {
        return Err(
            "the subject after the server is empty (e.g. nats://127.0.0.1:4222/jobs)".into(),
        );
    }
    let tokens: Vec<&str> = subject.split('.').collect();
    for (i, token) in tokens.iter().enumerate() {
        if token.is_empty() {
            return Err(format!(
                "subject `{subject}` has an empty token (`..` or a `.` at an end)"
            ));
        }
        if let Some(bad) = token
            .chars()
            .find(|c| !c.is_ascii_graphic() || "%?#".contains(*c))
        {
            return Err(format!("subject `{subject}` holds `{}`: tokens are printable ASCII without spaces, `%`, `?` or `#`", bad.escape_default()));
        }
        let wild = token.contains(['*', '>']);
        if wild && (token.len() != 1 || (*token == ">" && i + 1 != tokens.len())) {
            return Err(format!(
                "subject `{subject}`: `*` is a whole token and `>` the last one (e.g. jobs.*.new, jobs.>)"
            ));
        }
    }
    Ok(())
}

fn parse_pipe(text: &str) -> Result<Option<i32>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u16>()
        .map(|fd| Some(i32::from(fd)))
        .map_err(|_| {
            format!("pipe address `{text}` must be empty (a new pipe) or an inherited fd number")
        })
}

fn parse_path(text: &str) -> Result<PathBuf, String> {
    if text.is_empty() {
        return Err("the path is empty".into());
    }
    let bytes = unescape(text)?;
    if bytes.contains(&0) {
        return Err("a path cannot contain a NUL byte (%00)".into());
    }
    Ok(PathBuf::from(OsString::from_vec(bytes)))
}

fn parse_unix(text: &str) -> Result<UnixAddr, String> {
    if let Some(name) = text.strip_prefix('@') {
        let name = unescape(name)?;
        if name.is_empty() {
            return Err("the abstract socket name after `@` is empty".into());
        }
        if name.len() > UNIX_PATH_MAX {
            return Err(format!(
                "the abstract name is {} bytes; the kernel allows at most {UNIX_PATH_MAX}",
                name.len()
            ));
        }
        return Ok(UnixAddr::Abstract(name));
    }
    let path = parse_path(text)?;
    let len = path.as_os_str().len();
    if len > UNIX_PATH_MAX {
        return Err(format!(
            "the socket path is {len} bytes; the kernel allows at most {UNIX_PATH_MAX} \
             (use a shorter path or an abstract name `@name`)"
        ));
    }
    Ok(UnixAddr::Path(path))
}

/// `NAME_MAX`: a POSIX queue name is one path component.
const MQ_NAME_MAX: usize = 255;

fn parse_mq_name(text: &str) -> Result<String, String> {
    let bytes = unescape(text)?;
    let name = String::from_utf8(bytes).map_err(|_| "a queue name must be UTF-8".to_owned())?;
    let Some(rest) = name.strip_prefix('/') else {
        return Err(format!(
            "a POSIX queue name starts with `/`, e.g. mq:/jobs (got `{name}`)"
        ));
    };
    if rest.is_empty() || rest.contains(['/', '\0']) || rest.len() > MQ_NAME_MAX - 1 {
        return Err(format!(
            "a POSIX queue name is `/` then 1 to {} bytes without `/` or NUL",
            MQ_NAME_MAX - 1
        ));
    }
    Ok(name)
}

fn parse_sysv_key(text: &str) -> Result<SysvKey, String> {
    if text.starts_with('/') || text.starts_with('.') {
        return parse_path(text).map(SysvKey::Path);
    }
    let key = match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => text.parse::<u32>().ok(),
    };
    match key {
        Some(0) => {
            Err("key 0 is IPC_PRIVATE, which no other process can open; pick another key".into())
        }
        Some(k) => Ok(SysvKey::Key(k)),
        None => Err(format!(
            "`{text}` is neither a key (0x2a, 42) nor a path for ftok (/etc/app)"
        )),
    }
}

fn parse_host_port(text: &str) -> Result<HostPort, String> {
    let (host_text, port_text) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address opened with `[` needs a closing `]`")?;
        let port = after
            .strip_prefix(':')
            .ok_or("expected `:port` after `]`")?;
        let ip: IpAddr = host
            .parse()
            .map_err(|_| format!("`{host}` is not an IPv6 address"))?;
        if ip.is_ipv4() {
            return Err(format!("`[{host}]`: brackets are for IPv6 addresses only"));
        }
        (host, port)
    } else {
        text.rsplit_once(':')
            .ok_or("expected `host:port`, e.g. 127.0.0.1:7000 or [::1]:7000")?
    };
    let port = port_text
        .parse::<u16>()
        .map_err(|_| format!("port `{port_text}` is not a number from 0 to 65535"))?;
    let host = if let Ok(ip) = host_text.parse::<IpAddr>() {
        if ip.is_ipv6() && !text.starts_with('[') {
            return Err(format!(
                "write IPv6 addresses in brackets: [{host_text}]:{port}"
            ));
        }
        Host::Ip(ip)
    } else if valid_host_name(host_text) {
        Host::Name(host_text.to_owned())
    } else {
        return Err(format!(
            "`{host_text}` is neither an IP address nor a host name"
        ));
    };
    Ok(HostPort { host, port })
}

fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
        })
        && !name.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn parse_options(scheme: Scheme, query: Option<&str>) -> Result<Options, String> {
    let mut options = Options::default();
    let Some(query) = query else {
        return Ok(options);
    };
    let valid = scheme.options();
    let mut seen = Vec::new();
    for pair in query.split('&') {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("option `{pair}` needs a value (`key=value`)"))?;
        let key = Key::from_name(name)
            .filter(|k| valid.contains(&k.name()))
            .ok_or_else(|| {
                format!(
                    "unknown option `{name}` for {}:; valid: {}",
                    scheme.name(),
                    valid.join(", ")
                )
            })?;
        if seen.contains(&key) {
            return Err(format!("option `{name}` is given twice"));
        }
        seen.push(key);
        options.set(key, value)?;
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(s: &str) -> String {
        s.parse::<Endpoint>().unwrap_err().to_string()
    }

    #[test]
    fn examples_parse_and_print_back() {
        for s in [
            "pipe:",
            "pipe:3",
            "fifo:/run/app/in",
            "unix:/run/app.sock",
            "unix:@abstract-name",
            "unix+seqpacket:/run/x",
            "unix+dgram:/run/y?mode=0640",
            "tcp:127.0.0.1:7000",
            "tcp:localhost:7000",
            "udp:[::1]:7001",
            "unix:/s?mode=0660&max_msg=64KiB&allow_uid=0,1000",
            "unix:%40relative-path-not-abstract",
            "mq:/jobs",
            "mq:/jobs?maxmsg=10&msgsize=8KiB&priority=3&persist=true",
            "sysvmq:0x2a",
            "sysvmq:/etc/app?type=-5&proj=7",
            "shm:/frames",
            "shm:/frames?persist=true&capacity=4MiB&readers=3&overflow=drop-oldest&wait=spin",
            "nats://127.0.0.1:4222/jobs",
            "nats://127.0.0.1:4222,[::1]:4223,nats.example:4224/jobs.*.new?queue=workers",
            "nats://localhost:4222/a.>?tls=true&ca=/etc/ca.pem&cert=/c.pem&key=/k.pem",
            "nats://h:1/s?creds=/u.creds&nkey=/u.nk&token_file=/t&user=app&password_file=/p%3F",
            "nats://h:1/s?serve=true&capacity=4MiB",
            "nats://h:1/s?jetstream=true&stream=JOBS&durable=workers&ack_wait=5s",
            "nats://h:1/s?ack_wait=1500ms",
            "ws://127.0.0.1:8080/frames",
            "ws://[::1]:0/a/b%3Fc?max_msg=1MiB&serve=true",
            "wss://localhost:8443/x?ca=/ca.pem&cert=/c.pem&key=/k.pem",
        ] {
            let ep: Endpoint = s.parse().unwrap();
            assert_eq!(ep.to_string(), s);
        }
    }

    #[test]
    fn errors_say_what_is_valid() {
        assert!(err("foo:/x").contains("valid schemes: pipe, fifo, unix"));
        assert!(err("unix:/x?colour=red").contains("valid: mode, max_msg, allow_uid"));
        assert!(err("tcp:1.2.3.4:7000?mode=0600").contains("valid: max_msg"));
        assert!(err("unix:/x?mode=999").contains("octal"));
        assert!(err("unix:/x?max_msg=0").contains("max_msg"));
        assert!(err("tcp:127.0.0.1:99999").contains("0 to 65535"));
        assert!(err("tcp:::1:80").contains("brackets"));
        assert!(err("unix:@x?mode=0644").contains("abstract"));
        assert!(err("udp:1.2.3.4:5?allow_uid=0").contains("valid: max_msg"));
        assert!(err("unix+dgram:/x?allow_uid=0").contains("valid: mode, max_msg"));
        assert!(err(&format!("unix:/{}", "a".repeat(120))).contains("at most 107"));
        assert!(err("fifo:").contains("empty"));
        assert!(err("nocolon").contains("scheme:address"));
        assert!(err("unix:/x?mode=0600&mode=0600").contains("twice"));
        assert!(err("nats:127.0.0.1:4222/x").contains("nats://host:port/subject"));
        assert!(err("nats://127.0.0.1:4222").contains("/subject"));
        assert!(err("nats://127.0.0.1:4222/").contains("empty"));
        assert!(err("nats://h:1/a..b").contains("empty token"));
        assert!(err("nats://h:1/a.>.b").contains("the last one"));
        assert!(err("nats://h:1/a b").contains("printable"));
        assert!(err("nats://h:1/a*").contains("whole token"));
        assert!(err("nats://h:0/a").contains("needs a port"));
        assert!(err("nats://h:1/a?queue=a.b").contains("queue="));
        assert!(err("nats://h:1/a?mode=0600").contains("valid: max_msg"));
        assert!(err("ws:127.0.0.1:80/x").contains("ws://host:port/path"));
        assert!(err("ws://127.0.0.1/x").contains("host:port"));
        assert!(err("ws://u:p@127.0.0.1:1/x").contains("credentials"));
        assert!(err("ws://127.0.0.1:1/x?ca=/c").contains("valid: max_msg, wait, serve, capacity"));
    }

    #[test]
    fn nats_servers_default_to_port_4222_and_refuse_credentials() {
        let ep: Endpoint = "nats://localhost,[::1]/jobs".parse().unwrap();
        assert_eq!(ep.to_string(), "nats://localhost:4222,[::1]:4222/jobs");
        for secret in ["nats://s3cret@h:1/x", "nats://user:pw@h:1/x"] {
            let e = err(secret);
            assert!(e.contains("credentials do not go in an endpoint"), "{e}");
            assert!(e.contains("`nats://***@h:1/x`"), "{e}");
            assert!(!e.contains("s3cret") && !e.contains("pw"), "{e}");
        }
    }

    #[test]
    fn non_default_options_only_are_printed() {
        let ep: Endpoint = "unix:/x?mode=600&max_msg=16MiB".parse().unwrap();
        assert_eq!(ep.to_string(), "unix:/x");
    }
}
