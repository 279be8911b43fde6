//! A receiver that listens: it accepts any number of senders on a stream or
//! seqpacket socket and hands out their messages as one channel.
//!
//! Each connection has its own reader; a connection that fails (bad hello,
//! wrong type, garbage, too large) is reported once and closed while the
//! others go on. When every sender that connected is gone, and at least one
//! came, the channel is disconnected.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rustix::event::{epoll, PollFlags};
use rustix::io::Errno;
use rustix::net::SocketFlags;

use super::accept_pause::AcceptPause;
use super::packet::PacketReader;
use super::ready::Armed;
use super::stream::{Item, StreamReader};
use super::tcp_regime::TcpRegime;
use crate::error::{Error, ErrorKind, Fail};
use crate::sys::{self, Deadline, FdKind, PeerCred};
use crate::wire::hello::Hello;

#[derive(Debug)]
enum Reader {
    Stream(StreamReader),
    Packet(PacketReader),
}

#[derive(Debug)]
struct Conn {
    /// Its key in the epoll set.
    id: u64,
    reader: Reader,
    /// The last poll (or a fresh accept) said there may be bytes to read.
    readable: bool,
    /// This end's hello has been answered (or need not be).
    answered: bool,
    /// In the epoll set. A lone Unix connection that streams is taken
    /// out (see [`FanIn::note_received`]) and put back before sleeping.
    watched: bool,
}

impl Conn {
    fn fd(&self) -> &Arc<OwnedFd> {
        match &self.reader {
            Reader::Stream(r) => r.fd(),
            Reader::Packet(r) => r.fd(),
        }
    }

    /// The next message if one can be had without blocking.
    fn try_next(&mut self) -> Result<Option<std::ops::Range<usize>>, Fail> {
        loop {
            let item = match &mut self.reader {
                Reader::Stream(r) => match r.next_item()? {
                    Some(item) => Some(item),
                    None if !self.readable => return Ok(None),
                    None => {
                        // A read that found nothing, or that emptied the
                        // socket: poll before the next one (it would only
                        // say EAGAIN: one syscall fewer per wait).
                        if !r.read_more(true)? || r.drained() {
                            self.readable = false;
                        }
                        continue;
                    }
                },
                Reader::Packet(r) if self.readable => r.read_packet(true)?,
                Reader::Packet(_) => return Ok(None),
            };
            match item {
                Some(Item::Frame(range)) => return Ok(Some(range)),
                Some(Item::Hello) => {}
                None => {
                    self.readable = false;
                    return Ok(None);
                }
            }
        }
    }

    fn seen_hello(&self) -> Option<&Hello> {
        match &self.reader {
            Reader::Stream(r) => r.seen_hello(),
            Reader::Packet(r) => r.seen_hello(),
        }
    }

    fn is_closed(&self) -> bool {
        match &self.reader {
            Reader::Stream(r) => r.is_closed(),
            Reader::Packet(r) => r.is_closed(),
        }
    }

    fn was_sender(&self) -> bool {
        match &self.reader {
            Reader::Stream(r) => r.peer().is_some(),
            Reader::Packet(r) => r.peer().is_some(),
        }
    }

    fn slice(&self, range: std::ops::Range<usize>) -> &[u8] {
        match &self.reader {
            Reader::Stream(r) => r.slice(range),
            Reader::Packet(r) => r.slice(range),
        }
    }

    /// A TCP connection (read frame by frame, looked at with `poll`).
    fn is_tcp(&self) -> bool {
        matches!(&self.reader, Reader::Stream(r) if r.reads_exactly())
    }
}

/// Messages a lone Unix connection delivers without the receiver sleeping
/// before it leaves the epoll set.
const UNWATCH_AFTER: u32 = 32;

/// A listening socket and the senders it has accepted.
#[derive(Debug)]
pub(crate) struct FanIn {
    /// `None` once stopped: no more connections are taken.
    listener: Option<OwnedFd>,
    packets: bool,
    local: Hello,
    hello_bytes: Vec<u8>,
    allow_uid: Vec<u32>,
    conns: Vec<Conn>,
    next: usize,
    listener_readable: bool,
    /// Out of fds: the listener is out of the epoll set for a while.
    accept_pause: AcceptPause,
    had_sender: bool,
    /// Keep accepting after the last sender left (`serve=true`).
    pub(crate) serve: bool,
    /// How long to poll before sleeping (`wait=`).
    pub(crate) spin: sys::Spin,
    /// The listener and every connection, level-triggered: one syscall to
    /// wait, no allocation, whatever the number of senders.
    epoll: Arc<OwnedFd>,
    next_id: u64,
    /// Messages taken since the receiver last slept (see `note_received`).
    streak: u32,
    /// Keeps a lone TCP sender's stream coalesced (see `tcp_regime`).
    tcp_regime: TcpRegime,
    /// Whether a peer that only sends gets this end's hello back. Not on
    /// TCP: if that peer has already closed, the hello makes its kernel
    /// reset the connection, and a reset discards what it sent but we
    /// have not read yet.
    answer_senders: bool,
    label: Arc<str>,
}

impl FanIn {
    /// `listener` must be non-blocking and listening.
    pub(crate) fn new(
        listener: OwnedFd,
        packets: bool,
        answer_senders: bool,
        local: Hello,
        allow_uid: Vec<u32>,
        label: Arc<str>,
    ) -> Result<Self, Error> {
        let hello_bytes = super::encode_hello(&local, packets);
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)
            .map_err(|e| Error::io("cannot create an epoll set", e.into()))?;
        epoll::add(
            &epoll,
            &listener,
            epoll::EventData::new_u64(LISTENER),
            epoll::EventFlags::IN,
        )
        .map_err(|e| Error::io("cannot watch the listener", e.into()))?;
        Ok(FanIn {
            listener: Some(listener),
            packets,
            local,
            hello_bytes,
            allow_uid,
            conns: Vec::new(),
            next: 0,
            listener_readable: true,
            accept_pause: AcceptPause::default(),
            had_sender: false,
            serve: false,
            spin: sys::Spin::ADAPTIVE,
            epoll: Arc::new(epoll),
            next_id: 0,
            streak: 0,
            tcp_regime: TcpRegime::default(),
            answer_senders,
            label,
        })
    }

    pub(crate) fn recv(&mut self, deadline: Deadline<'_>) -> Result<&[u8], Fail> {
        // Before sleeping, poll for a while (`wait=`, sys::Spin): with
        // one sender, a non-blocking read of its connection is the poll (one
        // syscall that also takes the message); the whole set is looked at
        // every 16th turn, so a new sender is not missed.
        self.tcp_regime.pause_if_eager(deadline.instant());
        let mut spin_until = None;
        // When this receive found nothing and began polling (not set
        // again after a sleep).
        let mut caught_up_since = None;
        let mut turns = 0u32;
        loop {
            if let Some((i, range)) = self.next_ready()? {
                self.note_received();
                if self.conns.len() == 1 && self.conns[0].is_tcp() {
                    self.tcp_regime.on_message(caught_up_since);
                }
                return Ok(self.conns[i].slice(range));
            }
            if self.had_sender && self.conns.is_empty() && (!self.serve || self.listener.is_none())
            {
                return Err(Fail::Disconnected);
            }
            if self.listener_readable && self.accept_pending()? {
                continue;
            }
            let now = std::time::Instant::now();
            let until = *spin_until.get_or_insert_with(|| {
                caught_up_since = Some(now);
                self.spin.until(now, deadline)
            });
            if now < until {
                if deadline.is_stopped() {
                    return Err(Fail::Stopped);
                }
                turns += 1;
                if self.conns.len() == 1 && turns % 16 != 0 {
                    self.look_at_lone_connection();
                } else {
                    self.poll_all(Deadline::at(now))?;
                }
                sys::pause_between_polls();
                continue;
            }
            watch_all(&self.epoll, &mut self.conns, &self.label)?;
            self.streak = 0;
            caught_up_since = None;
            // A paused listener is watched again when its pause ends.
            let wake = match (self.accept_pause.until(), deadline.instant()) {
                (Some(p), Some(d)) => Deadline::at(p.min(d)),
                (Some(p), None) => Deadline::at(p),
                (None, _) => deadline.with_stop(None),
            }
            .with_stop(deadline.stop());
            if !self.poll_all(wake)? && deadline.has_passed() {
                return Err(Fail::NotReady);
            }
            self.resume_accepting()?;
        }
    }

    /// Readiness for a receive: now if a connection has something buffered
    /// or is marked readable, a new sender may wait in the backlog, or the
    /// channel has ended; else the epoll set (every connection back in it).
    pub(crate) fn arm(&mut self) -> Result<Armed, Fail> {
        self.resume_accepting()?;
        if self.listener_readable {
            self.accept_pending()?;
        }
        let buffered = self
            .conns
            .iter()
            .any(|c| matches!(&c.reader, Reader::Stream(r) if r.has_buffered_item()));
        let ended =
            self.had_sender && self.conns.is_empty() && (!self.serve || self.listener.is_none());
        if buffered || ended || self.conns.iter().any(Conn::is_closed) {
            return Ok(Armed::Now);
        }
        // Level-triggered: what is readable now, the set reports at once.
        watch_all(&self.epoll, &mut self.conns, &self.label)?;
        for conn in &mut self.conns {
            conn.readable = false;
        }
        self.streak = 0;
        // A paused listener needs a look when its pause ends.
        let recheck = self
            .accept_pause
            .until()
            .map(|t| t.saturating_duration_since(std::time::Instant::now()));
        Ok(Armed::Fd {
            fd: Arc::clone(&self.epoll),
            events: PollFlags::IN,
            recheck,
        })
    }

    /// The epoll set: readable when a sender has something or a new one
    /// connects (every connection is in it after a receive found nothing).
    pub(crate) fn epoll_fd(&self) -> &Arc<OwnedFd> {
        &self.epoll
    }

    /// Takes a lone Unix connection out of the epoll set once it has
    /// delivered `UNWATCH_AFTER` messages without the receiver sleeping.
    ///
    /// While a socket is in an epoll set, every packet queued on it runs
    /// the epoll callback in the sender's `send` (a lock and the ready
    /// list): a quarter of a 64-byte seqpacket stream's rate
    /// (docs/performance.md). A receiver that keeps finding
    /// messages does not need the callback: it reads the socket directly
    /// (`look_at_lone_connection`). It is put back before sleeping
    /// (`watch_all`); a level-triggered add reports data already there, so
    /// nothing that arrived meanwhile is missed. TCP stays watched: it is
    /// looked at with `poll`, and its streams did worse without.
    fn note_received(&mut self) {
        self.streak = self.streak.saturating_add(1);
        if self.streak < UNWATCH_AFTER || self.conns.len() != 1 {
            return;
        }
        let conn = &mut self.conns[0];
        if conn.watched && !conn.is_tcp() && epoll::delete(&self.epoll, &**conn.fd()).is_ok() {
            conn.watched = false;
        }
    }

    /// One look at the only connection while spinning. On Unix sockets a
    /// non-blocking read is the look (one syscall that also takes the
    /// message). On TCP it is `poll`: a read takes the socket's lock, and
    /// TCP then queues what arrives meanwhile on its backlog (see
    /// `tcp-drain` in crates/ipcx-bench).
    fn look_at_lone_connection(&mut self) {
        let conn = &mut self.conns[0];
        if !conn.is_tcp() {
            conn.readable = true;
            return;
        }
        let fd = std::os::fd::AsFd::as_fd(&**conn.fd());
        let mut fds = [rustix::event::PollFd::from_borrowed_fd(fd, PollFlags::IN)];
        let zero = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        if matches!(rustix::event::poll(&mut fds, Some(&zero)), Ok(n) if n > 0) {
            conn.readable = true;
        }
    }

    /// Round-robin over the connections for one that has a message ready.
    fn next_ready(&mut self) -> Result<Option<(usize, std::ops::Range<usize>)>, Fail> {
        let mut k = 0;
        while k < self.conns.len() {
            let i = (self.next + k) % self.conns.len();
            let result = self.conns[i].try_next();
            self.answer(i);
            match result {
                Ok(Some(range)) => {
                    self.had_sender = true;
                    self.next = i + 1;
                    return Ok(Some((i, range)));
                }
                Ok(None) => k += 1,
                Err(fail) => {
                    let conn = &self.conns[i];
                    if conn.is_closed() {
                        self.had_sender |= conn.was_sender();
                        self.conns.swap_remove(i);
                    } else {
                        // A bad message on a link that stays in step.
                        self.next = i + 1;
                    }
                    if let Fail::Error(e) = fail {
                        return Err(Fail::Error(e));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Stops taking messages: closes the listener (no new senders) and shuts
    /// every connection for reading; what is queued can still be read.
    pub(crate) fn stop(&mut self) {
        // A connection still in the backlog may already hold messages its
        // sender was told were sent: take it before closing the listener
        // (closing would reset it). One that connects in the instant between
        // the two is refused.
        while let Ok(true) = self.accept_pending() {}
        self.listener = None;
        for conn in &mut self.conns {
            match &mut conn.reader {
                Reader::Stream(r) => r.stop(),
                Reader::Packet(r) => r.stop(),
            }
            conn.readable = true;
        }
    }

    /// Sends this end's hello once the peer's has been read (so that
    /// everything the peer sent before is already in our buffer).
    fn answer(&mut self, i: usize) {
        let conn = &mut self.conns[i];
        if conn.answered {
            return;
        }
        let Some(peer_receives) = conn.seen_hello().map(|h| h.receives.is_some()) else {
            return;
        };
        conn.answered = true;
        if peer_receives || self.answer_senders {
            // The socket's send buffer is empty: the hello fits at once.
            let fd = conn.fd().clone();
            let _ = sys::write_parts(
                fd.as_fd(),
                FdKind::Socket,
                &[&self.hello_bytes],
                0,
                usize::MAX,
                true,
            );
        }
    }

    /// After an accept pause: the listener goes back into the epoll set.
    fn resume_accepting(&mut self) -> Result<(), Fail> {
        if !self.accept_pause.take_expired() {
            return Ok(());
        }
        if let Some(listener) = &self.listener {
            epoll::add(
                &*self.epoll,
                listener,
                epoll::EventData::new_u64(LISTENER),
                epoll::EventFlags::IN,
            )
            .map_err(|e| Fail::io("cannot watch the listener", e.into(), &self.label))?;
            self.listener_readable = true;
        }
        Ok(())
    }

    /// Accepts every connection waiting in the backlog. `Ok(true)` if any.
    fn accept_pending(&mut self) -> Result<bool, Fail> {
        let mut any = false;
        let Some(listener) = &self.listener else {
            return Ok(false);
        };
        loop {
            let fd = match rustix::net::accept_with(listener, SocketFlags::CLOEXEC) {
                Ok(fd) => fd,
                Err(Errno::AGAIN) => {
                    self.listener_readable = false;
                    return Ok(any);
                }
                Err(Errno::INTR | Errno::CONNABORTED) => continue,
                Err(e) if AcceptPause::is_shortage(e) => {
                    self.listener_readable = false;
                    let _ = epoll::delete(&*self.epoll, listener);
                    if !self.accept_pause.begin() {
                        return Ok(any);
                    }
                    let why = format!(
                        "cannot accept a new sender ({e}): it waits in the backlog and is \
                         taken once file descriptors are free (raise `ulimit -n`?)"
                    );
                    return Err(Error::new(ErrorKind::Io, why).at(&self.label).into());
                }
                Err(e) => return Err(Fail::io("accept failed", e.into(), &self.label)),
            };
            self.accept_pause.end();
            let cred = sys::peer_cred(&fd).ok();
            let label: Arc<str> = match cred {
                Some(c) => format!("{} (peer pid {} uid {})", self.label, c.pid, c.uid).into(),
                None => self.label.clone(),
            };
            check_allowed(&self.allow_uid, cred, &label)?;
            let fd = Arc::new(fd);
            let reader = if self.packets {
                Reader::Packet(PacketReader::new(fd, self.local.clone(), label)?)
            } else {
                Reader::Stream(StreamReader::new(
                    fd,
                    FdKind::Socket,
                    self.local.clone(),
                    label,
                ))
            };
            let id = self.next_id;
            self.next_id += 1;
            let conn = Conn {
                id,
                reader,
                readable: true,
                answered: false,
                watched: true,
            };
            watch(&self.epoll, conn.fd(), id, &self.label)?;
            watch_all(&self.epoll, &mut self.conns, &self.label)?;
            self.conns.push(conn);
            any = true;
        }
    }

    /// Waits for any connection or the listener; marks what is readable.
    /// Runs only when nothing is ready, i.e. when the caller is about to sleep.
    fn poll_all(&mut self, deadline: Deadline<'_>) -> Result<bool, Fail> {
        // On the stack: no allocation per wait. Level-triggered, so what does
        // not fit is reported by the next wait.
        let mut buf = [const { std::mem::MaybeUninit::<epoll::Event>::uninit() }; 16];
        let events = loop {
            // With a stop, sleep in poll on the epoll set and the stop (one
            // more syscall, only on the way to sleep), then collect.
            let mut timeout = sys::timespec_until(deadline);
            if deadline.stop().is_some() {
                match sys::wait(self.epoll.as_fd(), PollFlags::IN, deadline) {
                    Ok(sys::Woke::Ready) => timeout = Some(ZERO),
                    Ok(sys::Woke::TimedOut) => return Ok(false),
                    Ok(sys::Woke::Stopped) => return Err(Fail::Stopped),
                    Err(e) => return Err(Fail::io("poll", e, &self.label)),
                }
            }
            match epoll::wait(&self.epoll, &mut buf, timeout.as_ref()) {
                Ok((ready, _)) if !ready.is_empty() => break ready,
                Ok(_) if deadline.has_passed() => return Ok(false),
                Ok(_) | Err(Errno::INTR) => continue,
                Err(e) => return Err(Fail::io("epoll_wait", e.into(), &self.label)),
            }
        };
        for event in events.iter() {
            match event.data.u64() {
                LISTENER => self.listener_readable = self.listener.is_some(),
                id => {
                    if let Some(conn) = self.conns.iter_mut().find(|c| c.id == id) {
                        conn.readable = true;
                    }
                }
            }
        }
        Ok(true)
    }
}

/// The listener's key in the epoll set (connections count up from 0).
const LISTENER: u64 = u64::MAX;

const ZERO: rustix::event::Timespec = rustix::event::Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// Puts every connection back in the epoll set (before sleeping, or when a
/// second sender comes: the round robin relies on the set for all but a
/// lone connection).
fn watch_all(epoll: &OwnedFd, conns: &mut [Conn], label: &Arc<str>) -> Result<(), Fail> {
    for conn in conns.iter_mut().filter(|c| !c.watched) {
        watch(epoll, conn.fd(), conn.id, label)?;
        conn.watched = true;
    }
    Ok(())
}

/// Adds a connection to the epoll set, level-triggered, keyed by `id`.
fn watch(epoll: &OwnedFd, fd: &OwnedFd, id: u64, label: &Arc<str>) -> Result<(), Fail> {
    epoll::add(
        epoll,
        fd,
        epoll::EventData::new_u64(id),
        epoll::EventFlags::IN,
    )
    .map_err(|e| Fail::io("cannot watch a connection", e.into(), label))
}

/// Refuses a peer whose uid is not allowed; the error names it.
pub(crate) fn check_allowed(
    allow_uid: &[u32],
    cred: Option<PeerCred>,
    label: &Arc<str>,
) -> Result<(), Fail> {
    if allow_uid.is_empty() {
        return Ok(());
    }
    let uids: Vec<String> = allow_uid.iter().map(u32::to_string).collect();
    let who = match cred {
        Some(c) if allow_uid.contains(&c.uid) => return Ok(()),
        Some(c) => format!("a peer with uid {} (pid {})", c.uid, c.pid),
        None => "a peer whose uid cannot be known".to_owned(),
    };
    Err(Error::new(
        ErrorKind::PermissionDenied,
        format!(
            "refused {who}: only uid {} may connect (an abstract socket lets in its own \
             uid alone by default; add others with ?allow_uid=)",
            uids.join(",")
        ),
    )
    .at(label)
    .into())
}
