//! A second, independent writer of the wire format, straight from
//! docs/wire.md: raw peers use it to send exactly the bytes a test needs
//! (valid, oversized, truncated, garbage) without going through ipcx.

pub const HELLO_MARKER: [u8; 4] = [0xff; 4];

pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// A sender's hello record for type `name` (version 1, role = sends).
pub fn sender_hello(name: &str, version: u8) -> Vec<u8> {
    let mut h = Vec::new();
    h.extend_from_slice(b"IPCX");
    h.push(version);
    h.push(1); // role: sends
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&0u32.to_le_bytes()); // max_msg: receives nothing
    h.extend_from_slice(&fnv1a64(name.as_bytes()).to_le_bytes());
    h.extend_from_slice(&0u64.to_le_bytes());
    h.push(name.len() as u8);
    h.push(0);
    h.extend_from_slice(name.as_bytes());
    h
}

/// A stream frame: u32 LE length, then the payload.
pub fn frame(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_le_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// The hello as sent on a byte stream.
pub fn stream_hello(name: &str) -> Vec<u8> {
    let mut out = HELLO_MARKER.to_vec();
    out.extend(sender_hello(name, 1));
    out
}

/// The 16-byte datagram header.
pub fn datagram(kind: u8, sender: u32, type_name: &str, payload: &[u8]) -> Vec<u8> {
    let mut d = b"IX".to_vec();
    d.push(1);
    d.push(kind);
    d.extend_from_slice(&sender.to_le_bytes());
    d.extend_from_slice(&fnv1a64(type_name.as_bytes()).to_le_bytes());
    d.extend_from_slice(payload);
    d
}
