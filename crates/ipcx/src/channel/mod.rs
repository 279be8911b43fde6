//! The public channel handles. Each holds a private link enum (one variant
//! per kind of transport) and every method is one call into it.

mod duplex;
mod foreign;
mod guard;
mod options;
mod pod;
mod receiver;
mod select;
mod select_macro;
mod sender;

pub(crate) use duplex::Peer;
pub use duplex::{Duplex, Listener};
pub use foreign::{InPlace, WaitOn};
pub use guard::{ReceiverGuard, SenderGuard};
pub use options::OpenOptions;
pub use pod::Pod;
pub use receiver::{IntoIter, Iter, Receiver};
pub use select::{ReadyTimeoutError, Select, TryReadyError};
#[doc(hidden)]
pub use select_macro::{__select_recv_result, __select_send_result};
pub use sender::Sender;

use crate::codec::{Identity, Message};
use crate::endpoint::Endpoint;
use crate::sys::PeerCred;
use crate::transport::{Opened, RemoveOnDrop};

/// Marks a channel of raw byte messages: `Sender<Bytes>` sends `&[u8]` with
/// [`Sender::send_bytes`], `Receiver<Bytes>` receives `Vec<u8>` with
/// [`Receiver::recv_bytes`]. A byte receiver accepts senders of any type
/// (it gets their encoded bytes), so tools like `ipcx recv` can listen to
/// anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bytes {}

/// A sender of raw byte messages.
pub type ByteSender = Sender<Bytes>;
/// A receiver of raw byte messages.
pub type ByteReceiver = Receiver<Bytes>;

impl Message for Bytes {
    fn identity() -> Identity {
        Identity::bytes()
    }
}

/// What a handle knows about where it is, besides its link.
#[derive(Debug)]
pub(crate) struct Info {
    pub(crate) local: Endpoint,
    pub(crate) peer_cred: Option<PeerCred>,
    /// Dropped after the link (field order): removes a file this end made.
    pub(crate) _cleanup: Option<RemoveOnDrop>,
}

impl Info {
    pub(crate) fn split<L>(opened: Opened<L>) -> (L, Info) {
        let info = Info {
            local: opened.local,
            peer_cred: opened.peer_cred,
            _cleanup: opened.cleanup,
        };
        (opened.link, info)
    }
}

/// Every handle can move to and be shared between threads (an epoll
/// buffer holding raw pointers once made `Receiver` neither: this fails to
/// compile instead).
#[allow(dead_code)]
fn handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Sender<Bytes>>();
    check::<Receiver<Bytes>>();
    check::<Listener>();
    check::<Duplex<Bytes, Bytes>>();
}
