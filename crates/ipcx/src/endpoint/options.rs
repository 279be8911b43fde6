//! Endpoint options (`?key=value&...`): values, defaults, printing.

use std::fmt::Write;

/// Default largest message a channel accepts: 16 MiB.
pub const DEFAULT_MAX_MSG: u32 = 16 << 20;
/// Default permission bits for anything ipcx creates.
pub const DEFAULT_MODE: u32 = 0o600;
/// The largest `max_msg` the stream frame can express (`u32::MAX` is reserved).
pub const MAX_MAX_MSG: u32 = u32::MAX - 1;

/// Options that can follow an endpoint address.
///
/// Which keys a scheme accepts is listed by [`Scheme::options`](super::Scheme::options);
/// a key outside that list is an error naming the valid ones.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Options {
    /// `mode=0640`: permission bits of created files, sockets and FIFOs (default `0600`).
    pub mode: u32,
    /// `max_msg=4MiB`: largest message, in bytes, this end sends or accepts (default 16 MiB).
    pub max_msg: u32,
    /// `allow_uid=0,1000`: Unix socket listeners accept only peers with these uids
    /// (checked with `SO_PEERCRED`). Empty: any peer the file permissions let in.
    pub allow_uid: Vec<u32>,
    /// `maxmsg=10` (`mq:`): how many messages the queue holds when this end
    /// creates it. Default: `/proc/sys/fs/mqueue/msg_default`.
    pub maxmsg: Option<u32>,
    /// `msgsize=8192` (`mq:`): the queue's largest message, header included,
    /// when this end creates it. Default: `/proc/sys/fs/mqueue/msgsize_default`.
    pub msgsize: Option<u32>,
    /// `priority=5` (`mq:`): the priority a sender's messages carry
    /// (0–32767; a receiver takes the highest first). Default 0.
    pub priority: u32,
    /// `type=N` (`sysvmq:`): a sender sends with message type N (> 0,
    /// default 1); a receiver takes any type (0, the default), exactly
    /// type N (N > 0), or the lowest type ≤ |N| first (N < 0), as `msgrcv`.
    pub msg_type: i64,
    /// `proj=7` (`sysvmq:/path`): the project id given to `ftok` (1–255, default 1).
    pub proj: Option<u8>,
    /// `persist=true` (`mq:`, `sysvmq:`, `shm:`): the creator leaves the
    /// queue or segment in place when it is done (by default the last one
    /// out removes it).
    pub persist: bool,
    /// `serve=true` (receivers of `fifo:`, `unix:`, `unix+seqpacket:`,
    /// `unix+dgram:`, `tcp:`, `mq:`, `sysvmq:`): keep taking new senders
    /// after every sender so far is gone; the receiver ends only when
    /// stopped. Default `false`: iteration ends with the last sender.
    pub serve: bool,
    /// `capacity=4MiB` (`shm:`): bytes of ring when this end creates the
    /// segment (a power of two, default 1 MiB). An opener with `capacity=`
    /// set requires the segment to have exactly that.
    pub capacity: Option<u64>,
    /// `readers=4` (`shm:`): how many receivers can attach at once (1–64,
    /// default 1), each getting every message (broadcast).
    pub readers: Option<u32>,
    /// `overflow=drop-oldest` (`shm:`): what a full ring does (default
    /// `block`: the sender waits for the slowest receiver).
    pub overflow: Overflow,
    /// `wait=`: how an end waits for its peer (default `adaptive`: poll for
    /// a while, then sleep). Every transport but `sysvmq:`, whose queue has
    /// nothing to poll.
    pub wait: WaitMode,
    /// Options of remote endpoints (`nats:`), boxed: most endpoints are
    /// local and need not carry their room.
    pub remote: Box<RemoteOptions>,
}

/// Options of remote endpoints (`nats:`): a queue group, TLS, and where
/// the credentials are. No option holds a secret: only the path of a file
/// that does (or an environment variable, see `docs/remote.md`), so an
/// endpoint can be printed, logged and shown by `ipcx ls` as it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RemoteOptions {
    /// `queue=workers`: receivers of one group share the messages (each
    /// goes to one of them) instead of each getting all.
    pub queue: Option<String>,
    /// `tls=true`: refuse a server that does not speak TLS (implied by
    /// `ca=`, `cert=`).
    pub tls: bool,
    /// `ca=/etc/app/ca.pem`: the certificates the server's is checked
    /// against (default: the system's roots).
    pub ca: Option<std::path::PathBuf>,
    /// `cert=/etc/app/client.pem`: a client certificate (with `key=`).
    pub cert: Option<std::path::PathBuf>,
    /// `key=/etc/app/client.key`: the client certificate's private key.
    pub key: Option<std::path::PathBuf>,
    /// `creds=/etc/app/user.creds`: a NATS credentials file (JWT and nkey seed).
    pub creds: Option<std::path::PathBuf>,
    /// `nkey=/etc/app/user.nk`: a file holding an nkey seed.
    pub nkey: Option<std::path::PathBuf>,
    /// `token_file=/etc/app/token`: a file holding a token.
    pub token_file: Option<std::path::PathBuf>,
    /// `user=app`: a user name; the password comes from `password_file=`
    /// or `IPCX_NATS_PASSWORD`.
    pub user: Option<String>,
    /// `password_file=/etc/app/password`: a file holding the user's password.
    pub password_file: Option<std::path::PathBuf>,
    /// `jetstream=true`: durable delivery through a JetStream stream
    /// (acknowledged, at least once; see `docs/remote.md`).
    pub jetstream: bool,
    /// `stream=JOBS`: the JetStream stream (default: `IPCX_` and the
    /// subject, `.` `*` `>` as `_`); created when missing.
    pub stream: Option<String>,
    /// `durable=workers`: a JetStream receiver's durable consumer (default
    /// `ipcx`): receivers of one name share the messages and its progress
    /// outlives them.
    pub durable: Option<String>,
    /// `ack_wait=30s`: how long a JetStream message handed to a receiver
    /// may go unacknowledged before it is delivered again (default 30 s).
    pub ack_wait: Option<std::time::Duration>,
    /// `listen=` (`ws:`, `wss:`): whether this end listens. By default a
    /// receiver listens and senders connect; `listen=true` on a sender
    /// turns that round: it listens and sends every message to each
    /// receiver connected (browsers, `listen=false` receivers).
    pub listen: Option<bool>,
}

/// What a full shared-memory ring does (`overflow=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Overflow {
    /// The sender waits for the slowest receiver (`overflow=block`).
    #[default]
    Block,
    /// The sender overwrites the oldest messages; a receiver it laps is
    /// told how many it missed (`overflow=drop-oldest`).
    DropOldest,
}

/// How an end waits for its peer (`wait=`). On `shm:` it spins on the
/// ring and sleeps on a futex; on the kernel transports it polls the fd
/// (non-blocking reads, `poll` with no timeout) and sleeps in the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum WaitMode {
    /// Poll, never sleep: lowest latency, burns a core (`wait=spin`).
    Spin,
    /// Sleep at once (`wait=block`): no CPU spent waiting.
    Block,
    /// Poll briefly (about 2 000 spins on `shm:`, 20 µs on the kernel
    /// transports), then sleep (`wait=adaptive`, the default).
    #[default]
    Adaptive,
}

impl Overflow {
    fn name(self) -> &'static str {
        match self {
            Overflow::Block => "block",
            Overflow::DropOldest => "drop-oldest",
        }
    }
}

impl WaitMode {
    fn name(self) -> &'static str {
        match self {
            WaitMode::Spin => "spin",
            WaitMode::Block => "block",
            WaitMode::Adaptive => "adaptive",
        }
    }
}

impl Default for Options {
    fn default() -> Self {
        Options {
            mode: DEFAULT_MODE,
            max_msg: DEFAULT_MAX_MSG,
            allow_uid: Vec::new(),
            maxmsg: None,
            msgsize: None,
            priority: 0,
            msg_type: 0,
            proj: None,
            persist: false,
            serve: false,
            capacity: None,
            readers: None,
            overflow: Overflow::Block,
            wait: WaitMode::Adaptive,
            remote: Box::default(),
        }
    }
}

/// One option key; the order here is the order options print in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    Mode,
    MaxMsg,
    AllowUid,
    MaxMsgs,
    MsgSize,
    Priority,
    Type,
    Proj,
    Persist,
    Serve,
    Capacity,
    Readers,
    Overflow,
    Wait,
    Queue,
    Tls,
    Ca,
    Cert,
    Private,
    Creds,
    Nkey,
    TokenFile,
    User,
    PasswordFile,
    Jetstream,
    Stream,
    Durable,
    AckWait,
    Listen,
}

impl Key {
    pub(crate) const ALL: [Key; 29] = [
        Key::Mode,
        Key::MaxMsg,
        Key::AllowUid,
        Key::MaxMsgs,
        Key::MsgSize,
        Key::Priority,
        Key::Type,
        Key::Proj,
        Key::Persist,
        Key::Serve,
        Key::Capacity,
        Key::Readers,
        Key::Overflow,
        Key::Wait,
        Key::Queue,
        Key::Tls,
        Key::Ca,
        Key::Cert,
        Key::Private,
        Key::Creds,
        Key::Nkey,
        Key::TokenFile,
        Key::User,
        Key::PasswordFile,
        Key::Jetstream,
        Key::Stream,
        Key::Durable,
        Key::AckWait,
        Key::Listen,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::Mode => "mode",
            Key::MaxMsg => "max_msg",
            Key::AllowUid => "allow_uid",
            Key::MaxMsgs => "maxmsg",
            Key::MsgSize => "msgsize",
            Key::Priority => "priority",
            Key::Type => "type",
            Key::Proj => "proj",
            Key::Persist => "persist",
            Key::Serve => "serve",
            Key::Capacity => "capacity",
            Key::Readers => "readers",
            Key::Overflow => "overflow",
            Key::Wait => "wait",
            Key::Queue => "queue",
            Key::Tls => "tls",
            Key::Ca => "ca",
            Key::Cert => "cert",
            Key::Private => "key",
            Key::Creds => "creds",
            Key::Nkey => "nkey",
            Key::TokenFile => "token_file",
            Key::User => "user",
            Key::PasswordFile => "password_file",
            Key::Jetstream => "jetstream",
            Key::Stream => "stream",
            Key::Durable => "durable",
            Key::AckWait => "ack_wait",
            Key::Listen => "listen",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl Options {
    /// Sets `key` from its text; the error says what a valid value looks like.
    pub(crate) fn set(&mut self, key: Key, value: &str) -> Result<(), String> {
        match key {
            Key::Mode => {
                self.mode = u32::from_str_radix(value, 8)
                    .ok()
                    .filter(|m| *m <= 0o777 && !value.is_empty())
                    .ok_or_else(|| {
                        format!("mode=`{value}` is not octal permission bits (e.g. mode=0600)")
                    })?;
            }
            Key::MaxMsg => {
                self.max_msg = parse_size(value)
                    .filter(|n| (1..=u64::from(MAX_MAX_MSG)).contains(n))
                    .map(|n| n as u32)
                    .ok_or_else(|| {
                        format!(
                            "max_msg=`{value}` is not a size from 1 to {MAX_MAX_MSG} bytes \
                             (e.g. max_msg=65536, max_msg=64KiB, max_msg=16MiB)"
                        )
                    })?;
            }
            Key::AllowUid => {
                self.allow_uid = value
                    .split(',')
                    .map(|u| u.parse::<u32>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| {
                        format!("allow_uid=`{value}` is not a comma-separated list of uids")
                    })?;
            }
            Key::MaxMsgs => {
                self.maxmsg = Some(value.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    format!("maxmsg=`{value}` is not a queue depth of at least 1")
                })?);
            }
            Key::MsgSize => {
                self.msgsize = Some(
                    parse_size(value)
                        .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                        .map(|n| n as u32)
                        .ok_or_else(|| format!("msgsize=`{value}` is not a size in bytes"))?,
                );
            }
            Key::Priority => {
                self.priority = value
                    .parse()
                    .ok()
                    .filter(|p| *p < 32768)
                    .ok_or_else(|| format!("priority=`{value}` is not from 0 to 32767"))?;
            }
            Key::Type => {
                self.msg_type = value
                    .parse()
                    .map_err(|_| format!("type=`{value}` is not a message type (an integer)"))?;
            }
            Key::Proj => {
                self.proj =
                    Some(value.parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                        format!("proj=`{value}` is not a project id from 1 to 255")
                    })?);
            }
            Key::Persist => self.persist = parse_bool("persist", value)?,
            Key::Serve => self.serve = parse_bool("serve", value)?,
            Key::Capacity => {
                self.capacity = Some(
                    parse_size(value)
                        .filter(|n| n.is_power_of_two() && (64..=1 << 40).contains(n))
                        .ok_or_else(|| {
                            format!(
                                "capacity=`{value}` is not a power of two from 64 bytes to 1TiB \
                                 (e.g. capacity=64KiB, capacity=4MiB)"
                            )
                        })?,
                );
            }
            Key::Readers => {
                self.readers = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| (1..=64).contains(n))
                        .ok_or_else(|| format!("readers=`{value}` is not from 1 to 64"))?,
                );
            }
            Key::Overflow => {
                self.overflow = match value {
                    "block" => Overflow::Block,
                    "drop-oldest" => Overflow::DropOldest,
                    _ => {
                        return Err(format!(
                            "overflow=`{value}` is not `block` or `drop-oldest`"
                        ))
                    }
                };
            }
            Key::Wait => {
                self.wait = match value {
                    "spin" => WaitMode::Spin,
                    "block" => WaitMode::Block,
                    "adaptive" => WaitMode::Adaptive,
                    _ => {
                        return Err(format!(
                            "wait=`{value}` is not `spin`, `block` or `adaptive`"
                        ))
                    }
                };
            }
            Key::Queue => self.remote.queue = Some(parse_name("queue", value)?),
            Key::User => self.remote.user = Some(parse_name("user", value)?),
            Key::Tls => self.remote.tls = parse_bool("tls", value)?,
            Key::Jetstream => self.remote.jetstream = parse_bool("jetstream", value)?,
            Key::Listen => self.remote.listen = Some(parse_bool("listen", value)?),
            Key::Stream => self.remote.stream = Some(parse_name("stream", value)?),
            Key::Durable => self.remote.durable = Some(parse_name("durable", value)?),
            Key::AckWait => {
                self.remote.ack_wait = Some(
                    parse_duration(value)
                        .filter(|d| !d.is_zero())
                        .ok_or_else(|| {
                            format!("ack_wait=`{value}` is not a duration (e.g. 500ms, 30s, 2m)")
                        })?,
                )
            }
            Key::Ca
            | Key::Cert
            | Key::Private
            | Key::Creds
            | Key::Nkey
            | Key::TokenFile
            | Key::PasswordFile => {
                let path = Some(parse_file(key.name(), value)?);
                let r = &mut self.remote;
                match key {
                    Key::Ca => r.ca = path,
                    Key::Cert => r.cert = path,
                    Key::Private => r.key = path,
                    Key::Creds => r.creds = path,
                    Key::Nkey => r.nkey = path,
                    Key::TokenFile => r.token_file = path,
                    _ => r.password_file = path,
                }
            }
        }
        Ok(())
    }

    /// Whether `key` differs from its default (only those are printed).
    pub(crate) fn is_set(&self, key: Key) -> bool {
        let d = Options::default();
        match key {
            Key::Mode => self.mode != d.mode,
            Key::MaxMsg => self.max_msg != d.max_msg,
            Key::AllowUid => !self.allow_uid.is_empty(),
            Key::MaxMsgs => self.maxmsg.is_some(),
            Key::MsgSize => self.msgsize.is_some(),
            Key::Priority => self.priority != d.priority,
            Key::Type => self.msg_type != d.msg_type,
            Key::Proj => self.proj.is_some(),
            Key::Persist => self.persist,
            Key::Serve => self.serve,
            Key::Capacity => self.capacity.is_some(),
            Key::Readers => self.readers.is_some(),
            Key::Overflow => self.overflow != d.overflow,
            Key::Wait => self.wait != d.wait,
            Key::Queue => self.remote.queue.is_some(),
            Key::Tls => self.remote.tls,
            Key::Jetstream => self.remote.jetstream,
            Key::Stream => self.remote.stream.is_some(),
            Key::Durable => self.remote.durable.is_some(),
            Key::AckWait => self.remote.ack_wait.is_some(),
            Key::Listen => self.remote.listen.is_some(),
            Key::User => self.remote.user.is_some(),
            Key::Ca
            | Key::Cert
            | Key::Private
            | Key::Creds
            | Key::Nkey
            | Key::TokenFile
            | Key::PasswordFile => self.remote_file(key).is_some(),
        }
    }

    pub(crate) fn write_value(&self, key: Key, out: &mut String) {
        // Writing to a String cannot fail.
        let _ = match key {
            Key::Mode => write!(out, "{:04o}", self.mode),
            Key::MaxMsg => write!(out, "{}", format_size(u64::from(self.max_msg))),
            Key::AllowUid => {
                let uids: Vec<String> = self.allow_uid.iter().map(u32::to_string).collect();
                write!(out, "{}", uids.join(","))
            }
            Key::MaxMsgs => write!(out, "{}", self.maxmsg.unwrap_or_default()),
            Key::MsgSize => write!(
                out,
                "{}",
                format_size(u64::from(self.msgsize.unwrap_or_default()))
            ),
            Key::Priority => write!(out, "{}", self.priority),
            Key::Type => write!(out, "{}", self.msg_type),
            Key::Proj => write!(out, "{}", self.proj.unwrap_or_default()),
            Key::Persist | Key::Serve | Key::Tls | Key::Jetstream => write!(out, "true"),
            Key::Listen => write!(out, "{}", self.remote.listen.unwrap_or_default()),
            Key::Stream => write!(out, "{}", self.remote.stream.as_deref().unwrap_or_default()),
            Key::Durable => write!(
                out,
                "{}",
                self.remote.durable.as_deref().unwrap_or_default()
            ),
            Key::AckWait => {
                let d = self.remote.ack_wait.unwrap_or_default();
                if d.subsec_millis() == 0 {
                    write!(out, "{}s", d.as_secs())
                } else {
                    write!(out, "{}ms", d.as_millis())
                }
            }
            Key::Queue => write!(out, "{}", self.remote.queue.as_deref().unwrap_or_default()),
            Key::User => write!(out, "{}", self.remote.user.as_deref().unwrap_or_default()),
            Key::Ca
            | Key::Cert
            | Key::Private
            | Key::Creds
            | Key::Nkey
            | Key::TokenFile
            | Key::PasswordFile => {
                use std::os::unix::ffi::OsStrExt;
                if let Some(path) = self.remote_file(key) {
                    super::escape::escape_into(out, path.as_os_str().as_bytes());
                }
                Ok(())
            }
            Key::Capacity => write!(out, "{}", format_size(self.capacity.unwrap_or_default())),
            Key::Readers => write!(out, "{}", self.readers.unwrap_or_default()),
            Key::Overflow => write!(out, "{}", self.overflow.name()),
            Key::Wait => write!(out, "{}", self.wait.name()),
        };
    }
}

impl Options {
    fn remote_file(&self, key: Key) -> Option<&std::path::Path> {
        let r = &self.remote;
        match key {
            Key::Ca => r.ca.as_deref(),
            Key::Cert => r.cert.as_deref(),
            Key::Private => r.key.as_deref(),
            Key::Creds => r.creds.as_deref(),
            Key::Nkey => r.nkey.as_deref(),
            Key::TokenFile => r.token_file.as_deref(),
            Key::PasswordFile => r.password_file.as_deref(),
            _ => None,
        }
    }
}

/// A queue group or user name: what NATS allows in a subject token.
fn parse_name(key: &str, value: &str) -> Result<String, String> {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
    {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "{key}=`{value}` is not a name of letters, digits, `-` and `_`"
        ))
    }
}

/// `500ms`, `30s`, `2m`.
fn parse_duration(text: &str) -> Option<std::time::Duration> {
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = text[..split].parse().ok()?;
    Some(match &text[split..] {
        "ms" => std::time::Duration::from_millis(n),
        "s" => std::time::Duration::from_secs(n),
        "m" => std::time::Duration::from_secs(n.checked_mul(60)?),
        _ => return None,
    })
}

/// A file named by an option (its `%XX` escapes decoded).
fn parse_file(key: &str, value: &str) -> Result<std::path::PathBuf, String> {
    use std::os::unix::ffi::OsStringExt;
    let bytes = super::escape::unescape(value)?;
    if bytes.is_empty() || bytes.contains(&0) {
        return Err(format!("{key}= needs the path of a file"));
    }
    Ok(std::path::PathBuf::from(std::ffi::OsString::from_vec(
        bytes,
    )))
}

const UNITS: [(&str, u64); 6] = [
    ("GiB", 1 << 30),
    ("MiB", 1 << 20),
    ("KiB", 1 << 10),
    ("G", 1 << 30),
    ("M", 1 << 20),
    ("K", 1 << 10),
];

/// Parses `65536`, `64KiB`, `64K`, `16MiB`, `1GiB` (binary units).
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let (digits, mult) = UNITS
        .iter()
        .find_map(|(suffix, mult)| text.strip_suffix(suffix).map(|d| (d, *mult)))
        .unwrap_or((text.strip_suffix('B').unwrap_or(text), 1));
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok()?.checked_mul(mult)
}

/// Prints a size in the largest binary unit that divides it exactly.
pub fn format_size(n: u64) -> String {
    for (suffix, mult) in &UNITS[..3] {
        if n >= *mult && n % mult == 0 {
            return format!("{}{suffix}", n / mult);
        }
    }
    n.to_string()
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`) for option `key`.
fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(format!("{key}=`{value}` is not true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16MiB"), Some(16 << 20));
        assert_eq!(parse_size("64K"), Some(64 << 10));
        assert_eq!(parse_size("100B"), Some(100));
        assert_eq!(parse_size("MiB"), None);
        assert_eq!(parse_size("-1"), None);
        assert_eq!(parse_size("99999999999999999999GiB"), None);
        assert_eq!(format_size(16 << 20), "16MiB");
        assert_eq!(format_size(1000), "1000");
        assert_eq!(format_size(1536), "1536");
    }
}
