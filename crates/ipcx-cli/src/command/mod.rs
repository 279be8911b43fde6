//! One module per subcommand.

pub(crate) mod advise;
pub(crate) mod bench;
pub(crate) mod call;
mod error_report;
pub(crate) mod limits;
pub(crate) mod ls;
mod plain;
pub(crate) mod plumber;
pub(crate) mod recv;
pub(crate) mod relay;
pub(crate) mod rm;
pub(crate) mod send;
pub(crate) mod serve;
pub(crate) mod signal;
mod stdin_lines;
pub(crate) mod top;

use anyhow::{bail, Context};
use ipcx::{Endpoint, Scheme};

/// ENDPOINT with `?frame=line` or `?frame=none`: a plain peer (see
/// [`plain`]); `None` for ipcx framing (the default, or `frame=ipcx`).
pub(crate) fn plain_address(
    text: &str,
) -> anyhow::Result<Option<crate::command::relay::address::RelaySide>> {
    use crate::command::relay::address::{Frame, RelaySide, Target};
    if !text.contains("frame=") {
        return Ok(None);
    }
    let addr = RelaySide::parse(text)?;
    if !matches!(addr.target, Target::Endpoint(_)) {
        bail!("{text}: not an endpoint (-, file: and exec: are for ipcx relay)");
    }
    Ok((addr.frame != Frame::Ipcx).then_some(addr))
}

/// ENDPOINT without a `frame=ipcx` (ipcx's own framing: the default).
fn without_frame(text: &str) -> String {
    let Some((body, query)) = text.split_once('?') else {
        return text.to_owned();
    };
    let rest: Vec<&str> = query.split('&').filter(|p| *p != "frame=ipcx").collect();
    if rest.is_empty() {
        body.to_owned()
    } else {
        format!("{body}?{}", rest.join("&"))
    }
}

/// Parses ENDPOINT and applies `--priority` / `--type`, which only queues have.
pub(crate) fn endpoint_with(
    text: &str,
    priority: Option<u32>,
    msg_type: Option<i64>,
) -> anyhow::Result<Endpoint> {
    let mut ep: Endpoint = without_frame(text)
        .parse()
        .with_context(|| format!("bad endpoint {text}"))?;
    if let Some(p) = priority {
        if ep.scheme() != Scheme::Mq {
            bail!("--priority applies to mq: endpoints only");
        }
        if p > 32767 {
            bail!("--priority {p} is not from 0 to 32767");
        }
        ep.options_mut().priority = p;
    }
    if let Some(t) = msg_type {
        if ep.scheme() != Scheme::SysvMq {
            bail!("--type applies to sysvmq: endpoints only");
        }
        ep.options_mut().msg_type = t;
    }
    Ok(ep)
}
