//! Messages whose every byte says which message it is, so a torn, stale or
//! misplaced read is caught.

#![allow(dead_code)]

/// The length of message `i`: varied, so records wrap at many offsets.
pub fn len_of(i: u64, max: usize) -> usize {
    ((i * 37 + 8) % (max as u64 + 1)).max(8) as usize
}

/// Message `i` of length `len` (len ≥ 8): `i` then a pattern of `i`.
pub fn message(i: u64, len: usize) -> Vec<u8> {
    let mut m = vec![0u8; len];
    m[..8].copy_from_slice(&i.to_le_bytes());
    for (j, b) in m[8..].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(31).wrapping_add(j as u8);
    }
    m
}

/// Which message `bytes` is, if it is intact.
pub fn check(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() < 8 {
        return Err(format!("{}-byte message", bytes.len()));
    }
    let i = u64::from_le_bytes(bytes[..8].try_into().unwrap());
    if bytes != message(i, bytes.len()) {
        return Err(format!("message {i} is torn"));
    }
    Ok(i)
}
