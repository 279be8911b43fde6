//! Message identity: what both ends of a channel declare in the hello and
//! compare before the first message.

use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{fnv1a64, shape, without_paths};

/// What a channel carries, as both ends declare it at open: a name, the
/// shape postcard encodes, and the fingerprint of the two that the ends
/// compare. A receiver of a different identity is refused at open with
/// [`ErrorKind::TypeMismatch`](crate::ErrorKind::TypeMismatch).
///
/// The identity of a serde type is its [`std::any::type_name`] without
/// module paths (`Job`, `Vec<Job>`) and its shape: struct fields in order,
/// their types, enum variants in order. Two programs that each define
/// the same `struct Job` agree, whatever their modules and crates are
/// called; a field added, renamed, retyped or moved is refused. The text
/// is defined in docs/wire.md, so a peer in another language can declare
/// it; or both ends declare a name alone with [`Identity::named`].
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Job { id: u64, tags: Vec<String> }
///
/// let id = ipcx::Identity::of::<Job>();
/// assert_eq!(id.name(), "Job");
/// assert_eq!(id.text(), "Job\nJob\nstruct Job{id:u64,tags:seq<str>}");
/// assert_eq!(id.fingerprint(), ipcx::Identity::fingerprint_of(id.text().as_bytes()));
///
/// // By hand, for a peer that declares a name alone:
/// let by_hand = ipcx::Identity::named("jobs.v1");
/// assert_eq!(by_hand.text(), "jobs.v1");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Identity {
    pub(crate) name: String,
    /// The shape's lines; `None` for a name alone (or not known: a peer's).
    pub(crate) shape: Option<String>,
    pub(crate) fingerprint: u64,
}

/// A type a channel can carry, and the identity it declares: every
/// `Serialize + DeserializeOwned` type, [`Bytes`](crate::Bytes) and
/// [`Pod<T>`](crate::Pod). Not for implementing by hand: set an identity
/// with [`OpenOptions::identity`](crate::OpenOptions::identity) instead.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot travel on an ipcx channel",
    label = "not a message type",
    note = "derive `serde::Serialize` and `serde::Deserialize` for it, or send \
            `ipcx::Bytes` or `ipcx::Pod<T>`"
)]
pub trait Message {
    /// The identity this type declares at open.
    fn identity() -> Identity;
}

impl<T: Serialize + DeserializeOwned> Message for T {
    fn identity() -> Identity {
        Identity::traced::<T>()
    }
}

impl Identity {
    /// The name byte channels use.
    pub(crate) const BYTES_NAME: &'static str = "bytes";

    /// The identity `T` declares at open.
    pub fn of<T: Message + ?Sized>() -> Identity {
        T::identity()
    }

    /// A name alone, set by hand: the fingerprint is the hash of `name`'s
    /// bytes and no shape is compared. Both ends must declare it.
    pub fn named(name: &str) -> Identity {
        Identity {
            name: name.to_owned(),
            shape: None,
            fingerprint: fnv1a64(name.as_bytes()),
        }
    }

    /// A name and a shape text written by hand, for a peer in another
    /// language that declares a traced type's identity (docs/wire.md says
    /// how to write the shape: the format line, then one line per
    /// definition). The Python package builds these from dataclasses.
    ///
    /// ```
    /// #[derive(serde::Serialize, serde::Deserialize)]
    /// struct Job { id: u64, tags: Vec<String> }
    ///
    /// let by_hand = ipcx::Identity::from_shape("Job", "Job\nstruct Job{id:u64,tags:seq<str>}");
    /// assert_eq!(by_hand, ipcx::Identity::of::<Job>());
    /// ```
    pub fn from_shape(name: &str, shape: &str) -> Identity {
        Identity {
            name: name.to_owned(),
            shape: Some(shape.to_owned()),
            fingerprint: fnv1a64(format!("{name}\n{shape}").as_bytes()),
        }
    }

    /// The name this identity declares in the hello.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The 64-bit fingerprint both ends compare: [`Identity::fingerprint_of`]
    /// the [`Identity::text`].
    pub fn fingerprint(&self) -> u64 {
        self.fingerprint
    }

    /// The canonical text hashed into the fingerprint: the name, then (for
    /// a traced type) the shape's lines (docs/wire.md).
    pub fn text(&self) -> String {
        match &self.shape {
            Some(shape) => format!("{}\n{shape}", self.name),
            None => self.name.clone(),
        }
    }

    /// FNV-1a, 64-bit, of `bytes`: how a fingerprint is made from a text.
    pub fn fingerprint_of(bytes: &[u8]) -> u64 {
        fnv1a64(bytes)
    }

    /// A serde type's identity: its short name and, where it can be
    /// traced, its shape.
    pub(crate) fn traced<T: DeserializeOwned>() -> Identity {
        let name = without_paths(std::any::type_name::<T>());
        match shape::of::<T>() {
            Some(shape) => {
                let fingerprint = fnv1a64(format!("{name}\n{shape}").as_bytes());
                Identity {
                    name,
                    shape: Some(shape),
                    fingerprint,
                }
            }
            None => Identity::named(&name),
        }
    }

    /// A name alone, from `T`'s `type_name` without paths (plain-old-data
    /// types, whose shape is their size and alignment, checked apart).
    pub(crate) fn name_of<T: ?Sized>() -> Identity {
        Identity::named(&without_paths(std::any::type_name::<T>()))
    }

    /// What a layer above the channel declares for messages of `inner`
    /// it frames itself (`rpc request`, `rpc reply`): the name
    /// `Outer<Inner>`, the text `role` then `inner`'s text. A bytes inner
    /// stays bytes (it takes anything).
    pub(crate) fn framed(outer: &str, role: &str, inner: &Identity) -> Identity {
        if inner.is_bytes() {
            return Identity::bytes();
        }
        let name = format!("{outer}<{}>", inner.name);
        let shape = format!("{role}\n{}", inner.text());
        let fingerprint = fnv1a64(format!("{name}\n{shape}").as_bytes());
        Identity {
            name,
            shape: Some(shape),
            fingerprint,
        }
    }

    pub(crate) fn bytes() -> Identity {
        Identity::named(Self::BYTES_NAME)
    }

    /// What a peer declared: a name and a fingerprint (its shape is not sent).
    pub(crate) fn declared(name: String, fingerprint: u64) -> Identity {
        Identity {
            name,
            shape: None,
            fingerprint,
        }
    }

    pub(crate) fn is_bytes(&self) -> bool {
        self.fingerprint == fnv1a64(Self::BYTES_NAME.as_bytes())
    }

    /// Whether a receiver of `self` can take messages of `sent`.
    pub(crate) fn accepts(&self, sent: &Identity) -> bool {
        self.is_bytes() || self.fingerprint == sent.fingerprint
    }

    /// Why `receives` refuses `sends`, when the names alone do not say:
    /// empty when the names differ, else which shapes were compared.
    pub(crate) fn why_refused(receives: &Identity, sends: &Identity) -> String {
        if receives.name != sends.name {
            return String::new();
        }
        let (mine, theirs) = (receives.shape_word(), sends.shape_word());
        format!(
            " (both name it `{}`, defined differently: the receiver's is {mine}, the sender's \
             {theirs}; a field, its type or an enum variant differs, or one end declares the \
             name alone: compare `ipcx::Identity::of::<{}>().text()` on each side)",
            receives.name, receives.name
        )
    }

    fn shape_word(&self) -> String {
        if self.fingerprint == fnv1a64(self.name.as_bytes()) {
            "the name alone".into()
        } else {
            match &self.shape {
                Some(shape) => format!("`{}`", shape.replace('\n', "; ")),
                None => format!("the one with fingerprint {:016x}", self.fingerprint),
            }
        }
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:?}, {:016x})", self.text(), self.fingerprint)
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    mod first {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct Job {
            pub id: u64,
        }
    }
    mod second {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct Job {
            pub id: u64,
        }
    }
    mod other_shape {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub struct Job {
            pub id: u32,
        }
    }

    #[test]
    fn same_definition_agrees_another_shape_does_not() {
        let (a, b) = (Identity::of::<first::Job>(), Identity::of::<second::Job>());
        assert_eq!(a, b);
        let c = Identity::of::<other_shape::Job>();
        assert_eq!(c.name, "Job");
        assert!(!a.accepts(&c));
        let why = Identity::why_refused(&a, &c);
        assert!(
            why.contains("struct Job{id:u64}") && why.contains("struct Job{id:u32}"),
            "{why}"
        );
        assert!(Identity::why_refused(&a, &Identity::named("Job")).contains("the name alone"));
    }

    #[test]
    fn bytes_accepts_everything_typed_accepts_itself() {
        let s = Identity::of::<String>();
        assert!(Identity::bytes().accepts(&s));
        assert!(s.accepts(&s));
        assert!(!s.accepts(&Identity::of::<u64>()));
        assert!(!s.accepts(&Identity::bytes()));
        // docs/wire.md quotes these values.
        assert_eq!(Identity::bytes().fingerprint, 0x2f2e_c047_4f1c_4fe4);
        assert_eq!(s.text(), "String\nstr");
    }

    #[test]
    fn framed_identities_are_as_docs_wire_md_says() {
        let request = Identity::framed("Request", "rpc request", &Identity::of::<u64>());
        assert_eq!(request.text(), "Request<u64>\nrpc request\nu64\nu64");
        assert_eq!(request.name(), "Request<u64>");
        assert!(Identity::framed("Reply", "rpc reply", &Identity::bytes()).is_bytes());
    }

    #[test]
    fn untraceable_types_fall_back_to_their_name() {
        #[derive(Serialize, Deserialize)]
        #[serde(untagged)]
        enum Loose {
            N(u64),
            S(String),
        }
        assert_eq!(Identity::of::<Loose>(), Identity::named("Loose"));
    }
}
