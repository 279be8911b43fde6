//! Percent-escaping of path and name bytes inside an endpoint string.
//!
//! Printable ASCII stands for itself except `%` and `?` (which starts the
//! options); every other byte is written `%XX`. So any Linux path, and any
//! abstract socket name (which may hold NUL), survives a print/parse round trip.

use std::fmt::Write;

/// Appends `bytes` to `out`, escaping what the grammar reserves.
pub(crate) fn escape_into(out: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (0x21..=0x7e).contains(&b) && b != b'%' && b != b'?' {
            out.push(b as char);
        } else {
            // Writing to a String cannot fail.
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Decodes `%XX` escapes. Errors name the offending position.
pub(crate) fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(v) => out.push(v),
                None => {
                    return Err(format!(
                        "bad escape at byte {i}: `%` must be followed by two hex digits"
                    ))
                }
            }
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_bytes_round_trip() {
        let raw = b"/tmp/a b?c%d\0\xff";
        let mut s = String::new();
        escape_into(&mut s, raw);
        assert_eq!(s, "/tmp/a%20b%3Fc%25d%00%FF");
        assert_eq!(unescape(&s).unwrap(), raw);
    }

    #[test]
    fn bad_escape_is_an_error() {
        assert!(unescape("/tmp/%G1").unwrap_err().contains("byte 5"));
        assert!(unescape("/tmp/%4").is_err());
    }
}
