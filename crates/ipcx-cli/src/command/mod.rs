//! One file per subcommand.

pub(crate) mod limits;
pub(crate) mod ls;
pub(crate) mod recv;
pub(crate) mod rm;
pub(crate) mod send;
pub(crate) mod signal;
mod stdin_lines;

use anyhow::{bail, Context};
use ipcx::{Endpoint, Scheme};

/// Parses ENDPOINT and applies `--priority` / `--type`, which only queues have.
pub(crate) fn endpoint_with(
    text: &str,
    priority: Option<u32>,
    msg_type: Option<i64>,
) -> anyhow::Result<Endpoint> {
    let mut ep: Endpoint = text
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
