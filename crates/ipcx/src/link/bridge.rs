//! Bounded queues between an end (on the caller's thread) and a task on a
//! runtime that speaks a remote protocol (`nats://`). The end sees a
//! carrier like any other: it sends into an [`Outbox`] and receives from
//! an [`Inbox`], and sleeps on an eventfd that is readable exactly while
//! it could go on (room in the outbox, a message in the inbox, or the
//! end of either). So `Select`, the async ends and a stop wait on it as
//! on a socket.
//!
//! The levels are kept lazily, so a busy stream costs no system call: a
//! take that empties the inbox leaves its level on, and only a take that
//! finds it empty (and so may sleep) turns it off; likewise a push turns
//! the outbox's off only when it is refused. Readiness is a hint that the
//! next try decides (link/ready.rs), and after a try that found nothing
//! the level is exact, so a waiter never sleeps on a stale "ready" nor
//! misses a real one.
//!
//! Bounds: an outbox holds at most `capacity` bytes (a sender waits for
//! room, as on a full socket); an inbox holds at most `capacity` bytes and
//! drops what arrives beyond that, counting it (the remote side cannot be
//! told to wait: a core NATS subscriber that falls behind loses messages,
//! and here it knows how many).

use std::collections::VecDeque;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rustix::event::{eventfd, EventfdFlags, PollFlags};

use super::ready::Armed;
use crate::error::{Error, ErrorKind, Fail};
use crate::sys::{self, Deadline};

/// An eventfd used as a level: readable while on.
#[derive(Debug)]
struct Level {
    fd: Arc<OwnedFd>,
    on: bool,
}

impl Level {
    fn new() -> Result<Level, Error> {
        let fd = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map_err(|e| Error::io("cannot create an eventfd", e.into()))?;
        Ok(Level {
            fd: Arc::new(fd),
            on: false,
        })
    }

    /// Called under the owner's lock, so on/off follow the state exactly.
    fn set(&mut self, on: bool) {
        if on == self.on {
            return;
        }
        // A write of 1 to a counter at 0 and a read that empties it cannot
        // fail on a non-blocking eventfd (the counter never nears its max).
        if on {
            let _ = rustix::io::write(&*self.fd, &1u64.to_ne_bytes());
        } else {
            let mut buf = [0u8; 8];
            let _ = rustix::io::read(&*self.fd, &mut buf);
        }
        self.on = on;
    }
}

/// Why a queue has ended.
#[derive(Debug, Clone)]
pub(crate) enum Ended {
    /// The remote side is gone for good (the connection was closed).
    Gone,
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    /// The remote side failed in a way the user must hear of (refused
    /// credentials, a permission violation).
    Failed(Error),
}

impl Ended {
    fn fail(&self) -> Fail {
        match self {
            Ended::Gone => Fail::Disconnected,
            Ended::Failed(e) => Fail::Error(e.clone()),
        }
    }
}

/// What to do once a message has been handled (acknowledge it to a
/// JetStream server): run when the end asks for the next message, or
/// stops, or is dropped.
pub(crate) struct Done(pub(crate) Box<dyn FnOnce() + Send>);

impl Done {
    fn run(self) {
        (self.0)()
    }
}

impl std::fmt::Debug for Done {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Done(..)")
    }
}

/// One message that arrived: the ipcx datagram header, when it had one
/// (plain NATS publishers send none), and the payload.
pub(crate) struct Incoming {
    pub(crate) header: Option<[u8; crate::wire::datagram::HEADER]>,
    pub(crate) payload: Bytes,
    pub(crate) done: Option<Done>,
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Incoming")
            .field("header", &self.header)
            .field("len", &self.payload.len())
            .field("acknowledged", &self.done.is_none())
            .finish()
    }
}

impl Incoming {
    fn len(&self) -> usize {
        self.payload.len() + self.header.map_or(0, |h| h.len())
    }
}

#[derive(Debug)]
struct InboxState {
    items: VecDeque<Incoming>,
    bytes: usize,
    /// Readable while there is an item or the inbox has ended.
    level: Level,
    ended: Option<Ended>,
    /// The end has stopped or gone: the task takes no more.
    closed: bool,
    dropped: u64,
    /// The last message taken, to acknowledge at the next take.
    handled: Option<Done>,
}

/// Messages on their way in: the task pushes, the end takes.
#[derive(Debug)]
pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    capacity: usize,
    /// Wakes the task when the end closes.
    pub(crate) closed: tokio::sync::Notify,
    /// Wakes a task waiting for room ([`Inbox::push_when_room`]).
    room: tokio::sync::Notify,
    fd: Arc<OwnedFd>,
}

impl Inbox {
    pub(crate) fn new(capacity: usize) -> Result<Arc<Inbox>, Error> {
        let level = Level::new()?;
        let fd = level.fd.clone();
        Ok(Arc::new(Inbox {
            state: Mutex::new(InboxState {
                items: VecDeque::new(),
                bytes: 0,
                level,
                ended: None,
                closed: false,
                dropped: 0,
                handled: None,
            }),
            capacity,
            closed: tokio::sync::Notify::new(),
            room: tokio::sync::Notify::new(),
            fd,
        }))
    }

    fn lock(&self) -> MutexGuard<'_, InboxState> {
        // Nothing panics while holding the lock; a poisoned lock still
        // holds a consistent queue.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    /// The task's side: queues `item`, or drops and counts it when the
    /// inbox is full (an empty inbox takes any one message). False once
    /// the end has closed: the task should stop.
    pub(crate) fn push(&self, item: Incoming) -> bool {
        let mut s = self.lock();
        self.push_locked(&mut s, item)
    }

    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    /// [`Inbox::push`] for each of `items` (emptied), under one lock.
    pub(crate) fn push_all(&self, items: &mut Vec<Incoming>) -> bool {
        let mut s = self.lock();
        items.drain(..).all(|item| self.push_locked(&mut s, item))
    }

    fn push_locked(&self, s: &mut InboxState, item: Incoming) -> bool {
        if s.closed {
            return false;
        }
        if !s.items.is_empty() && s.bytes + item.len() > self.capacity {
            s.dropped += 1;
            return true;
        }
        s.bytes += item.len();
        s.items.push_back(item);
        s.level.set(true);
        true
    }

    /// The task's side, for durable messages that must not be dropped:
    /// waits for room (an empty inbox takes any one message). False once
    /// the end has closed (the message is left unacknowledged: the server
    /// delivers it again, to this end's successor).
    pub(crate) async fn push_when_room(&self, item: Incoming) -> bool {
        let mut item = Some(item);
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut s = self.lock();
                if s.closed {
                    return false;
                }
                let len = item.as_ref().map_or(0, Incoming::len);
                if s.items.is_empty() || s.bytes + len <= self.capacity {
                    if let Some(item) = item.take() {
                        s.bytes += len;
                        s.items.push_back(item);
                    }
                    s.level.set(true);
                    return true;
                }
            }
            tokio::select! {
                () = room => {}
                () = self.closed.notified() => return false,
            }
        }
    }

    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    /// The task's side: `n` messages are known to be lost before they
    /// reached this inbox (a gap in a sender's sequence).
    pub(crate) fn lost(&self, n: u64) {
        self.lock().dropped += n;
    }

    /// The task's side: nothing more will come, for `why`.
    pub(crate) fn end(&self, why: Ended) {
        let mut s = self.lock();
        s.ended.get_or_insert(why);
        s.level.set(true);
    }

    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// The end's side: stops taking (the task unsubscribes); returns how
    /// many messages are left to read.
    pub(crate) fn close(&self) -> usize {
        let (left, handled) = {
            let mut s = self.lock();
            s.closed = true;
            (s.items.len(), s.handled.take())
        };
        if let Some(done) = handled {
            done.run();
        }
        self.closed.notify_one();
        left
    }

    /// Messages dropped so far: for a full inbox, and gaps the task saw.
    pub(crate) fn dropped(&self) -> u64 {
        self.lock().dropped
    }

    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    pub(crate) fn arm(&self) -> Armed {
        Armed::fd(&self.fd, PollFlags::IN)
    }

    /// The end's side: the next message, waiting for it until `deadline`.
    /// The one taken before is handled then: it is acknowledged. Before
    /// it sleeps, a take looks again for as long as `spin` says.
    pub(crate) fn take(
        &self,
        deadline: Deadline<'_>,
        spin: sys::Spin,
        label: &Arc<str>,
    ) -> Result<Incoming, Fail> {
        if let Some(done) = self.lock().handled.take() {
            done.run();
        }
        let mut spun = false;
        loop {
            {
                let mut s = self.lock();
                if let Some(mut item) = s.items.pop_front() {
                    s.bytes -= item.len();
                    s.handled = item.done.take();
                    drop(s);
                    self.room.notify_one();
                    return Ok(item);
                }
                if let Some(ended) = &s.ended {
                    return Err(ended.fail());
                }
                if s.closed {
                    return Err(Fail::Disconnected);
                }
                if spun {
                    // Found empty: the level says so before any sleep.
                    s.level.set(false);
                }
            }
            if !spun {
                // Look again for a while; then once more, turning the
                // level off if still nothing.
                spun = true;
                let _ = sys::spin_for(spin, deadline, || Ok(self.has_any().then_some(())));
                continue;
            }
            if deadline.has_passed() {
                return Err(Fail::NotReady);
            }
            wait(&self.fd, deadline, label)?;
        }
    }

    /// Whether there is something for a take (a message or the end).
    fn has_any(&self) -> bool {
        let s = self.lock();
        !s.items.is_empty() || s.ended.is_some() || s.closed
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        if let Some(done) = self.lock().handled.take() {
            done.run();
        }
        self.closed.notify_one();
    }
}

/// A way to send a message at once from the end's own thread, without
/// the task (a NATS publish that finds room in the client's queue): used
/// only while the outbox is empty and the task holds nothing, so order is
/// kept. False: not now (the message then goes through the outbox).
pub(crate) trait Direct: Send + Sync {
    fn try_send(&self, parts: &[&[u8]]) -> bool;
}

#[derive(Debug)]
struct OutboxState {
    items: VecDeque<Bytes>,
    bytes: usize,
    /// Readable while there is room or the outbox has ended.
    level: Level,
    ended: Option<Ended>,
    /// The end is done sending: the task sends what is left, then says so.
    finishing: bool,
    /// The task has sent (and flushed) everything.
    finished: bool,
    /// The end stopped waiting for the task to finish.
    abandoned: bool,
    /// The task holds messages it took and has not sent yet.
    busy: bool,
}

/// Messages on their way out: the end pushes, the task takes.
#[derive(Debug)]
pub(crate) struct Outbox {
    state: Mutex<OutboxState>,
    capacity: usize,
    /// Wakes the task: something to send, or the end is finishing.
    pub(crate) work: tokio::sync::Notify,
    finished: Condvar,
    fd: Arc<OwnedFd>,
    direct: std::sync::OnceLock<Box<dyn Direct>>,
}

impl std::fmt::Debug for dyn Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Direct(..)")
    }
}

impl Outbox {
    pub(crate) fn new(capacity: usize) -> Result<Arc<Outbox>, Error> {
        let mut level = Level::new()?;
        level.set(true);
        let fd = level.fd.clone();
        Ok(Arc::new(Outbox {
            state: Mutex::new(OutboxState {
                items: VecDeque::new(),
                bytes: 0,
                level,
                ended: None,
                finishing: false,
                finished: false,
                abandoned: false,
                busy: false,
            }),
            capacity,
            work: tokio::sync::Notify::new(),
            finished: Condvar::new(),
            fd,
            direct: std::sync::OnceLock::new(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, OutboxState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    pub(crate) fn arm(&self) -> Armed {
        Armed::fd(&self.fd, PollFlags::IN)
    }

    /// The end's side: queues one message made of `parts`, waiting for
    /// room until `deadline`. An outbox below its capacity takes any one
    /// message (so it holds at most capacity plus one message): exactly
    /// while its level is on, which is what a sleeping sender waits for.
    pub(crate) fn push(
        &self,
        parts: &[&[u8]],
        deadline: Deadline<'_>,
        label: &Arc<str>,
    ) -> Result<(), Fail> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        loop {
            {
                let mut s = self.lock();
                if let Some(ended) = &s.ended {
                    return Err(ended.fail());
                }
                if s.items.is_empty() && !s.busy {
                    if let Some(direct) = self.direct.get() {
                        // Under the lock: the task cannot take (and send)
                        // anything meanwhile, so nothing is overtaken.
                        if direct.try_send(parts) {
                            return Ok(());
                        }
                    }
                }
                if s.bytes < self.capacity {
                    let mut message = Vec::with_capacity(len);
                    parts.iter().for_each(|p| message.extend_from_slice(p));
                    s.bytes += len;
                    s.items.push_back(Bytes::from(message));
                    drop(s);
                    self.work.notify_one();
                    return Ok(());
                }
                // Refused: the level says so before any sleep.
                s.level.set(false);
            }
            if deadline.has_passed() {
                return Err(Fail::NotReady);
            }
            wait(&self.fd, deadline, label)?;
        }
    }

    /// The task's side: everything queued now (empty when the end is
    /// finishing and nothing is left: time to flush and say so).
    pub(crate) fn take_all(&self) -> (Vec<Bytes>, bool) {
        let mut s = self.lock();
        let items: Vec<Bytes> = s.items.drain(..).collect();
        s.bytes = 0;
        s.busy = !items.is_empty();
        s.level.set(true);
        (items, s.finishing)
    }

    /// The task's side: what it took is sent (the end may send directly
    /// again, see [`Direct`]).
    pub(crate) fn sent(&self) {
        self.lock().busy = false;
    }

    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    /// Lets the end send directly while the task is idle.
    pub(crate) fn set_direct(&self, direct: Box<dyn Direct>) {
        let _ = self.direct.set(direct);
    }

    /// The task's side: messages taken but not sent go back to the front
    /// (the connection dropped; they go out after it is back).
    pub(crate) fn put_back(&self, items: impl DoubleEndedIterator<Item = Bytes>) {
        let mut s = self.lock();
        for item in items.rev() {
            s.bytes += item.len();
            s.items.push_front(item);
        }
    }

    /// The task's side: nothing more can be sent, for `why`.
    pub(crate) fn end(&self, why: Ended) {
        let mut s = self.lock();
        s.ended.get_or_insert(why);
        s.level.set(true);
        s.finished = true;
        self.finished.notify_all();
    }

    /// The task's side: all sent and flushed after `finish`.
    pub(crate) fn done(&self) {
        self.lock().finished = true;
        self.finished.notify_all();
    }

    /// The end's side: no more messages; waits up to `patience` for the
    /// task to send what is queued. False if it could not in time.
    pub(crate) fn finish(&self, patience: Duration) -> bool {
        self.lock().finishing = true;
        self.work.notify_one();
        let until = Instant::now() + patience;
        let mut s = self.lock();
        while !s.finished {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                s.abandoned = true;
                return false;
            }
            s = self
                .finished
                .wait_timeout(s, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// The task's side: the end no longer waits for what is left (it was
    /// dropped, and its patience ran out): stop trying.
    pub(crate) fn abandoned(&self) -> bool {
        self.lock().abandoned
    }

    /// The end's side said [`Outbox::finish`]: no more will come.
    #[cfg_attr(not(feature = "websocket"), allow(dead_code))]
    pub(crate) fn finishing(&self) -> bool {
        self.lock().finishing
    }

    /// Messages queued and not yet taken by the task.
    pub(crate) fn queued(&self) -> usize {
        self.lock().items.len()
    }
}

/// How long a dropped sender waits for what it queued to reach the server.
const FLUSH_PATIENCE: Duration = Duration::from_secs(5);

/// A carrier's remote side: which way its queue goes.
#[derive(Debug)]
pub(crate) enum Bridged {
    Out(Arc<Outbox>),
    In(Arc<Inbox>),
}

impl Bridged {
    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        match self {
            Bridged::Out(o) => o.fd(),
            Bridged::In(i) => i.fd(),
        }
    }

    pub(crate) fn arm(&self) -> Armed {
        match self {
            Bridged::Out(o) => o.arm(),
            Bridged::In(i) => i.arm(),
        }
    }

    /// A receiver's stop: takes no more; what is queued is left to read.
    pub(crate) fn stop(&self) -> usize {
        match self {
            Bridged::Out(_) => 0,
            Bridged::In(i) => i.close(),
        }
    }

    pub(crate) fn missed(&self) -> u64 {
        match self {
            Bridged::Out(_) => 0,
            Bridged::In(i) => i.dropped(),
        }
    }

    pub(crate) fn send(
        &self,
        parts: &[&[u8]],
        deadline: Deadline<'_>,
        label: &Arc<str>,
    ) -> Result<(), Fail> {
        match self {
            Bridged::Out(o) => o.push(parts, deadline, label),
            Bridged::In(_) => Err(Fail::Error(remote_error(
                ErrorKind::Unsupported,
                "a receiving end cannot send",
                label,
            ))),
        }
    }

    /// The next message into `buf`: its header (if any) then its payload;
    /// the full length may exceed what fitted.
    pub(crate) fn recv(
        &self,
        buf: &mut [u8],
        deadline: Deadline<'_>,
        spin: sys::Spin,
        label: &Arc<str>,
    ) -> Result<super::carrier::Received, Fail> {
        let Bridged::In(inbox) = self else {
            return Err(Fail::Error(remote_error(
                ErrorKind::Unsupported,
                "a sending end cannot receive",
                label,
            )));
        };
        let item = inbox.take(deadline, spin, label)?;
        let mut at = 0;
        for part in [
            item.header.as_ref().map_or(&[][..], |h| &h[..]),
            &item.payload,
        ] {
            let n = part.len().min(buf.len() - at);
            buf[at..at + n].copy_from_slice(&part[..n]);
            at += n;
        }
        Ok(super::carrier::Received {
            range: 0..at,
            full_len: item.len(),
        })
    }
}

impl Drop for Bridged {
    fn drop(&mut self) {
        match self {
            // What was accepted goes out before the end is gone (bounded:
            // a server that is down for longer loses it).
            Bridged::Out(o) => {
                o.finish(FLUSH_PATIENCE);
            }
            Bridged::In(i) => {
                i.close();
            }
        }
    }
}

fn wait(fd: &Arc<OwnedFd>, deadline: Deadline<'_>, label: &Arc<str>) -> Result<(), Fail> {
    match sys::wait(std::os::fd::AsFd::as_fd(&**fd), PollFlags::IN, deadline) {
        Ok(woke) => woke.into(),
        Err(e) => Err(Fail::io("poll", e, label)),
    }
}

/// An error of the remote side, for [`Ended::Failed`].
pub(crate) fn remote_error(kind: ErrorKind, detail: impl Into<String>, label: &Arc<str>) -> Error {
    Error::new(kind, detail).at(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label() -> Arc<str> {
        "nats://test:1/x".into()
    }

    fn item(n: usize) -> Incoming {
        Incoming {
            header: None,
            payload: Bytes::from(vec![7u8; n]),
            done: None,
        }
    }

    #[test]
    fn a_full_inbox_drops_and_counts_and_its_fd_follows_the_level() {
        let inbox = Inbox::new(100).unwrap();
        let fd = inbox.fd().clone();
        assert!(!sys::wait::ready_now(
            std::os::fd::AsFd::as_fd(&*fd),
            PollFlags::IN
        ));
        assert!(inbox.push(item(60)));
        assert!(
            inbox.push(item(60)),
            "over capacity: dropped, the task goes on"
        );
        assert_eq!(inbox.dropped(), 1);
        assert!(sys::wait::ready_now(
            std::os::fd::AsFd::as_fd(&*fd),
            PollFlags::IN
        ));
        let got = inbox
            .take(Deadline::now(), sys::Spin::ADAPTIVE, &label())
            .unwrap();
        assert_eq!(got.payload.len(), 60);
        // Emptied by a take, the level stays on (no system call on a busy
        // stream); a take that finds it empty turns it off.
        assert!(sys::wait::ready_now(
            std::os::fd::AsFd::as_fd(&*fd),
            PollFlags::IN
        ));
        assert!(matches!(
            inbox.take(Deadline::now(), sys::Spin::ADAPTIVE, &label()),
            Err(Fail::NotReady)
        ));
        assert!(!sys::wait::ready_now(
            std::os::fd::AsFd::as_fd(&*fd),
            PollFlags::IN
        ));
        inbox.end(Ended::Gone);
        assert!(matches!(
            inbox.take(Deadline::NEVER, sys::Spin::ADAPTIVE, &label()),
            Err(Fail::Disconnected)
        ));
    }

    #[test]
    fn an_idle_take_waits_until_its_deadline() {
        let inbox = Inbox::new(100).unwrap();
        let t = Instant::now();
        let r = inbox.take(
            Deadline::after(Some(Duration::from_millis(50))),
            sys::Spin::ADAPTIVE,
            &label(),
        );
        assert!(matches!(r, Err(Fail::NotReady)));
        assert!(t.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_full_outbox_makes_the_sender_wait_and_finish_waits_for_the_task() {
        let outbox = Outbox::new(10).unwrap();
        let readable =
            || sys::wait::ready_now(std::os::fd::AsFd::as_fd(&**outbox.fd()), PollFlags::IN);
        outbox
            .push(&[b"12345678"], Deadline::now(), &label())
            .unwrap();
        assert!(
            readable(),
            "below its capacity: room, and the level says so"
        );
        outbox.push(&[b"123"], Deadline::now(), &label()).unwrap();
        // Over it now: refused, and the level is off, so a sender that
        // sleeps on it is woken when room comes (it once said room here
        // while refusing, and an async sender slept for good).
        let full = outbox.push(&[b"1"], Deadline::now(), &label());
        assert!(matches!(full, Err(Fail::NotReady)));
        assert!(!readable());
        let (items, finishing) = outbox.take_all();
        assert_eq!((items.len(), finishing), (2, false));
        assert!(readable());
        outbox
            .push(&[b"12", b"3"], Deadline::now(), &label())
            .unwrap();
        let task = {
            let outbox = outbox.clone();
            std::thread::spawn(move || loop {
                let (_, finishing) = outbox.take_all();
                if finishing {
                    outbox.done();
                    return;
                }
                std::thread::sleep(Duration::from_millis(5));
            })
        };
        assert!(outbox.finish(Duration::from_secs(5)));
        task.join().unwrap();
        outbox.end(Ended::Gone);
        let gone = outbox.push(&[b"x"], Deadline::NEVER, &label());
        assert!(matches!(gone, Err(Fail::Disconnected)));
    }
}
