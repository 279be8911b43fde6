//! Waiting until a receiver's object exists: its file, abstract name,
//! port, queue or ring.

use std::time::{Duration, Instant};

/// Waits until the receiver is listening: its file, name, port or queue
/// exists.
pub fn wait_for(ep: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let (scheme, rest) = ep.split_once(':').unwrap();
    let ready = || match scheme {
        "unix" if rest.starts_with('@') => std::fs::read_to_string("/proc/net/unix")
            .unwrap()
            .lines()
            .any(|l| l.ends_with(&format!(" {rest}"))),
        "shm" => std::path::Path::new(&format!("/dev/shm{rest}")).exists(),
        "unix" | "unix+seqpacket" | "unix+dgram" | "fifo" => std::path::Path::new(rest).exists(),
        "tcp" => std::net::TcpStream::connect(rest).is_ok(),
        "udp" => {
            let port: u16 = rest.rsplit(':').next().unwrap().parse().unwrap();
            std::fs::read_to_string("/proc/net/udp")
                .unwrap()
                .contains(&format!(":{port:04X} "))
        }
        "mq" => {
            let name = std::ffi::CString::new(rest).unwrap();
            // SAFETY: a valid C string; the descriptor is closed at once.
            let mq = unsafe { libc::mq_open(name.as_ptr(), libc::O_WRONLY) };
            // SAFETY: closing what was just opened.
            mq >= 0 && unsafe { libc::mq_close(mq) } == 0
        }
        "sysvmq" => {
            let key = u32::from_str_radix(rest.trim_start_matches("0x"), 16).unwrap();
            // SAFETY: msgget takes plain integers.
            unsafe { libc::msgget(key as i32, 0) >= 0 }
        }
        other => panic!("no readiness check for {other}"),
    };
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{ep}: the receiver never got ready"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
