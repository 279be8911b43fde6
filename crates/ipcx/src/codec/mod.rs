//! Payload encoding and the message identity checked at open.
//!
//! Typed channels encode with [postcard](https://postcard.jamesmunns.com/wire-format)
//! (a compact, documented serde format). What a channel carries is known
//! by its [`Identity`]: the type's name without module paths and the
//! shape postcard encodes, hashed into a fingerprint both ends compare.

mod identity;
mod shape;

pub use identity::{Identity, Message};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// `name` with every module path dropped: `alloc::vec::Vec<app::Job>` is
/// `Vec<Job>`. (What `type_name` prints is not specified beyond being a
/// readable name; paths are what differs between programs.)
pub(crate) fn without_paths(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut segment = String::new();
    let mut chars = name.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            segment.clear(); // a path segment: dropped
        } else if c.is_alphanumeric() || c == '_' {
            segment.push(c);
        } else {
            out.push_str(&segment);
            segment.clear();
            out.push(c);
        }
    }
    out.push_str(&segment);
    out
}

/// FNV-1a, 64-bit: tiny, stable, and easy to reimplement in any language.
pub(crate) fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Encodes `msg` into `buf` (cleared first), reusing its allocation.
pub(crate) fn encode<T: Serialize>(msg: &T, buf: &mut Vec<u8>) -> Result<(), Error> {
    buf.clear();
    encode_after(msg, buf)
}

/// Encodes `msg` at the end of `buf` (after a header already there).
pub(crate) fn encode_after<T: Serialize>(msg: &T, buf: &mut Vec<u8>) -> Result<(), Error> {
    let taken = std::mem::take(buf);
    match postcard::to_extend(msg, taken) {
        Ok(filled) => {
            *buf = filled;
            Ok(())
        }
        Err(e) => Err(Error::new(
            ErrorKind::Encode,
            format!("cannot encode the message: {e}"),
        )),
    }
}

/// Decodes one message that must fill `bytes` exactly.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    let describe = |e: postcard::Error| {
        Error::new(
            ErrorKind::Decode,
            format!(
                "cannot decode a {}-byte message as {}: {e}",
                bytes.len(),
                std::any::type_name::<T>()
            ),
        )
    };
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(describe)?;
    if !rest.is_empty() {
        return Err(Error::new(
            ErrorKind::Decode,
            format!(
                "message has {} bytes left over after decoding a {}",
                rest.len(),
                std::any::type_name::<T>()
            ),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_their_module_paths() {
        for (full, short) in [
            ("receiver::Job", "Job"),
            ("alloc::vec::Vec<sender::jobs::Job>", "Vec<Job>"),
            ("(u32, alloc::string::String)", "(u32, String)"),
            ("core::option::Option<[u8; 4]>", "Option<[u8; 4]>"),
            ("&str", "&str"),
            ("u64", "u64"),
        ] {
            assert_eq!(without_paths(full), short);
        }
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn trailing_bytes_and_garbage_are_errors() {
        let mut buf = Vec::new();
        encode(&(7u32, String::from("hi")), &mut buf).unwrap();
        assert_eq!(decode::<(u32, String)>(&buf).unwrap(), (7, "hi".into()));
        buf.push(0);
        assert_eq!(
            decode::<(u32, String)>(&buf).unwrap_err().kind(),
            ErrorKind::Decode
        );
        assert!(decode::<String>(&[0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
    }
}
