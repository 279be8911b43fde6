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

/// A sender's hello record for a type's identity text (docs/wire.md: the
/// name, then the shape's lines; version 1, role = sends).
pub fn sender_hello(identity: &str, version: u8) -> Vec<u8> {
    let name = identity.lines().next().unwrap_or("");
    let mut h = Vec::new();
    h.extend_from_slice(b"IPCX");
    h.push(version);
    h.push(1); // role: sends
    h.extend_from_slice(&[0, 0]);
    h.extend_from_slice(&0u32.to_le_bytes()); // max_msg: receives nothing
    h.extend_from_slice(&fnv1a64(identity.as_bytes()).to_le_bytes());
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
pub fn stream_hello(identity: &str) -> Vec<u8> {
    let mut out = HELLO_MARKER.to_vec();
    out.extend(sender_hello(identity, 1));
    out
}

/// The 16-byte datagram header, then the payload; `identity` as for
/// [`sender_hello`].
pub fn datagram(kind: u8, sender: u32, identity: &str, payload: &[u8]) -> Vec<u8> {
    let mut d = b"IX".to_vec();
    d.push(1);
    d.push(kind);
    d.extend_from_slice(&sender.to_le_bytes());
    d.extend_from_slice(&fnv1a64(identity.as_bytes()).to_le_bytes());
    d.extend_from_slice(payload);
    d
}

/// Sends raw messages into POSIX queue `name` (no ipcx header added).
pub fn mq_send_raw(name: &str, messages: &[Vec<u8>]) {
    let c = std::ffi::CString::new(name).expect("name");
    // SAFETY: `c` is a valid C string; without O_CREAT no variadic argument is read.
    let mq = unsafe { libc::mq_open(c.as_ptr(), libc::O_WRONLY) };
    assert!(
        mq >= 0,
        "mq_open {name}: {}",
        std::io::Error::last_os_error()
    );
    for m in messages {
        // SAFETY: `m` is valid for reads of its length during the call.
        let r = unsafe { libc::mq_send(mq, m.as_ptr().cast(), m.len(), 0) };
        assert_eq!(r, 0, "mq_send: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `mq` is the descriptor opened above.
    unsafe { libc::mq_close(mq) };
}

/// Sends raw messages (type 1) into System V queue `key`.
pub fn sysv_send_raw(key: u32, messages: &[Vec<u8>]) {
    // SAFETY: msgget takes plain integers.
    let id = unsafe { libc::msgget(key as i32, 0) };
    assert!(id >= 0, "msgget: {}", std::io::Error::last_os_error());
    for m in messages {
        let mut bytes = (1 as libc::c_long).to_ne_bytes().to_vec();
        bytes.extend_from_slice(m);
        // SAFETY: `bytes` holds the c_long type then `m.len()` bytes, as told.
        let r = unsafe { libc::msgsnd(id, bytes.as_ptr().cast(), m.len(), 0) };
        assert_eq!(r, 0, "msgsnd: {}", std::io::Error::last_os_error());
    }
}

/// Removes the POSIX queue `name` and the System V queue `key`, if present.
pub fn remove_queues(name: &str, key: u32) {
    if let Ok(c) = std::ffi::CString::new(name) {
        // SAFETY: `c` is a valid C string.
        unsafe { libc::mq_unlink(c.as_ptr()) };
    }
    // SAFETY: msgget/msgctl take plain integers; IPC_RMID ignores the null buffer.
    unsafe {
        let id = libc::msgget(key as i32, 0);
        if id >= 0 {
            libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut());
        }
    }
}

/// Whether POSIX queue `name` exists.
pub fn mq_exists(name: &str) -> bool {
    let c = std::ffi::CString::new(name).expect("name");
    // SAFETY: `c` is a valid C string; no variadic arguments without O_CREAT.
    let mq = unsafe { libc::mq_open(c.as_ptr(), libc::O_RDONLY) };
    if mq >= 0 {
        // SAFETY: `mq` was just opened.
        unsafe { libc::mq_close(mq) };
    }
    mq >= 0
}

/// Maps `len` bytes of `file` shared, read-write (for tests that play a
/// hostile process writing over a segment).
pub fn map_shared(file: &std::fs::File, len: usize) -> *mut u8 {
    use rustix::mm::{mmap, MapFlags, ProtFlags};
    // SAFETY: a fresh shared mapping of the file, used only through
    // `write_word` in bounds; never unmapped (the process exits).
    unsafe {
        mmap(
            std::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::SHARED,
            file,
            0,
        )
        .expect("mmap")
        .cast()
    }
}

/// Writes one 8-byte word at byte `at` of a mapping (atomically, as a
/// hostile process would, racing the real users).
///
/// # Safety
/// `map` comes from [`map_shared`], and `at + 8` lies within its length
/// with `at` a multiple of 8.
pub unsafe fn write_word(map: *mut u8, at: usize, value: u64) {
    // SAFETY: the caller keeps `at + 8` within the mapping; 8-aligned.
    unsafe {
        (*map.add(at).cast::<std::sync::atomic::AtomicU64>())
            .store(value, std::sync::atomic::Ordering::Relaxed)
    }
}
