//! What the stream and packet links know of the other end, written once:
//! a writer's size limit (its own `max_msg`, lowered to the peer's once
//! that hello comes) and a reader's record of the peer's hello, plus the
//! words of the errors both report.

use std::sync::Arc;

use super::{AwaitPeer, PeerHello};
use crate::error::Fail;
use crate::wire::hello::Hello;

/// A writer's view of its peer.
#[derive(Debug)]
pub(crate) struct WriterPeer {
    max_msg: u32,
    /// Said with a TooLarge error: why the limit is what it is.
    limit_note: &'static str,
    label: Arc<str>,
    hello: AwaitPeer,
}

impl WriterPeer {
    pub(crate) fn new(max_msg: u32, label: Arc<str>) -> WriterPeer {
        WriterPeer {
            max_msg,
            limit_note: "",
            label,
            hello: AwaitPeer::default(),
        }
    }

    /// Explains the size limit in TooLarge errors.
    pub(crate) fn set_limit_note(&mut self, note: &'static str) {
        self.limit_note = note;
    }

    /// Checks the peer's hello when it arrives (see [`AwaitPeer`]).
    pub(crate) fn await_hello(&mut self, pending: PeerHello) {
        self.hello = AwaitPeer::new(pending);
    }

    /// Lowers the size limit to what the peer said it accepts.
    pub(crate) fn limit_to(&mut self, peer_max: u32) {
        self.max_msg = self.max_msg.min(peer_max);
    }

    pub(crate) fn max_msg(&self) -> u32 {
        self.max_msg
    }

    pub(crate) fn label(&self) -> &Arc<str> {
        &self.label
    }

    /// Before sending `len` bytes: the peer's hello if it has come (its
    /// type, its limit), then the size.
    pub(crate) fn admit(&mut self, len: usize) -> Result<(), Fail> {
        if let Some(peer_max) = self.hello.check()? {
            self.limit_to(peer_max);
        }
        if len > self.max_msg as usize {
            return Err(Fail::too_large(
                len,
                self.max_msg,
                self.limit_note,
                &self.label,
            ));
        }
        Ok(())
    }

    /// After a send found the peer gone: its hello may say why.
    pub(crate) fn explain(&mut self, fail: Fail) -> Fail {
        self.hello.explain(fail)
    }
}

/// A reader's record of the peer's hello.
#[derive(Debug)]
pub(crate) struct ReaderPeer {
    /// This end's own hello (what it receives, its `max_msg`).
    pub(crate) local: Hello,
    /// The peer's hello once it arrived and fits this end.
    pub(crate) peer: Option<Hello>,
    /// The peer's hello even when refused (a listener still answers it).
    pub(crate) seen: Option<Hello>,
}

impl ReaderPeer {
    pub(crate) fn new(local: Hello) -> ReaderPeer {
        ReaderPeer {
            local,
            peer: None,
            seen: None,
        }
    }

    /// Records the peer's hello; `Err(why)` if it does not fit this end.
    pub(crate) fn accept(&mut self, hello: Hello) -> Result<(), String> {
        self.seen = Some(hello.clone());
        self.local.check_peer(&hello)?;
        self.peer = Some(hello);
        Ok(())
    }
}

/// Why bytes that should have begun with a hello are refused, with the
/// `frame=` that reads a plain program's output.
pub(crate) fn not_a_hello(who: &str, first: &[u8]) -> String {
    format!(
        "{who} did not start with an ipcx hello (first bytes {:02x?}, {:?}): not an ipcx \
         sender? A plain program's text is read with `?frame=line`, raw bytes with \
         `?frame=none` (ipcx recv, ipcx relay)",
        &first[..first.len().min(4)],
        String::from_utf8_lossy(&first[..first.len().min(16)]),
    )
}

/// A message above this end's `max_msg`, dropped whole.
pub(crate) fn dropped_oversized(len: usize, max_msg: u32) -> String {
    format!("dropped a {len}-byte message: max_msg is {max_msg}")
}
