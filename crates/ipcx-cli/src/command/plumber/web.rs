//! `ipcx plumber TARGET --web ADDR`: the live view as a page, served by
//! this binary on a loopback address (the page shows process names and
//! pids: it is not for the network). `/` is the page (one file, no build
//! step, no CDN), `/events` pushes each look as a server-sent event (the
//! JSON of `--once --json`), `/look` is one look; `/?looks=N` stops the
//! page after N looks and holds its load until then (`/after`), so a
//! headless browser's `--dump-dom` shows it live.
//!
//! The HTTP is the least that serves this: `GET` only, headers read up to
//! 8 KiB within 5 s, at most 16 clients at once (more get 503), each on a
//! thread of its own that sleeps until the next look. One thread looks,
//! every `--every`, whether or not anyone watches.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rustix::event::{poll, PollFd, PollFlags, Timespec};

use super::look::Look;
use super::target::Target;

const PAGE: &str = include_str!("plumber.html");
const MOST_CLIENTS: usize = 16;
const HEAD_LIMIT: usize = 8 << 10;
const HEAD_WITHIN: Duration = Duration::from_secs(5);

/// The last look, as JSON, numbered so a client waits for a newer one.
#[derive(Default)]
struct Latest {
    seq: u64,
    json: String,
    /// The target is gone (or the view stopped): clients end.
    over: bool,
}

struct Shared {
    latest: Mutex<Latest>,
    changed: Condvar,
    clients: AtomicUsize,
}

/// The address to serve on: loopback only.
pub(crate) fn address(addr: &str) -> Result<SocketAddr> {
    let at: SocketAddr = addr
        .parse()
        .with_context(|| format!("--web {addr}: expected IP:PORT, e.g. 127.0.0.1:8090"))?;
    if !at.ip().is_loopback() {
        bail!(
            "--web {addr}: the page shows process names and pids, so it is served on loopback \
             only (127.0.0.1 or [::1])"
        );
    }
    Ok(at)
}

pub(crate) fn run(target: &Target, at: SocketAddr, every: Duration) -> Result<()> {
    let listener = TcpListener::bind(at).with_context(|| format!("cannot listen on {at}"))?;
    listener.set_nonblocking(true)?;
    let stop = ipcx::Stop::on_signals()?;
    let shared = Arc::new(Shared {
        latest: Mutex::new(Latest::default()),
        changed: Condvar::new(),
        clients: AtomicUsize::new(0),
    });
    // The first look before any client: a bad target fails at once.
    publish(&shared, &Look::take(target)?)?;
    eprintln!(
        "ipcx plumber: http://{}/ shows {} (Ctrl-C stops)",
        listener.local_addr()?,
        target.name()
    );
    let looker = {
        let (shared, target, stop) = (shared.clone(), target.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.wait(Some(every)) {
                let look = match Look::take(&target) {
                    Ok(look) => look,
                    Err(e) => {
                        eprintln!("ipcx plumber: {e:#}");
                        break;
                    }
                };
                if publish(&shared, &look).is_err() {
                    break;
                }
            }
            let mut latest = shared.latest.lock().unwrap_or_else(|p| p.into_inner());
            latest.over = true;
            shared.changed.notify_all();
        })
    };
    loop {
        let mut fds = [
            PollFd::new(&listener, PollFlags::IN),
            PollFd::new(&stop, PollFlags::IN),
        ];
        let second = Timespec::try_from(Duration::from_secs(1)).unwrap_or_default();
        match poll(&mut fds, Some(&second)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if stop.is_stopped() || looker.is_finished() {
            break;
        }
        while let Ok((stream, _)) = listener.accept() {
            let shared = shared.clone();
            if shared.clients.fetch_add(1, Ordering::SeqCst) >= MOST_CLIENTS {
                let _ = refuse(stream);
                shared.clients.fetch_sub(1, Ordering::SeqCst);
                continue;
            }
            std::thread::spawn(move || {
                let _ = serve(stream, &shared);
                shared.clients.fetch_sub(1, Ordering::SeqCst);
            });
        }
    }
    stop.stop();
    let _ = looker.join();
    Ok(())
}

fn publish(shared: &Shared, look: &Look) -> Result<()> {
    let json = serde_json::to_string(look)?;
    let mut latest = shared.latest.lock().unwrap_or_else(|p| p.into_inner());
    latest.seq += 1;
    latest.json = json;
    shared.changed.notify_all();
    Ok(())
}

fn refuse(mut stream: TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.write_all(
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 20\r\nConnection: close\r\n\r\ntoo many viewers now",
    )
}

/// One client: its request's path, then the answer.
fn serve(stream: TcpStream, shared: &Shared) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(HEAD_WITHIN))?;
    let mut reader = BufReader::new(stream.try_clone()?).take(HEAD_LIMIT as u64);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // The rest of the head, up to its blank line (bounded by `take`).
    let mut line = String::new();
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut out = stream;
    let (path, query) = match request.split_whitespace().collect::<Vec<_>>()[..] {
        ["GET", path, _] => {
            let (path, query) = path.split_once('?').unwrap_or((path, ""));
            (path.to_owned(), query.to_owned())
        }
        _ => return answer(&mut out, "405 Method Not Allowed", "text/plain", "GET only"),
    };
    match path.as_str() {
        "/" => answer(&mut out, "200 OK", "text/html; charset=utf-8", PAGE),
        "/look" => {
            let json = shared
                .latest
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .json
                .clone();
            answer(&mut out, "200 OK", "application/json", &json)
        }
        "/events" => events(&mut out, shared),
        "/after" => {
            let n = query
                .strip_prefix("looks=")
                .and_then(|n| n.parse().ok())
                .unwrap_or(1u64)
                .min(1000);
            after(shared, n);
            answer(&mut out, "200 OK", "text/plain", "")
        }
        _ => answer(&mut out, "404 Not Found", "text/plain", "no such page"),
    }
}

fn answer(out: &mut TcpStream, status: &str, kind: &str, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Waits until `n` more looks are out (30 s at most, or the view's end).
fn after(shared: &Shared, n: u64) {
    let mut latest = shared.latest.lock().unwrap_or_else(|p| p.into_inner());
    let until = latest.seq + n;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while latest.seq < until && !latest.over {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        latest = shared
            .changed
            .wait_timeout(latest, left)
            .unwrap_or_else(|p| p.into_inner())
            .0;
    }
}

/// Server-sent events: each new look as `data: JSON`, until the client
/// goes (a write fails) or the view ends.
fn events(out: &mut TcpStream, shared: &Shared) -> std::io::Result<()> {
    out.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
          Connection: close\r\n\r\n",
    )?;
    let mut seen = 0;
    loop {
        let json = {
            let mut latest = shared.latest.lock().unwrap_or_else(|p| p.into_inner());
            while latest.seq == seen && !latest.over {
                let (l, timeout) = shared
                    .changed
                    .wait_timeout(latest, Duration::from_secs(15))
                    .unwrap_or_else(|p| p.into_inner());
                latest = l;
                if timeout.timed_out() && latest.seq == seen {
                    break;
                }
            }
            if latest.over {
                return out.write_all(b"event: over\ndata: {}\n\n");
            }
            if latest.seq == seen {
                // Quiet for 15 s: a comment, so a client gone is noticed.
                None
            } else {
                seen = latest.seq;
                Some(latest.json.clone())
            }
        };
        match json {
            Some(json) => write!(out, "data: {json}\n\n")?,
            None => out.write_all(b": still here\n\n")?,
        }
        out.flush()?;
    }
}
