//! [`Select`]: wait until one of several ends, of any transports, can
//! go on — a receiver with a message, a sender with room, a [`Stop`] — as
//! crossbeam-channel's `Select` does. The [`select!`](crate::select!)
//! macro builds one and completes the operation.
//!
//! Readiness is a hint: after [`Select::ready`] names an operation, its
//! `try_recv`/`try_send` may still find nothing (another thread took the
//! message, a frame is not whole yet); call `ready` again then. It never
//! names an operation that has nothing for it forever, and it sleeps in
//! one `poll` over every member's fd: sockets, pipes, FIFOs and POSIX
//! queues directly, shared-memory rings through their doorbell (rung by
//! the other side only when it sees a sleeper). System V queues have no
//! fd: with one among the members, the sleep is cut to a pause that
//! grows from 50 µs to 5 ms and the queue is looked at between two.

use std::fmt;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags};

use super::receiver::RecvState;
use super::sender::State;
use super::{Receiver, Sender};
use crate::link::ready::Armed;
use crate::Stop;

/// Waits on several operations at once; see the [module](self) docs.
///
/// ```
/// use std::time::Duration;
/// let dir = std::env::temp_dir().join(format!("ipcx-doc-sel-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let jobs = ipcx::Receiver::<u32>::open(format!("unix:{}/jobs.sock", dir.display()))?;
/// let frames = ipcx::Receiver::<u32>::open(format!("shm:/ipcx-doc-sel-{}", std::process::id()))?;
/// let tx = ipcx::Sender::<u32>::open(frames.endpoint())?;
/// tx.send(7)?;
///
/// let mut sel = ipcx::Select::new();
/// let on_jobs = sel.recv(&jobs);
/// let on_frames = sel.recv(&frames);
/// let i = sel.ready_timeout(Duration::from_secs(5))?;
/// assert_eq!(i, on_frames);
/// assert_eq!(frames.try_recv()?, 7);
/// # let _ = on_jobs;
/// # drop((tx, frames, jobs)); std::fs::remove_dir(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Select<'a> {
    ops: Vec<Op<'a>>,
    /// Where the next look starts: every member gets its turn first in
    /// rotation, so a busy one cannot starve the others.
    next: usize,
}

enum Op<'a> {
    Recv(&'a Mutex<RecvState>),
    Send(&'a Mutex<State>),
    Stop(&'a Stop),
    Removed,
}

/// [`Select::try_ready`] found no operation ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TryReadyError;

/// [`Select::ready_timeout`] found no operation ready in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadyTimeoutError;

impl fmt::Display for TryReadyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("no operation is ready")
    }
}

impl fmt::Display for ReadyTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out waiting for a ready operation")
    }
}

impl std::error::Error for TryReadyError {}
impl std::error::Error for ReadyTimeoutError {}

/// What one member sleeps on.
enum Sleep<'a> {
    Shared(Arc<OwnedFd>, PollFlags),
    Stop(&'a Stop),
    /// A System V queue: no fd, look again after a pause.
    Pause,
}

impl<'a> Select<'a> {
    /// An empty selection.
    pub fn new() -> Select<'a> {
        Select {
            ops: Vec::new(),
            next: 0,
        }
    }

    /// Adds a receive; returns its index.
    pub fn recv<T>(&mut self, rx: &'a Receiver<T>) -> usize {
        self.push(Op::Recv(&rx.link))
    }

    /// Adds a send; returns its index. On a ring, "ready" means room for
    /// the last message this sender was refused (any small one before).
    pub fn send<T>(&mut self, tx: &'a Sender<T>) -> usize {
        self.push(Op::Send(tx.state()))
    }

    /// Adds a stop: ready once it is triggered.
    pub fn stop(&mut self, stop: &'a Stop) -> usize {
        self.push(Op::Stop(stop))
    }

    /// Takes an operation out (its index is not reused), e.g. a receiver
    /// whose senders are all gone.
    pub fn remove(&mut self, index: usize) {
        if let Some(op) = self.ops.get_mut(index) {
            *op = Op::Removed;
        }
    }

    fn push(&mut self, op: Op<'a>) -> usize {
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// An operation that is ready now, without waiting.
    pub fn try_ready(&mut self) -> Result<usize, TryReadyError> {
        self.wait(Some(Instant::now())).ok_or(TryReadyError)
    }

    /// Waits until an operation is ready. Panics if there is none left
    /// (every one removed): it would wait forever.
    pub fn ready(&mut self) -> usize {
        self.wait(None).expect("no deadline")
    }

    /// Waits at most `timeout` for an operation to be ready.
    pub fn ready_timeout(&mut self, timeout: Duration) -> Result<usize, ReadyTimeoutError> {
        self.wait(crate::sys::deadline_in(timeout))
            .ok_or(ReadyTimeoutError)
    }

    /// Waits until `deadline` for an operation to be ready.
    pub fn ready_deadline(&mut self, deadline: Instant) -> Result<usize, ReadyTimeoutError> {
        self.wait(Some(deadline)).ok_or(ReadyTimeoutError)
    }

    fn wait(&mut self, deadline: Option<Instant>) -> Option<usize> {
        let n = self.ops.len();
        assert!(
            self.ops.iter().any(|op| !matches!(op, Op::Removed)),
            "Select has no operations: it would wait forever"
        );
        let mut pause = Duration::from_micros(50);
        let mut sleeps: Vec<(usize, Sleep<'a>)> = Vec::with_capacity(n);
        loop {
            sleeps.clear();
            let mut recheck = None::<Duration>;
            let mut ready = None;
            for k in 0..n {
                let i = (self.next + k) % n;
                match self.arm(i) {
                    None => {}
                    Some(Armed::Now) => {
                        ready = Some(i);
                        break;
                    }
                    Some(Armed::Fd {
                        fd,
                        events,
                        recheck: r,
                    }) => {
                        recheck = match (recheck, r) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        sleeps.push((i, Sleep::Shared(fd, events)));
                    }
                    Some(Armed::NoFd) => sleeps.push((i, Sleep::Pause)),
                }
                if let Op::Stop(stop) = &self.ops[i] {
                    sleeps.push((i, Sleep::Stop(stop)));
                }
            }
            if ready.is_none() && deadline.is_none_or(|d| Instant::now() < d) {
                let paused = sleeps.iter().any(|(_, s)| matches!(s, Sleep::Pause));
                let mut limit = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                for cap in [recheck, paused.then_some(pause)].into_iter().flatten() {
                    limit = Some(limit.map_or(cap, |l| l.min(cap)));
                }
                if paused {
                    pause = (pause * 2).min(Duration::from_millis(5));
                }
                // The first member (in this turn's order) whose fd fired;
                // members without one are looked at again next turn.
                ready = sleep(&sleeps, limit);
            }
            for (i, _) in &sleeps {
                self.disarm(*i);
            }
            if let Some(i) = ready {
                self.next = i + 1;
                return Some(i);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return None;
            }
        }
    }

    /// Asks member `i` what it would wait on (`None`: removed, or a stop,
    /// which is handled by the caller).
    fn arm(&self, i: usize) -> Option<Armed> {
        match &self.ops[i] {
            Op::Recv(rx) => Some(rx.lock().unwrap_or_else(|p| p.into_inner()).arm()),
            Op::Send(tx) => Some(tx.lock().unwrap_or_else(|p| p.into_inner()).arm()),
            Op::Stop(stop) if stop.is_stopped() => Some(Armed::Now),
            Op::Stop(_) | Op::Removed => None,
        }
    }

    fn disarm(&self, i: usize) {
        match &self.ops[i] {
            Op::Recv(rx) => rx.lock().unwrap_or_else(|p| p.into_inner()).disarm(),
            Op::Send(tx) => tx.lock().unwrap_or_else(|p| p.into_inner()).disarm(),
            Op::Stop(_) | Op::Removed => {}
        }
    }
}

/// One `poll` over every member's fd, at most `limit`; the first member
/// whose fd fired.
fn sleep(sleeps: &[(usize, Sleep<'_>)], limit: Option<Duration>) -> Option<usize> {
    let mut owners = Vec::with_capacity(sleeps.len());
    let mut fds: Vec<PollFd<'_>> = sleeps
        .iter()
        .filter_map(|(i, s)| {
            let fd = match s {
                Sleep::Shared(fd, events) => PollFd::new(&**fd, *events),
                Sleep::Stop(stop) => PollFd::from_borrowed_fd(stop.as_fd(), PollFlags::IN),
                Sleep::Pause => return None,
            };
            owners.push(*i);
            Some(fd)
        })
        .collect();
    let timeout = limit.map(|l| rustix::event::Timespec {
        tv_sec: l.as_secs().try_into().unwrap_or(i64::MAX),
        tv_nsec: l.subsec_nanos().into(),
    });
    let _timer = crate::sys::BlockedTimer::start();
    // EINTR or a timeout: the caller looks again either way.
    let _ = rustix::event::poll(&mut fds, timeout.as_ref());
    fds.iter()
        .position(|fd| !fd.revents().is_empty())
        .map(|k| owners[k])
}

impl Default for Select<'_> {
    fn default() -> Self {
        Select::new()
    }
}

impl fmt::Debug for Select<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("operations", &self.ops.len())
            .finish_non_exhaustive()
    }
}
