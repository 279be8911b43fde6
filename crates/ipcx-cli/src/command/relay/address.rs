//! The relay's addresses: every ipcx endpoint, optionally behind
//! `listen:`, plus `-` (stdio), `file:PATH` and `exec:COMMAND`, each with
//! a `frame=` option saying how bytes become messages.

use std::fmt;
use std::path::PathBuf;

use anyhow::{bail, Context};
use ipcx::{Endpoint, Scheme, UnixKind};

/// How a byte stream is cut into messages (and messages joined into one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// ipcx's own framing and hello: the peer is an ipcx endpoint.
    Ipcx,
    /// No framing: the bytes as they come. Read from a stream, each read
    /// (up to 64 KiB) is one message; on packet sockets, one datagram or
    /// packet is one message.
    None,
    /// One message per line; the newline is not part of the message.
    Line,
}

impl Frame {
    fn parse(text: &str) -> anyhow::Result<Frame> {
        Ok(match text {
            "ipcx" => Frame::Ipcx,
            "none" => Frame::None,
            "line" => Frame::Line,
            other => bail!("frame={other}: expected ipcx, none or line"),
        })
    }
}

/// What an address names.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// `-`: standard input and output.
    Stdio,
    /// `file:PATH`: read, or written (created `mode`, default 0600).
    File {
        path: PathBuf,
        append: bool,
        mode: u32,
    },
    /// `exec:COMMAND`: a `sh -c` child's stdin and stdout.
    Exec(String),
    /// An ipcx endpoint.
    Endpoint(Endpoint),
}

/// One side of a relay, as given on the command line.
#[derive(Debug, Clone)]
pub(crate) struct RelaySide {
    pub(crate) text: String,
    pub(crate) target: Target,
    pub(crate) frame: Frame,
    /// `listen:`: accept clients, one relay session each.
    pub(crate) listen: bool,
    /// `owner=USER[:GROUP]`: who gets what the relay creates (a file, a
    /// listening socket's file).
    pub(crate) owner: Option<(Option<u32>, Option<u32>)>,
}

/// What a side can do, which decides the relay's direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ability {
    /// Reads and writes over one connection (stdio, exec, stream and
    /// seqpacket sockets).
    TwoWay,
    /// One way only: read where it is the source, written where it is the
    /// target (queues, shared memory, FIFOs, pipes, files, datagrams).
    OneWay,
}

impl RelaySide {
    pub(crate) fn parse(text: &str) -> anyhow::Result<RelaySide> {
        Self::parse_inner(text).with_context(|| format!("bad relay address `{text}`"))
    }

    fn parse_inner(text: &str) -> anyhow::Result<RelaySide> {
        let (mut listen, rest) = match text.strip_prefix("listen:") {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (body, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let mut frame = None;
        let mut append = false;
        let mut mode = None;
        let mut owner = None;
        let mut passed = Vec::new();
        for pair in query.into_iter().flat_map(|q| q.split('&')) {
            match pair.split_once('=') {
                Some(("frame", v)) => frame = Some(Frame::parse(v)?),
                Some(("append", v)) => append = parse_bool(v)?,
                Some(("owner", v)) => owner = Some(crate::users::parse_owner(v)?),
                Some(("mode", v)) => {
                    mode = Some(v.to_owned());
                    passed.push(pair);
                }
                _ => passed.push(pair),
            }
        }
        let local = |name: &str| -> anyhow::Result<()> {
            if listen {
                bail!(
                    "{name} cannot listen; listen: applies to unix:, unix+seqpacket:, tcp: and ws:"
                );
            }
            if append && name != "file:" {
                bail!("append= applies to file: only");
            }
            Ok(())
        };
        let (target, default_frame) = if body == "-" {
            local("-")?;
            no_options("-", &passed)?;
            (Target::Stdio, Frame::None)
        } else if let Some(path) = body.strip_prefix("file:") {
            local("file:")?;
            let extra: Vec<_> = passed.iter().filter(|p| !p.starts_with("mode=")).collect();
            if !extra.is_empty() {
                bail!("file: takes frame=, append=, mode= and owner= (not {extra:?})");
            }
            if path.is_empty() {
                bail!("file: needs a path");
            }
            let mode = match mode {
                Some(m) => u32::from_str_radix(m.trim_start_matches("0o"), 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .with_context(|| format!("mode={m} is not an octal mode"))?,
                None => 0o600,
            };
            (
                Target::File {
                    path: path.into(),
                    append,
                    mode,
                },
                Frame::None,
            )
        } else if let Some(command) = text.strip_prefix("exec:") {
            // The whole rest is the command: `?` and `&` belong to the shell.
            return Ok(RelaySide {
                text: text.to_owned(),
                target: Target::Exec(command.to_owned()),
                frame: Frame::None,
                listen: false,
                owner: None,
            })
            .and_then(|a| {
                if command.trim().is_empty() {
                    bail!("exec: needs a command");
                }
                Ok(a)
            });
        } else {
            if append {
                bail!("append= applies to file: only");
            }
            // `listen:ws://…`: the WebSocket end listens whichever way it
            // goes (a source does by default; a target becomes a
            // listening sender, which gives each client every message).
            if listen && (body.starts_with("ws://") || body.starts_with("wss://")) {
                passed.push("listen=true");
                listen = false;
            }
            let endpoint_text = if passed.is_empty() {
                body.to_owned()
            } else {
                format!("{body}?{}", passed.join("&"))
            };
            let ep: Endpoint = endpoint_text.parse()?;
            (Target::Endpoint(ep), Frame::Ipcx)
        };
        let address = RelaySide {
            text: text.to_owned(),
            target,
            frame: frame.unwrap_or(default_frame),
            listen,
            owner,
        };
        address.check()?;
        Ok(address)
    }

    /// Whether `frame=` and `listen:` make sense for what is named.
    fn check(&self) -> anyhow::Result<()> {
        if self.owner.is_some() {
            let creates_a_file = match &self.target {
                Target::File { .. } => true,
                Target::Endpoint(ep) => self.listen && ep.path().is_some(),
                _ => false,
            };
            if !creates_a_file {
                bail!("owner= applies to file: and to listen: on a Unix socket path");
            }
        }
        let Target::Endpoint(ep) = &self.target else {
            if self.frame == Frame::Ipcx {
                bail!("frame=ipcx needs an ipcx endpoint; -, file: and exec: are plain bytes");
            }
            return Ok(());
        };
        let scheme = ep.scheme();
        if self.listen && !is_connection_socket(ep) {
            bail!(
                "{}: has no connections to accept; listen: applies to unix:, \
                 unix+seqpacket:, tcp: and ws:",
                scheme.name()
            );
        }
        match self.frame {
            Frame::Ipcx => Ok(()),
            Frame::None if matches!(scheme, Scheme::Mq | Scheme::SysvMq | Scheme::Shm) => bail!(
                "{}: carries ipcx messages only; frame=none applies to sockets, fifo: and pipe:",
                scheme.name()
            ),
            Frame::None if scheme == Scheme::Nats => bail!(
                "nats: needs no frame=none: a plain NATS publisher's messages are read as they \
                 are, and what ipcx publishes is the payload alone (its header is a NATS header)"
            ),
            Frame::Line if scheme.keeps_boundaries() => bail!(
                "{}: keeps message boundaries itself; frame=line applies to byte streams \
                 (unix:, tcp:, fifo:, pipe:, -, file:, exec:)",
                scheme.name()
            ),
            _ => Ok(()),
        }
    }

    pub(crate) fn ability(&self) -> Ability {
        match &self.target {
            Target::Stdio | Target::Exec(_) => Ability::TwoWay,
            Target::File { .. } => Ability::OneWay,
            Target::Endpoint(ep) if is_connection_socket(ep) => Ability::TwoWay,
            Target::Endpoint(_) => Ability::OneWay,
        }
    }

    /// Whether the relay can open it again for every client (not stdio or
    /// an inherited pipe, which exist once).
    pub(crate) fn reopenable(&self) -> bool {
        match &self.target {
            Target::Stdio => false,
            Target::Endpoint(ep) => ep.scheme() != Scheme::Pipe,
            _ => true,
        }
    }
}

impl fmt::Display for RelaySide {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

pub(crate) fn is_connection_socket(ep: &Endpoint) -> bool {
    matches!(
        ep.address(),
        ipcx::endpoint::Address::Tcp(_)
            | ipcx::endpoint::Address::Unix(UnixKind::Stream | UnixKind::SeqPacket, _)
    )
}

fn parse_bool(v: &str) -> anyhow::Result<bool> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => bail!("`{v}` is not true or false"),
    }
}

fn no_options(name: &str, passed: &[&str]) -> anyhow::Result<()> {
    if !passed.is_empty() {
        bail!("{name} takes only frame= (not {passed:?})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_options_are_taken_off_before_the_endpoint_is_parsed() {
        let a = RelaySide::parse("listen:unix:/tmp/x.sock?frame=none&mode=0640").unwrap();
        assert!(a.listen);
        assert_eq!(a.frame, Frame::None);
        let Target::Endpoint(ep) = &a.target else {
            panic!("an endpoint")
        };
        assert_eq!(ep.options().mode, 0o640);
        assert_eq!(a.ability(), Ability::TwoWay);
    }

    #[test]
    fn defaults_follow_what_is_named() {
        assert_eq!(RelaySide::parse("-").unwrap().frame, Frame::None);
        assert_eq!(RelaySide::parse("mq:/jobs").unwrap().frame, Frame::Ipcx);
        assert_eq!(
            RelaySide::parse("mq:/jobs").unwrap().ability(),
            Ability::OneWay
        );
        let f = RelaySide::parse("file:/tmp/out?append=true&mode=0644").unwrap();
        assert!(matches!(
            f.target,
            Target::File {
                append: true,
                mode: 0o644,
                ..
            }
        ));
        let e = RelaySide::parse("exec:tr a-z A-Z | sed 's/?/!/'").unwrap();
        assert!(matches!(e.target, Target::Exec(ref c) if c == "tr a-z A-Z | sed 's/?/!/'"));
    }

    #[test]
    fn nonsense_is_refused_with_the_reason() {
        for (text, says) in [
            ("listen:mq:/jobs", "no connections to accept"),
            ("listen:-", "cannot listen"),
            ("mq:/jobs?frame=none", "carries ipcx messages only"),
            ("udp:127.0.0.1:9?frame=line", "keeps message boundaries"),
            ("-?frame=ipcx", "needs an ipcx endpoint"),
            ("tcp:127.0.0.1:1?frame=json", "expected ipcx, none or line"),
            ("file:/tmp/x?color=red", "file: takes"),
            ("file:/tmp/x?owner=no-such-user-here", "no user"),
            ("listen:tcp:127.0.0.1:1?owner=root", "owner= applies to"),
            ("exec:", "needs a command"),
            ("nonsense:x", "unknown scheme"),
        ] {
            let err = format!("{:#}", RelaySide::parse(text).unwrap_err());
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
