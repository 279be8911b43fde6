//! One relay session: one or two directions, each a thread that reads a
//! message from its source and writes it to its sink, one at a time.
//!
//! Holding one message per direction is the whole memory budget: a slow
//! sink blocks the writer, the reader stops reading, and the kernel's
//! buffers push back on the fast side. When a source ends, its sink is
//! closed (half-close on sockets) and the other direction gets the close
//! delay to finish before the session ends.

use std::process::Child;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::json;

use super::log::{Dir, Log};
use super::open::OpenedSide;
use super::sink::{PutError, Sink};
use super::source::{Next, Source};

/// How often a waiting direction looks at the stop flag and the other side.
const POLL: Duration = Duration::from_millis(100);

/// After a stop request, a source is read until it has been quiet this
/// long, or for at most [`MAX_DRAIN`] (a queue with a busy sender is never
/// quiet; what the relay leaves there stays there).
const DRAIN: Duration = Duration::from_millis(20);
const MAX_DRAIN: Duration = Duration::from_secs(1);

/// What every session shares.
pub(crate) struct SessionCtx<'a> {
    pub(crate) log: &'a Log,
    pub(crate) stop: &'a ipcx::Stop,
    /// How long one direction may go on after the other has ended.
    pub(crate) close_delay: Duration,
}

/// One direction: where it reads, where it writes.
pub(crate) struct Half {
    pub(crate) dir: Dir,
    pub(crate) source: Box<dyn Source>,
    pub(crate) sink: Box<dyn Sink>,
}

/// The two sides of a session, opened, and which way messages go.
pub(crate) struct Session {
    pub(crate) id: u64,
    pub(crate) halves: Vec<Half>,
    children: Vec<Child>,
    _keep: Vec<Box<dyn Send>>,
}

impl Session {
    /// Pairs the sources and sinks of the first (`a`) and second (`b`)
    /// address for the directions in `dirs`.
    pub(crate) fn new(id: u64, mut a: OpenedSide, mut b: OpenedSide, dirs: &[Dir]) -> Session {
        let mut halves = Vec::new();
        for dir in dirs {
            let (from, to) = match dir {
                Dir::AtoB => (&mut a, &mut b),
                Dir::BtoA => (&mut b, &mut a),
            };
            if let (Some(mut source), Some(sink)) = (from.source.take(), to.sink.take()) {
                if let Some(max) = sink.max_message() {
                    source.cut_reads_to(max.max(1));
                }
                halves.push(Half {
                    dir: *dir,
                    source,
                    sink,
                });
            }
        }
        let children = [a.child.take(), b.child.take()]
            .into_iter()
            .flatten()
            .collect();
        let _keep = [a.keep.take(), b.keep.take()]
            .into_iter()
            .flatten()
            .collect();
        Session {
            id,
            halves,
            children,
            _keep,
        }
    }

    /// Runs every direction to its end. `true` if none failed.
    pub(crate) fn run(self, ctx: &SessionCtx<'_>) -> bool {
        let Session {
            id,
            halves,
            children,
            _keep,
        } = self;
        let first_end = Mutex::new(None::<Instant>);
        let ok = std::thread::scope(|s| {
            let threads: Vec<_> = halves
                .into_iter()
                .map(|half| {
                    let first_end = &first_end;
                    s.spawn(move || pump(ctx, id, half, first_end))
                })
                .collect();
            // Join every thread before judging (no short-circuit).
            let results: Vec<bool> = threads
                .into_iter()
                .map(|t| t.join().unwrap_or(false))
                .collect();
            results.into_iter().all(|ok| ok)
        });
        for child in children {
            reap(ctx, id, child);
        }
        drop(_keep);
        ctx.log.event(Some(id), "closed", json!({}));
        ok
    }
}

/// Moves messages one way until the source ends, the sink is gone, a stop
/// was requested and what was read is written, or the other direction
/// ended more than the close delay ago.
fn pump(ctx: &SessionCtx<'_>, id: u64, mut half: Half, first_end: &Mutex<Option<Instant>>) -> bool {
    let log = ctx.log;
    let arrow = half.dir.arrow();
    let mut buf = Vec::new();
    let mut stopping = None::<Instant>;
    let mut reported_missed = 0u64;
    // A wait for input ends at the stop (the sink is left to finish what
    // was read: that is the relay's promise).
    half.source.watch_stop(ctx.stop);
    let result = loop {
        match stopping {
            None if ctx.stop.is_stopped() => {
                half.source.stop();
                stopping = Some(Instant::now());
            }
            Some(since) if since.elapsed() >= MAX_DRAIN => break Ok(()),
            _ => {}
        }
        let wait = if stopping.is_some() { DRAIN } else { POLL };
        let next = half.source.next(&mut buf, wait);
        // Messages the source knows it lost (a remote receiver that fell
        // behind, a server restart, a lapped ring): counted and said.
        let missed = half.source.missed();
        if missed > reported_missed {
            let new = missed - reported_missed;
            reported_missed = missed;
            log.stats.lost.fetch_add(new, Ordering::Relaxed);
            log.warn(
                Some(id),
                "lost",
                &format!("{arrow} {new} messages never reached the relay ({missed} in all)"),
            );
        }
        match next {
            Ok(Next::Message) => match half.sink.put(&buf) {
                Ok(()) => log.message(id, half.dir, &buf),
                Err(PutError::Refused(why)) => {
                    log.stats.refused.fetch_add(1, Ordering::Relaxed);
                    log.warn(
                        Some(id),
                        "refused",
                        &format!(
                            "{arrow} a {}-byte message was not delivered: {why}",
                            buf.len()
                        ),
                    );
                }
                Err(PutError::Gone(why)) => {
                    log.event(
                        Some(id),
                        "target-gone",
                        json!({"dir": half.dir.name(), "why": why}),
                    );
                    break Ok(());
                }
                Err(PutError::Failed(e)) => break Err(e),
            },
            Ok(Next::Idle) if stopping.is_some() => break Ok(()),
            Ok(Next::Idle) => {
                let other_ended = first_end.lock().map(|t| *t).unwrap_or(None);
                if other_ended.is_some_and(|t| t.elapsed() >= ctx.close_delay) {
                    log.event(Some(id), "close-delay", json!({"dir": half.dir.name()}));
                    break Ok(());
                }
            }
            Ok(Next::End) => {
                log.event(Some(id), "eof", json!({"dir": half.dir.name()}));
                break Ok(());
            }
            Ok(Next::Lost(why)) => {
                log.stats.lost.fetch_add(1, Ordering::Relaxed);
                log.warn(Some(id), "lost", &format!("{arrow} {why}"));
            }
            Err(e) => break Err(e),
        }
    };
    half.sink.finish();
    if let Ok(mut t) = first_end.lock() {
        t.get_or_insert_with(Instant::now);
    }
    match result {
        Ok(()) => true,
        Err(e) => {
            log.stats.errors.fetch_add(1, Ordering::Relaxed);
            log.warn(Some(id), "error", &format!("{arrow} {e:#}"));
            false
        }
    }
}

/// Waits for an `exec:` child to exit (its input is closed by now); one
/// still running after the close delay is killed.
fn reap(ctx: &SessionCtx<'_>, id: u64, mut child: Child) {
    let deadline = Instant::now() + ctx.close_delay;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                break child.wait().ok();
            }
        }
    };
    ctx.log.event(
        Some(id),
        "child-exit",
        json!({"pid": child.id(), "status": status.map(|s| s.to_string())}),
    );
}
