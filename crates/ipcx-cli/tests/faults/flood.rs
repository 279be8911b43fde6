//! Rng floods: a real `ipcx recv` on each kind of listener takes a
//! flood of bytes that are not ipcx (many connections, datagrams or queue
//! messages of random bytes) from a peer that is not ipcx. Afterwards its
//! resident memory is bounded, it does not spin, its error report is short
//! (reported, not printed per message), and a good sender gets through.

use std::io::Write;
use std::time::{Duration, Instant};

use super::common::{self, cpu_of, ipcx, rss_kib, Queues, Running, Scratch};
use super::random::Rng;

/// How much the receiver may grow during a flood.
const RSS_GROWTH_KIB: u64 = 64 * 1024;
/// CPU the receiver may use in an idle second after the flood.
const IDLE_CPU: Duration = Duration::from_millis(200);

pub struct Flood {
    pub name: &'static str,
    endpoint: fn(&Scratch) -> String,
    pour: fn(&str, &mut Rng),
}

pub const FLOODS: &[Flood] = &[
    Flood {
        name: "unix",
        endpoint: |s| format!("unix:{}", s.path("s")),
        pour: |ep, g| {
            streams(ep, g, |addr| {
                std::os::unix::net::UnixStream::connect(addr.trim_start_matches("unix:"))
                    .map(|s| Box::new(s) as Box<dyn Write>)
            })
        },
    },
    Flood {
        name: "unix-abstract",
        endpoint: |_| format!("unix:@ipcx-flood-{}", std::process::id()),
        pour: |ep, g| {
            streams(ep, g, |addr| {
                use std::os::linux::net::SocketAddrExt;
                let name = addr.trim_start_matches("unix:@");
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                std::os::unix::net::UnixStream::connect_addr(&addr)
                    .map(|s| Box::new(s) as Box<dyn Write>)
            })
        },
    },
    Flood {
        name: "tcp",
        endpoint: |_| format!("tcp:127.0.0.1:{}", common::free_port("127.0.0.1:0")),
        pour: |ep, g| {
            streams(ep, g, |addr| {
                std::net::TcpStream::connect(addr.trim_start_matches("tcp:"))
                    .map(|s| Box::new(s) as Box<dyn Write>)
            })
        },
    },
    Flood {
        name: "unix+seqpacket",
        endpoint: |s| format!("unix+seqpacket:{}", s.path("q")),
        pour: seqpackets,
    },
    Flood {
        name: "unix+dgram",
        endpoint: |s| format!("unix+dgram:{}", s.path("d")),
        pour: |ep, g| {
            let sock = std::os::unix::net::UnixDatagram::unbound().unwrap();
            let path = ep.trim_start_matches("unix+dgram:").to_owned();
            datagrams(g, |bytes| sock.send_to(bytes, &path).map(drop));
        },
    },
    Flood {
        name: "udp",
        endpoint: |_| format!("udp:127.0.0.1:{}", common::free_port("127.0.0.1:0")),
        pour: |ep, g| {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = ep.trim_start_matches("udp:").to_owned();
            datagrams(g, |bytes| sock.send_to(bytes, &addr).map(drop));
        },
    },
    Flood {
        name: "fifo",
        endpoint: |s| format!("fifo:{}", s.path("f")),
        pour: |ep, g| {
            let mut fifo = std::fs::OpenOptions::new()
                .write(true)
                .open(ep.trim_start_matches("fifo:"))
                .unwrap();
            for _ in 0..256 {
                fifo.write_all(&g.bytes(16 * 1024)).unwrap();
            }
        },
    },
    Flood {
        name: "mq",
        endpoint: |_| format!("mq:/ipcx-flood-{}", std::process::id()),
        pour: |ep, g| {
            let name = std::ffi::CString::new(ep.trim_start_matches("mq:")).unwrap();
            // SAFETY: a valid C string; the descriptor is closed below.
            let mq = unsafe { libc::mq_open(name.as_ptr(), libc::O_WRONLY) };
            assert!(
                mq >= 0,
                "open the queue: {}",
                std::io::Error::last_os_error()
            );
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut sent = 0;
            while sent < 2000 && Instant::now() < deadline {
                let msg = g.up_to(4000);
                let ts = libc::timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                };
                // SAFETY: `msg` is valid for its length; `ts` for the call.
                let r = unsafe { libc::mq_timedsend(mq, msg.as_ptr().cast(), msg.len(), 0, &ts) };
                if r == 0 {
                    sent += 1;
                } else {
                    std::thread::sleep(Duration::from_micros(200)); // full: let it drain
                }
            }
            // SAFETY: the descriptor opened above.
            unsafe { libc::mq_close(mq) };
        },
    },
    Flood {
        name: "sysvmq",
        endpoint: |_| format!("sysvmq:{:#x}", common::sysv_key(9)),
        pour: |ep, g| {
            let key = u32::from_str_radix(ep.trim_start_matches("sysvmq:0x"), 16).unwrap();
            // SAFETY: msgget takes plain integers.
            let id = unsafe { libc::msgget(key as i32, 0) };
            assert!(id >= 0, "the queue exists");
            let deadline = Instant::now() + Duration::from_secs(5);
            let mut sent = 0;
            while sent < 2000 && Instant::now() < deadline {
                let mut msg = 1i64.to_ne_bytes().to_vec();
                msg.extend(g.up_to(4000));
                // SAFETY: `msg` holds a long mtype and then the bytes counted.
                let r = unsafe {
                    libc::msgsnd(id, msg.as_ptr().cast(), msg.len() - 8, libc::IPC_NOWAIT)
                };
                if r == 0 {
                    sent += 1;
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
        },
    },
];

/// 300 connections that each write up to 16 KiB of garbage and close,
/// and 50 more that write some and stay open (idle, holding their buffer)
/// until the flood ends.
fn streams(ep: &str, g: &mut Rng, connect: fn(&str) -> std::io::Result<Box<dyn Write>>) {
    let mut held = Vec::new();
    for i in 0..350 {
        let Ok(mut conn) = connect(ep) else {
            std::thread::sleep(Duration::from_millis(1));
            continue;
        };
        let len = 1 + g.below(16 * 1024) as usize;
        let _ = conn.write_all(&g.bytes(len)); // the receiver may cut us off
        if i % 7 == 0 {
            held.push(conn);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
}

fn seqpackets(ep: &str, g: &mut Rng) {
    use rustix::net::{send, SendFlags, SocketAddrUnix};
    let addr = SocketAddrUnix::new(ep.trim_start_matches("unix+seqpacket:")).unwrap();
    let mut held = Vec::new();
    for i in 0..350 {
        let Ok(fd) = common::seqpacket_connect(&addr) else {
            continue;
        };
        for _ in 0..4 {
            let _ = send(&fd, &g.up_to(8192), SendFlags::DONTWAIT);
        }
        if i % 7 == 0 {
            held.push(fd);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
}

/// 20 000 datagrams of up to 2 KiB, as fast as the receiver takes them.
fn datagrams(g: &mut Rng, mut send: impl FnMut(&[u8]) -> std::io::Result<()>) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut sent = 0;
    while sent < 20_000 && Instant::now() < deadline {
        match send(&g.up_to(2048)) {
            Ok(()) => sent += 1,
            Err(_) => std::thread::sleep(Duration::from_micros(100)),
        }
    }
}

pub fn run(f: &Flood, seed: u64) {
    let s = Scratch::new(&format!("flood-{}", f.name.replace('+', "_")));
    let ep = (f.endpoint)(&s);
    let _queues = Queues(
        format!("/ipcx-flood-{}", std::process::id()),
        common::sysv_key(9),
    );
    // Its errors go to a file: a pipe nobody reads would fill and stall it.
    let err_path = s.path("stderr");
    let rx = Running(
        ipcx()
            .args(["recv", &ep, "-n", "1"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::fs::File::create(&err_path).unwrap())
            .spawn()
            .unwrap(),
    );
    let pid = rx.0.id();
    super::ready::wait_for(&ep);
    let rss_before = rss_kib(pid);
    (f.pour)(&ep, &mut Rng(seed | 1));
    let rss_after = rss_kib(pid);
    assert!(
        rss_after < rss_before + RSS_GROWTH_KIB,
        "{}: resident memory grew from {rss_before} KiB to {rss_after} KiB",
        f.name
    );
    // Give it a moment to finish with what is queued, then: idle.
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_of(pid);
    std::thread::sleep(Duration::from_secs(1));
    let idle = cpu_of(pid) - cpu;
    assert!(
        idle < IDLE_CPU,
        "{}: {idle:?} of CPU in an idle second",
        f.name
    );
    // A good sender still gets through.
    let sent = ipcx()
        .args(["send", &ep, "after the flood", "--wait", "5s"])
        .output()
        .unwrap();
    assert!(
        sent.status.success(),
        "{}: the good send failed: {}",
        f.name,
        String::from_utf8_lossy(&sent.stderr)
    );
    // It exits non-zero: it met bad input (and said so).
    let (_, out, _) = common::finish(rx);
    let err = std::fs::read_to_string(&err_path).unwrap();
    assert_eq!(out, "after the flood\n", "{}: {err}", f.name);
    let lines = err.lines().count();
    assert!(
        lines < 200,
        "{}: {lines} lines of errors (reported, not one per message)",
        f.name
    );
    eprintln!(
        "{}: flood taken, RSS {rss_before} → {rss_after} KiB, {idle:?} CPU idle, {lines} error lines",
        f.name
    );
}
