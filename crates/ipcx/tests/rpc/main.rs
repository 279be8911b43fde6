//! Request/reply across real processes, on every transport calls run on:
//! many client processes at once, handler errors and panics, a server
//! killed mid-call, deadlines and late replies, backpressure, garbage and
//! a client of other types. Peers are this binary re-run in a role.
//!
//! Run one: `cargo test -p ipcx --test rpc -- unix::deadlines`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipcx::rpc::{CallError, Client, Server};
use ipcx::{Bytes, OpenOptions, Stop};
use ipcx_testkit::harness::{self, Peer, Scratch, PATIENCE};
use libtest_mimic::{Arguments, Trial};

#[derive(Clone, Copy)]
struct Transport {
    name: &'static str,
    endpoint: fn(&Scratch) -> String,
    /// The cases' servers are `ipcx::tokio::rpc::Server`s (feature `tokio`).
    asynchronous: bool,
}

const TRANSPORTS: &[Transport] = &[
    Transport {
        name: "unix",
        endpoint: |s| format!("unix:{}", s.path("rpc.sock")),
        asynchronous: false,
    },
    Transport {
        name: "unix-abstract",
        endpoint: |s| format!("unix:@{}", s.name),
        asynchronous: false,
    },
    Transport {
        name: "unix+seqpacket",
        endpoint: |s| format!("unix+seqpacket:{}", s.path("rpc.sock")),
        asynchronous: false,
    },
    Transport {
        name: "tcp",
        endpoint: |_| "tcp:127.0.0.1:0".into(),
        asynchronous: false,
    },
    Transport {
        name: "shm",
        endpoint: |s| format!("shm:/{}", s.name),
        asynchronous: false,
    },
];

/// The socket a client first connects to: the endpoint itself, or for
/// `shm:/name` the server's control socket `unix:@ipcx-call/name` (the
/// calls then go on a pair of rings).
fn socket_of(ep: &str) -> String {
    match ep.strip_prefix("shm:") {
        Some(name) => format!("unix:@ipcx-call{name}"),
        None => ep.to_owned(),
    }
}

/// On `shm:`, every ring of the case's clients is gone once they and the
/// server are (nothing left in /dev/shm).
fn no_rings_left(s: &Scratch) {
    harness::eventually("the call rings are removed", || s.shm_left().is_empty());
}

type Case = fn(&Transport);

const CASES: &[(&str, Case)] = &[
    ("many_clients", many_clients),
    ("handler_errors_and_panics", handler_errors_and_panics),
    ("server_killed_mid_call", server_killed_mid_call),
    ("deadlines", deadlines),
    ("backpressure", backpressure),
    ("garbage_and_other_types", garbage_and_other_types),
    ("stop_finishes_what_it_took", stop_finishes_what_it_took),
    (
        "max_clients_makes_the_next_wait",
        max_clients_makes_the_next_wait,
    ),
    ("silent_peers_hold_up_nobody", silent_peers_hold_up_nobody),
    ("flood_waits_in_the_kernel", flood_waits_in_the_kernel),
    ("out_of_fds_backs_off", out_of_fds_backs_off),
];

fn main() {
    if let Ok(role) = std::env::var(harness::PEER_ENV) {
        peer(&role, &std::env::var(harness::EP_ENV).expect("IPCX_EP"));
        std::process::exit(0);
    }
    // The handler's panic on 13 is part of a case: not printed.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if info.payload().downcast_ref::<&str>() != Some(&"thirteen") {
            default_hook(info);
        }
    }));
    let args = Arguments::from_args();
    #[cfg_attr(not(feature = "tokio"), allow(unused_mut))]
    let mut trials: Vec<Trial> = TRANSPORTS
        .iter()
        .flat_map(|t| {
            CASES.iter().map(move |(name, case)| {
                Trial::test(format!("{}::{name}", t.name), move || {
                    case(t);
                    Ok(())
                })
            })
        })
        .collect();
    #[cfg(feature = "tokio")]
    trials.extend(async_cases::trials());
    libtest_mimic::run(&args, trials).exit();
}

#[cfg(feature = "tokio")]
mod async_cases;

/// The handler every case's server runs: doubles, fails on 7, panics on
/// 13, sleeps `n - 1000` ms for n in 1000..2000.
fn handler(n: u64) -> Result<u64, String> {
    match n {
        7 => Err("seven is not allowed".into()),
        13 => panic!("thirteen"),
        1000..2000 => {
            std::thread::sleep(Duration::from_millis(n - 1000));
            Ok(n * 2)
        }
        _ => Ok(n * 2),
    }
}

/// A server in this process on `t`; returns its endpoint and a stop.
fn serve_here(
    t: &Transport,
    s: &Scratch,
    workers: usize,
    queue: usize,
) -> (String, Stop, std::thread::JoinHandle<()>) {
    let stop = Stop::new().expect("stop");
    let opts = OpenOptions::new().stop(&stop).clone();
    #[cfg(feature = "tokio")]
    if t.asynchronous {
        let (ep, serving) = async_cases::serve_async((t.endpoint)(s), &opts, workers);
        return (ep, stop, serving);
    }
    let server = Server::<u64, u64>::bind_with((t.endpoint)(s), &opts)
        .expect("bind")
        .workers(workers)
        .queue(queue);
    let ep = server.endpoint().to_string();
    let serving = std::thread::spawn(move || server.serve(handler).expect("serve"));
    (ep, stop, serving)
}

fn param(name: &str) -> u64 {
    std::env::var(format!("IPCX_{}", name.to_uppercase()))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn say(line: impl std::fmt::Display) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// The roles a peer process plays.
fn peer(role: &str, ep: &str) {
    match role {
        // `threads` threads each make `calls` calls of distinct numbers.
        "client" => {
            let client =
                Arc::new(Client::<u64, u64>::connect_timeout(ep, PATIENCE).expect("connect"));
            let (threads, calls, base) = (param("threads"), param("calls"), param("base"));
            let workers: Vec<_> = (0..threads)
                .map(|k| {
                    let client = Arc::clone(&client);
                    std::thread::spawn(move || {
                        for i in 0..calls {
                            let n = 20_000 + base + k * calls + i;
                            assert_eq!(client.call_timeout(&n, PATIENCE).expect("call"), n * 2);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join().expect("client thread");
            }
            say(format_args!("OK {}", threads * calls));
        }
        // Calls 7, 13, 21 and reports each outcome.
        "errors" => {
            let client = Client::<u64, u64>::connect_timeout(ep, PATIENCE).expect("connect");
            for n in [7u64, 13, 21] {
                match client.call_timeout(&n, PATIENCE) {
                    Ok(v) => say(format_args!("OK {v}")),
                    Err(CallError::Remote(text)) => say(format_args!("REMOTE {text}")),
                    Err(e) => say(format_args!("ERR {e}")),
                }
            }
        }
        // A server whose handler takes 10 s.
        "slow-server" => {
            let server = Server::<u64, u64>::bind(ep).expect("bind");
            say(format_args!("READY {}", server.endpoint()));
            let _ = server.serve(|n| {
                std::thread::sleep(Duration::from_secs(10));
                Ok(n)
            });
        }
        // A server in a process of its own (its memory and CPU are what a
        // case measures): echoes bytes after `delay` ms on `workers`
        // places; `async=1`: tokio's; `nofile=N`: with RLIMIT_NOFILE N.
        "server" => {
            let delay = Duration::from_millis(param("delay"));
            let workers = param("workers").max(1) as usize;
            if param("nofile") > 0 {
                let n = param("nofile");
                let limit = libc::rlimit {
                    rlim_cur: n,
                    rlim_max: n,
                };
                // SAFETY: setrlimit reads the struct, which lives for the call.
                assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) }, 0);
            }
            if param("async") == 1 {
                #[cfg(feature = "tokio")]
                {
                    let server = ipcx::tokio::rpc::Server::<Bytes, Bytes>::bind(ep)
                        .expect("bind")
                        .workers(workers);
                    say(format_args!("READY {}", server.endpoint()));
                    let _ =
                        async_cases::runtime().block_on(server.serve_bytes(move |r| async move {
                            tokio::time::sleep(delay).await;
                            Ok(r)
                        }));
                }
                return;
            }
            let server = Server::<Bytes, Bytes>::bind(ep)
                .expect("bind")
                .workers(workers);
            say(format_args!("READY {}", server.endpoint()));
            let _ = server.serve_bytes(move |r| {
                std::thread::sleep(delay);
                Ok(r.to_vec())
            });
        }
        // A client of other types.
        // (Refused at the first call, or on shm: at connect.)
        "strings" => match Client::<String, String>::connect_timeout(ep, PATIENCE) {
            Err(e) => say(format_args!("FAILED {:?}", e.kind())),
            Ok(client) => match client.call_timeout(&"hi".to_string(), PATIENCE) {
                Err(CallError::Failed(e)) => say(format_args!("FAILED {:?}", e.kind())),
                other => say(format_args!("UNEXPECTED {other:?}")),
            },
        },
        other => panic!("unknown role {other}"),
    }
}

/// 8 client processes, 4 threads each, 32 calls per thread: 1 024 calls
/// in flight over 8 connections, every one answered with its own reply.
fn many_clients(t: &Transport) {
    let s = Scratch::new(t.name);
    let (ep, stop, serving) = serve_here(t, &s, 4, 64);
    let clients: Vec<Peer> = (0..8u64)
        .map(|c| {
            Peer::spawn(
                "client",
                &ep,
                &[
                    ("threads", "4".into()),
                    ("calls", "32".into()),
                    ("base", (c * 1000).to_string()),
                ],
            )
        })
        .collect();
    for c in clients {
        assert_eq!(c.expect("OK"), "128");
        c.finish();
    }
    stop.stop();
    serving.join().expect("server");
    no_rings_left(&s);
}

/// A handler's error and a handler's panic reach the caller as remote
/// errors; the server and the connection go on.
fn handler_errors_and_panics(t: &Transport) {
    let s = Scratch::new(t.name);
    let (ep, stop, serving) = serve_here(t, &s, 2, 8);
    let peer = Peer::spawn("errors", &ep, &[]);
    assert_eq!(peer.expect("REMOTE"), "seven is not allowed");
    assert_eq!(peer.expect("REMOTE"), "the handler panicked: thirteen");
    assert_eq!(peer.expect("OK"), "42");
    peer.finish();
    stop.stop();
    serving.join().expect("server");
}

/// The server process is killed while it handles a call: the call fails
/// with `Disconnected` at once, and so does the next.
fn server_killed_mid_call(t: &Transport) {
    let s = Scratch::new(t.name);
    let mut server = Peer::spawn("slow-server", &(t.endpoint)(&s), &[]);
    let ep = server.expect("READY");
    let client = Client::<u64, u64>::connect_timeout(&ep, PATIENCE).expect("connect");
    let calling = std::thread::spawn(move || {
        let started = Instant::now();
        let got = client.call(&5);
        (got, started.elapsed(), client)
    });
    std::thread::sleep(Duration::from_millis(200));
    server.kill();
    let (got, took, client) = calling.join().expect("caller");
    assert!(matches!(got, Err(CallError::Disconnected)), "{got:?}");
    assert!(took < Duration::from_secs(5), "noticed after {took:?}");
    assert!(matches!(
        client.call(&6),
        Err(CallError::Disconnected | CallError::Failed(_))
    ));
    drop(client);
    no_rings_left(&s);
}

/// A call that outlives its deadline is `TimedOut`; its late reply is
/// dropped, and the next call gets its own reply, not that one.
fn deadlines(t: &Transport) {
    let s = Scratch::new(t.name);
    let (ep, stop, serving) = serve_here(t, &s, 2, 8);
    let client = Client::<u64, u64>::connect_timeout(&ep, PATIENCE).expect("connect");
    let started = Instant::now();
    assert!(matches!(
        client.call_timeout(&1300, Duration::from_millis(50)),
        Err(CallError::TimedOut)
    ));
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "the deadline held"
    );
    // The slow call's reply (2600) comes while this one waits.
    assert_eq!(client.call_timeout(&1400, PATIENCE).expect("call"), 2800);
    assert_eq!(client.call(&3).expect("call"), 6);
    stop.stop();
    serving.join().expect("server");
}

/// One worker, a queue of 2, a handler of 20 ms and 40 calls at once: all
/// are answered, never more than one runs at a time, and the readers stop
/// taking requests while the queue is full (the calls wait in the
/// kernel's buffers: the server's queue never holds more than 2).
fn backpressure(t: &Transport) {
    let s = Scratch::new(t.name);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let stop = Stop::new().expect("stop");
    let opts = OpenOptions::new().stop(&stop).clone();
    let server = Server::<u64, u64>::bind_with((t.endpoint)(&s), &opts)
        .expect("bind")
        .workers(1)
        .queue(2);
    let ep = server.endpoint().to_string();
    let serving = {
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        std::thread::spawn(move || {
            server
                .serve(move |n| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(20));
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(n + 1)
                })
                .expect("serve")
        })
    };
    forty_calls_at_once(&ep);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "one worker: one call at a time"
    );
    stop.stop();
    serving.join().expect("server");
}

/// 40 calls at once from 40 threads on one client, to a server that
/// answers n with n + 1: each gets its own answer.
fn forty_calls_at_once(ep: &str) {
    let client = Arc::new(Client::<u64, u64>::connect_timeout(ep, PATIENCE).expect("connect"));
    let callers: Vec<_> = (0..40u64)
        .map(|n| {
            let client = Arc::clone(&client);
            std::thread::spawn(move || client.call_timeout(&n, PATIENCE))
        })
        .collect();
    for (n, c) in callers.into_iter().enumerate() {
        assert_eq!(c.join().expect("caller").expect("call"), n as u64 + 1);
    }
}

/// Garbage from a raw peer and a client of other types: each is turned
/// away alone; a good client is served all along.
fn garbage_and_other_types(t: &Transport) {
    let s = Scratch::new(t.name);
    let (ep, stop, serving) = serve_here(t, &s, 2, 8);
    let good = Client::<u64, u64>::connect_timeout(&ep, PATIENCE).expect("connect");
    assert_eq!(good.call(&1).expect("call"), 2);
    // A raw peer: a valid hello of the right types would be needed; bytes
    // that are not an ipcx hello are refused at the handshake.
    let socket = socket_of(&ep);
    if let Some(name) = socket.strip_prefix("unix:@") {
        use std::io::Write;
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name).expect("name");
        let mut raw = std::os::unix::net::UnixStream::connect_addr(&addr).expect("raw connect");
        let _ = raw.write_all(b"GET / HTTP/1.1\r\n\r\n");
    } else if let Some(path) = ep.strip_prefix("unix:/") {
        use std::io::Write;
        let mut raw =
            std::os::unix::net::UnixStream::connect(format!("/{path}")).expect("raw connect");
        let _ = raw.write_all(b"GET / HTTP/1.1\r\n\r\n");
    } else if let Some(addr) = ep.strip_prefix("tcp:") {
        use std::io::Write;
        let mut raw = std::net::TcpStream::connect(addr).expect("raw connect");
        let _ = raw.write_all(&[0xff; 64]);
    }
    let strings = Peer::spawn("strings", &ep, &[]);
    assert_eq!(strings.expect("FAILED"), "TypeMismatch");
    strings.finish();
    assert_eq!(good.call(&2).expect("call after the bad peers"), 4);
    stop.stop();
    serving.join().expect("server");
}

/// A stop while calls run: the ones taken are answered, `serve` returns,
/// and later calls fail (the server is gone).
fn stop_finishes_what_it_took(t: &Transport) {
    let s = Scratch::new(t.name);
    let (ep, stop, serving) = serve_here(t, &s, 1, 8);
    let client = Arc::new(Client::<u64, u64>::connect_timeout(&ep, PATIENCE).expect("connect"));
    let slow = {
        let client = Arc::clone(&client);
        std::thread::spawn(move || client.call_timeout(&1200, PATIENCE))
    };
    std::thread::sleep(Duration::from_millis(50));
    stop.stop();
    assert_eq!(
        slow.join()
            .expect("caller")
            .expect("the call taken is answered"),
        2400
    );
    serving.join().expect("serve returns after the stop");
    let after = client.call_timeout(&1, Duration::from_secs(2));
    assert!(
        matches!(
            after,
            Err(CallError::Disconnected | CallError::TimedOut | CallError::Failed(_))
        ),
        "{after:?}"
    );
}

/// Two places for clients: a third waits (its calls time out while the
/// two stay), and is served once one leaves. Clients cannot make the
/// server take threads and buffers without end.
fn max_clients_makes_the_next_wait(t: &Transport) {
    let s = Scratch::new(t.name);
    let stop = Stop::new().expect("stop");
    let opts = OpenOptions::new().stop(&stop).clone();
    let server = Server::<u64, u64>::bind_with((t.endpoint)(&s), &opts)
        .expect("bind")
        .max_clients(2);
    let ep = server.endpoint().to_string();
    let serving = std::thread::spawn(move || server.serve(handler).expect("serve"));
    let first = Client::<u64, u64>::connect_timeout(&ep, PATIENCE).expect("first");
    let second = Client::<u64, u64>::connect_timeout(&ep, PATIENCE).expect("second");
    assert_eq!(first.call(&1).expect("call"), 2);
    assert_eq!(second.call(&2).expect("call"), 4);
    // The third connects (the kernel's backlog takes it) but is not
    // served; on shm: its connect itself waits, for the server sets up
    // the rings.
    let third = {
        let ep = ep.clone();
        std::thread::spawn(move || {
            let third = Client::<u64, u64>::connect_timeout(&ep, PATIENCE).expect("third");
            let early = third.call_timeout(&5, Duration::from_millis(300));
            (third, early)
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    let on_shm = ep.starts_with("shm:");
    if on_shm {
        assert!(
            !third.is_finished(),
            "a third client is not attached while two are"
        );
    }
    drop(first);
    let (third, early) = third.join().expect("third");
    if on_shm {
        assert_eq!(early.expect("attached once a place came free"), 10);
    } else {
        assert!(
            matches!(early, Err(CallError::TimedOut)),
            "a third client is not served while two are: {early:?}"
        );
    }
    assert_eq!(
        third.call_timeout(&6, PATIENCE).expect("a place came free"),
        12
    );
    assert_eq!(second.call(&4).expect("call"), 8);
    stop.stop();
    serving.join().expect("server");
}

/// Peers that connect and never send a hello (five of them, from another
/// process's point of view: plain sockets of the kind) hold up nobody: a
/// real client that comes after is served at once.
fn silent_peers_hold_up_nobody(t: &Transport) {
    let s = Scratch::new(t.name);
    let (ep, stop, serving) = serve_here(t, &s, 2, 8);
    let silent: Vec<_> = (0..5)
        .map(|_| {
            ipcx::raw::RawConn::connect(socket_of(&ep), Some(PATIENCE)).expect("a plain connection")
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let client = Client::<u64, u64>::connect_timeout(&ep, PATIENCE).expect("connect");
    assert_eq!(client.call_timeout(&21, PATIENCE).expect("call"), 42);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "served after {:?} behind silent peers",
        started.elapsed()
    );
    drop(silent);
    stop.stop();
    serving.join().expect("server");
}

/// A process's resident memory, KiB.
fn rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmRSS:")
}

fn proc_status(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("status")
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("the field")
}

/// A process's CPU time so far (user + system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .expect("comm")
        .1
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Eight threads send 16 KiB calls for 1.5 s, each giving up after 1 ms
/// (so each sends again at once: a flood), at a server with one place
/// and a 20 ms handler. What it has not taken stays in the kernel's
/// buffers (or the ring): its memory grows by less than 32 MiB, where
/// reading it all would take hundreds. Then a new client is served.
fn flood_waits_in_the_kernel(t: &Transport) {
    let s = Scratch::new(t.name);
    let server = Peer::spawn(
        "server",
        &(t.endpoint)(&s),
        &[
            ("delay", "20".into()),
            ("async", u8::from(t.asynchronous).to_string()),
        ],
    );
    let ep = server.expect("READY");
    let client = Arc::new(Client::<Bytes, Bytes>::connect_timeout(&ep, PATIENCE).expect("connect"));
    assert_eq!(
        client.call_bytes(b"warm", Some(PATIENCE)).expect("call"),
        b"warm"
    );
    let before = rss_kib(server.pid());
    let until = Instant::now() + Duration::from_millis(1500);
    let tries = Arc::new(AtomicUsize::new(0));
    let flooders: Vec<_> = (0..8)
        .map(|_| {
            let (client, tries) = (Arc::clone(&client), Arc::clone(&tries));
            std::thread::spawn(move || {
                let request = vec![0x5a; 16 << 10];
                while Instant::now() < until {
                    let _ = client.call_bytes(&request, Some(Duration::from_millis(1)));
                    tries.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut most = 0;
    while Instant::now() < until {
        most = most.max(rss_kib(server.pid()));
        std::thread::sleep(Duration::from_millis(50));
    }
    for f in flooders {
        f.join().expect("flooder");
    }
    let grown = most.saturating_sub(before);
    assert!(
        grown < 32 << 10,
        "the server grew by {grown} KiB under {} calls of 16 KiB",
        tries.load(Ordering::Relaxed)
    );
    drop(client);
    let fresh = Client::<Bytes, Bytes>::connect_timeout(&ep, PATIENCE).expect("connect after");
    assert_eq!(
        fresh
            .call_bytes(b"after", Some(PATIENCE))
            .expect("served after the flood"),
        b"after"
    );
    drop(fresh);
    no_rings_left(&s);
    drop(server);
}

/// A server process with 64 fds (24 on shm:) meets 80 clients, each calling once
/// (3 s to be served) and staying: past its fds, accepts fail, and it
/// pauses (1 ms growing to 1 s) instead of spinning: under half a CPU
/// while exhausted. Some are served, some not; once the served leave, a
/// new client is served.
fn out_of_fds_backs_off(t: &Transport) {
    let s = Scratch::new(t.name);
    let ep_is_shm = (t.endpoint)(&s).starts_with("shm:");
    let server = Peer::spawn(
        "server",
        &(t.endpoint)(&s),
        &[
            // On shm: a client's rings hold no fd once mapped: fewer.
            ("nofile", if ep_is_shm { "24" } else { "64" }.into()),
            ("async", u8::from(t.asynchronous).to_string()),
        ],
    );
    let ep = server.expect("READY");
    let connecting: Vec<_> = (0..80)
        .map(|_| {
            let ep = ep.clone();
            std::thread::spawn(move || {
                let client =
                    Client::<Bytes, Bytes>::connect_timeout(&ep, Duration::from_secs(3)).ok()?;
                let answer = client
                    .call_bytes(b"in", Some(Duration::from_secs(3)))
                    .ok()?;
                assert_eq!(answer, b"in", "a reply of another call");
                Some(client)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let ticks = cpu_ticks(server.pid());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(server.pid()) - ticks;
    let outcomes: Vec<_> = connecting
        .into_iter()
        .map(|c| c.join().expect("client thread"))
        .collect();
    let served = outcomes.iter().filter(|c| c.is_some()).count();
    // SAFETY: sysconf has no preconditions.
    let per_second = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).expect("ticks");
    assert!(
        used * 2 < per_second,
        "the server used {used} of {per_second} ticks in 1 s while out of fds: spinning"
    );
    assert!(
        (1..80).contains(&served),
        "{served} of 80 clients served: the case did not exhaust the server's fds"
    );
    drop(outcomes);
    // The server frees a departed client's fds when it notices it gone, which
    // can be just after this connect: a refusal for fds is retried (bounded).
    let until = std::time::Instant::now() + PATIENCE;
    let fresh = loop {
        match Client::<Bytes, Bytes>::connect_timeout(&ep, PATIENCE) {
            Ok(client) => break client,
            Err(e)
                if e.to_string().contains("Too many open files")
                    && std::time::Instant::now() < until =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect after: {e:?}"),
        }
    };
    assert_eq!(
        fresh
            .call_bytes(b"after", Some(PATIENCE))
            .expect("served after"),
        b"after"
    );
    drop(fresh);
    no_rings_left(&s); // removed by the server as its clients leave
    drop(server);
}
