//! Framed messages over a byte stream (pipe, FIFO, Unix stream, TCP).
//!
//! The writer sends `len: u32 LE` + payload with one vectored write; the
//! reader reads as much as the kernel has into one buffer and hands out
//! frames from it, so a burst of small messages costs one `read`.

use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use rustix::event::PollFlags;

use super::peer::{not_a_hello, ReaderPeer, WriterPeer};
use super::ready::Armed;
use super::PeerHello;
use crate::error::{Error, ErrorKind, Fail};
use crate::sys::{self, Deadline, FdKind, Woke};
use crate::wire::hello::{Hello, HelloError};
use crate::wire::{FRAME_HEADER, HELLO_MARKER};

/// Writes are atomic on a pipe up to this size (`PIPE_BUF`).
const PIPE_BUF: usize = 4096;
/// The largest message a FIFO writer sends by default: its frame is one
/// write of at most `PIPE_BUF` bytes, which the kernel never interleaves
/// with another writer's, so no lock is needed.
pub(crate) const FIFO_ATOMIC_MAX: u32 = (PIPE_BUF - FRAME_HEADER) as u32;
/// First size of a reader's buffer; it grows only as data arrives.
const INITIAL_BUFFER: usize = 64 * 1024;

/// The sending half of a framed byte stream.
#[derive(Debug)]
pub(crate) struct StreamWriter {
    fd: Arc<OwnedFd>,
    kind: FdKind,
    /// FIFOs can have many writers. A write above `PIPE_BUF` is not atomic,
    /// and any other writer's write (even a small, atomic one) could land
    /// inside it; so when `max_msg` allows such frames, every frame is
    /// written under `flock` (two extra syscalls per message). By default
    /// a FIFO writer sends at most [`FIFO_ATOMIC_MAX`] and takes no lock.
    lock_frames: bool,
    peer: WriterPeer,
    /// The unwritten tail of a frame a deadline interrupted.
    pending: Vec<u8>,
    /// This writer holds the FIFO's flock (while a frame is in progress).
    locked: bool,
}

impl StreamWriter {
    pub(crate) fn new(fd: Arc<OwnedFd>, kind: FdKind, max_msg: u32, label: Arc<str>) -> Self {
        StreamWriter {
            fd,
            kind,
            lock_frames: false,
            peer: WriterPeer::new(max_msg, label),
            pending: Vec::new(),
            locked: false,
        }
    }

    /// Checks the peer's hello when it arrives (see [`AwaitPeer`]).
    pub(crate) fn await_peer(&mut self, pending: PeerHello) {
        self.peer.await_hello(pending);
    }

    /// Serialises frames between processes writing the same FIFO, unless
    /// every frame fits in one atomic pipe write.
    pub(crate) fn lock_frames_if_large(mut self) -> Self {
        self.lock_frames = FRAME_HEADER + self.peer.max_msg() as usize > PIPE_BUF;
        self
    }

    /// Explains the size limit in TooLarge errors.
    pub(crate) fn with_limit_note(mut self, note: &'static str) -> Self {
        self.peer.set_limit_note(note);
        self
    }

    /// Lowers the size limit to what the peer said it accepts.
    pub(crate) fn limit_to(&mut self, peer_max: u32) {
        self.peer.limit_to(peer_max);
    }

    pub(crate) fn label(&self) -> &Arc<str> {
        self.peer.label()
    }

    pub(crate) fn max_len(&self) -> usize {
        self.peer.max_msg() as usize
    }

    /// Readiness for a send: the fd becoming writable.
    pub(crate) fn arm(&self) -> Armed {
        Armed::fd(&self.fd, PollFlags::OUT)
    }

    pub(crate) fn send(&mut self, payload: &[u8], deadline: Deadline<'_>) -> Result<(), Fail> {
        self.peer.admit(payload.len())?;
        let header = (payload.len() as u32).to_le_bytes();
        self.write_all(&[&header, payload], deadline)
            .map_err(|f| self.peer.explain(f))
    }

    pub(crate) fn send_hello(&mut self, hello: &Hello, deadline: Deadline<'_>) -> Result<(), Fail> {
        self.write_all(&[&super::encode_hello(hello, false)], deadline)
    }

    /// Writes one frame. The deadline bounds the wait for room; a frame is
    /// never torn, so if the deadline passes after part of it went out, the
    /// rest is kept (and, on a FIFO, the lock held) and written before the
    /// next frame or when the writer is dropped. The message counts as sent.
    fn write_all(&mut self, parts: &[&[u8]], deadline: Deadline<'_>) -> Result<(), Fail> {
        self.flush(deadline)?;
        if self.lock_frames && !self.locked {
            self.lock(deadline)?;
        }
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let (written, woke) = self.write_until(parts, deadline)?;
        if written == 0 && total > 0 {
            self.unlock();
            return Result::from(woke);
        }
        if written < total {
            let mut rest = Vec::with_capacity(total - written);
            let mut skip = written;
            for part in parts {
                rest.extend_from_slice(&part[skip.min(part.len())..]);
                skip = skip.saturating_sub(part.len());
            }
            self.pending = rest;
            return Ok(());
        }
        self.unlock();
        Ok(())
    }

    /// Writes the rest of a frame a send left part-way (see `write_all`);
    /// `NotReady` if the deadline passed with some still to go.
    pub(crate) fn flush(&mut self, deadline: Deadline<'_>) -> Result<(), Fail> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let tail = std::mem::take(&mut self.pending);
        let (written, woke) = self.write_until(&[&tail], deadline)?;
        if written < tail.len() {
            self.pending = tail[written..].to_vec();
            return Result::from(woke);
        }
        self.unlock();
        Ok(())
    }

    /// Writes `parts` until done or the deadline passes (or its stop comes);
    /// returns how much went out and, if not all, why it stopped.
    fn write_until(
        &mut self,
        parts: &[&[u8]],
        deadline: Deadline<'_>,
    ) -> Result<(usize, Woke), Fail> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let fd = self.fd.as_fd();
        // A blocking pipe write above PIPE_BUF can block part-way: with a
        // deadline, write PIPE_BUF at a time, each after poll said "room".
        let chunk = if deadline.is_bounded() && self.kind == FdKind::Pipe {
            PIPE_BUF
        } else {
            usize::MAX
        };
        let mut done = 0;
        while done < total {
            if chunk == PIPE_BUF {
                let woke = self.wait_writable(deadline)?;
                if woke != Woke::Ready {
                    return Ok((done, woke));
                }
            }
            match sys::write_parts(fd, self.kind, parts, done, chunk, deadline.is_bounded()) {
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    let woke = self.wait_writable(deadline)?;
                    if woke != Woke::Ready {
                        return Ok((done, woke));
                    }
                }
                Err(e) if sys::is_disconnect(&e) => {
                    self.pending.clear();
                    self.unlock();
                    return Err(Fail::Disconnected);
                }
                Err(e) => return Err(Fail::io("write failed", e, self.peer.label())),
            }
        }
        Ok((done, Woke::Ready))
    }

    fn wait_writable(&self, deadline: Deadline<'_>) -> Result<Woke, Fail> {
        sys::wait(self.fd.as_fd(), PollFlags::OUT, deadline)
            .map_err(|e| Fail::io("poll", e, self.peer.label()))
    }

    /// Takes the FIFO's flock, waiting no longer than the deadline. Another
    /// writer holds it only while its frame goes out; flock has no timed
    /// form, so with a deadline it is tried and retried after short pauses.
    fn lock(&mut self, deadline: Deadline<'_>) -> Result<(), Fail> {
        use rustix::fs::FlockOperation::{LockExclusive, NonBlockingLockExclusive};
        let fail =
            |e: rustix::io::Errno| Fail::io("cannot lock the FIFO", e.into(), self.peer.label());
        if deadline.is_bounded() {
            loop {
                match rustix::fs::flock(&*self.fd, NonBlockingLockExclusive) {
                    Ok(()) => break,
                    Err(rustix::io::Errno::WOULDBLOCK) => {
                        let pause = std::time::Duration::from_micros(200);
                        Result::from(sys::pause(pause, deadline))?;
                    }
                    Err(e) => return Err(fail(e)),
                }
            }
        } else {
            rustix::fs::flock(&*self.fd, LockExclusive).map_err(fail)?;
        }
        self.locked = true;
        Ok(())
    }

    fn unlock(&mut self) {
        if self.locked {
            let _ = rustix::fs::flock(&*self.fd, rustix::fs::FlockOperation::Unlock);
            self.locked = false;
        }
    }
}

impl Drop for StreamWriter {
    /// Finishes a frame left half-written by a deadline, so the receiver
    /// never sees a torn one; ends when it is written or the peer is gone.
    fn drop(&mut self) {
        if !self.pending.is_empty() {
            let tail = std::mem::take(&mut self.pending);
            let _ = self.write_until(&[&tail], Deadline::NEVER);
        }
        self.unlock();
    }
}

/// What the buffer held next.
#[derive(Debug)]
pub(crate) enum Item {
    /// A complete message at this range of the buffer.
    Frame(Range<usize>),
    /// A hello, already checked against this end's.
    Hello,
}

/// The receiving half of a framed byte stream.
#[derive(Debug)]
pub(crate) struct StreamReader {
    fd: Arc<OwnedFd>,
    kind: FdKind,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes needed from `start` to complete the frame being read.
    need: usize,
    /// Read only what completes the current header or frame (TCP). A
    /// reader that takes everything there empties the socket on each read,
    /// and loopback TCP then acknowledges and frees every small segment on
    /// its own: 0.4 M instead of 2.2 M 64-byte messages/s (`tcp-drain` in
    /// crates/ipcx-bench). Reading the header, then the rest, keeps the
    /// queue from running dry while the sender streams.
    exact_reads: bool,
    /// How long to poll before a blocking read (`wait=`).
    pub(crate) spin: sys::Spin,
    max_msg: u32,
    label: Arc<str>,
    hello: ReaderPeer,
    closed: bool,
    /// FIFO only: this process's own write end, held until the first writer
    /// says hello so that the reader blocks (instead of seeing end-of-file)
    /// while no writer has opened the FIFO yet.
    keepalive: Option<OwnedFd>,
    /// This end stopped taking messages ([`StreamReader::stop`]).
    stopped: bool,
    /// A FIFO reader keeps its own write end for good (`serve=true`): the
    /// next writer is waited for when one closes.
    pub(crate) serve: bool,
    /// After a stop on a pipe or FIFO: the bytes still to read (what was
    /// in the pipe at the stop; a writer that goes on is not waited for).
    drain_left: Option<usize>,
    /// See [`StreamReader::drained`].
    drained: bool,
    /// A pipe or FIFO whose stream broke (a writer that is not ipcx, a
    /// frame out of step): bytes are dropped until the next valid hello,
    /// which is where a new writer starts. Nothing is reported meanwhile.
    resync: bool,
    /// The stream broke before: a marker that does not decode as a hello
    /// is more of the same garbage, skipped rather than reported.
    recovering: bool,
}

impl StreamReader {
    pub(crate) fn new(fd: Arc<OwnedFd>, kind: FdKind, local: Hello, label: Arc<str>) -> Self {
        Self::with_buffer(fd, kind, local, label, INITIAL_BUFFER)
    }

    /// A reader that only expects the peer's hello (a sender's handshake).
    pub(crate) fn for_hello(fd: Arc<OwnedFd>, kind: FdKind, local: Hello, label: Arc<str>) -> Self {
        Self::with_buffer(
            fd,
            kind,
            local,
            label,
            crate::wire::hello::MAX_LEN + FRAME_HEADER,
        )
    }

    fn with_buffer(
        fd: Arc<OwnedFd>,
        kind: FdKind,
        local: Hello,
        label: Arc<str>,
        size: usize,
    ) -> Self {
        let max_msg = local.max_msg;
        // On TCP, read no more than the frame being read needs (see
        // `exact_reads`); one syscall at open to know.
        let exact_reads = kind == FdKind::Socket
            && matches!(
                rustix::net::sockopt::socket_domain(&*fd),
                Ok(rustix::net::AddressFamily::INET | rustix::net::AddressFamily::INET6)
            );
        StreamReader {
            exact_reads,
            spin: sys::Spin::ADAPTIVE,
            fd,
            kind,
            buf: vec![0; size],
            start: 0,
            end: 0,
            need: FRAME_HEADER,
            max_msg,
            label,
            hello: ReaderPeer::new(local),
            closed: false,
            drained: false,
            keepalive: None,
            stopped: false,
            serve: false,
            drain_left: None,
            resync: false,
            recovering: false,
        }
    }

    /// Whether reads are cut to the frame being read (TCP).
    pub(crate) fn reads_exactly(&self) -> bool {
        self.exact_reads
    }

    /// Stops taking messages: a socket is shut for reading (a Unix peer's
    /// further writes fail, so it knows they were not taken); what is
    /// already queued can still be read. A frame cut off by our own stop is
    /// not an error.
    pub(crate) fn stop(&mut self) {
        match self.kind {
            FdKind::Socket => {
                let _ = rustix::net::shutdown(&*self.fd, rustix::net::Shutdown::Read);
            }
            FdKind::Pipe if !self.stopped => {
                self.drain_left = Some(rustix::io::ioctl_fionread(&*self.fd).unwrap_or(0) as usize);
            }
            FdKind::Pipe => {}
        }
        self.keepalive = None;
        self.stopped = true;
    }

    pub(crate) fn keep_open_until_hello(&mut self, keepalive: OwnedFd) {
        self.keepalive = Some(keepalive);
    }

    pub(crate) fn fd(&self) -> &Arc<OwnedFd> {
        &self.fd
    }

    pub(crate) fn peer(&self) -> Option<&Hello> {
        self.hello.peer.as_ref()
    }

    /// The peer's hello once it arrived, accepted or not.
    pub(crate) fn seen_hello(&self) -> Option<&Hello> {
        self.hello.seen.as_ref()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed
    }

    /// Readiness for a receive: now if a whole item is already buffered
    /// (the fd would not say so) or the stream has ended; else its fd.
    pub(crate) fn arm(&self) -> Armed {
        if self.closed || self.has_buffered_item() {
            Armed::Now
        } else {
            Armed::fd(&self.fd, PollFlags::IN)
        }
    }

    /// Whether the buffer holds a whole frame or hello (or the start of
    /// one that `next_item` will refuse: that too answers at once).
    pub(crate) fn has_buffered_item(&self) -> bool {
        let avail = &self.buf[self.start..self.end];
        if self.resync || avail.len() < FRAME_HEADER {
            return false;
        }
        let len = u32::from_le_bytes([avail[0], avail[1], avail[2], avail[3]]);
        len == HELLO_MARKER
            || self.hello.peer.is_none()
            || len > self.max_msg
            || avail.len() >= FRAME_HEADER + len as usize
    }

    /// Receives the next message.
    pub(crate) fn recv(&mut self, deadline: Deadline<'_>) -> Result<&[u8], Fail> {
        let range = self.recv_range(deadline)?;
        Ok(&self.buf[range])
    }

    /// Waits for the peer's hello (handshake), leaving any bytes after it buffered.
    pub(crate) fn recv_hello(&mut self, deadline: Deadline<'_>) -> Result<Hello, Fail> {
        loop {
            if let Some(peer) = &self.hello.peer {
                return Ok(peer.clone());
            }
            // Before the hello, next_item yields a hello or an error, never a frame.
            if self.next_item()?.is_none() {
                self.wait_and_read(deadline)?;
            }
        }
    }

    /// Looks for the peer's hello without blocking (sockets only).
    pub(crate) fn try_hello(&mut self) -> Result<Option<Hello>, Fail> {
        loop {
            if let Some(peer) = &self.hello.peer {
                return Ok(Some(peer.clone()));
            }
            if self.next_item()?.is_none() && !self.read_more(true)? {
                return Ok(None);
            }
        }
    }

    pub(crate) fn recv_range(&mut self, deadline: Deadline<'_>) -> Result<Range<usize>, Fail> {
        loop {
            match self.next_item()? {
                Some(Item::Frame(range)) => return Ok(range),
                Some(Item::Hello) => {}
                None => self.wait_and_read(deadline)?,
            }
        }
    }

    pub(crate) fn slice(&self, range: Range<usize>) -> &[u8] {
        &self.buf[range]
    }

    fn wait_and_read(&mut self, deadline: Deadline<'_>) -> Result<(), Fail> {
        if self.closed {
            return Err(Fail::Disconnected);
        }
        match (deadline.is_bounded(), self.kind) {
            (false, _) => {
                // Poll a little before sleeping (`wait=`, see sys::Spin).
                let _ = sys::spin_readable(self.fd.as_fd(), self.spin, deadline);
                self.read_more(false)?;
            }
            // With a deadline or a stop, poll first (cut to the deadline).
            (true, FdKind::Pipe) => {
                if !self.spin_readable(deadline)? {
                    self.wait_readable(deadline)?;
                }
                self.read_more(false)?;
            }
            (true, FdKind::Socket) => {
                if !self.read_more(true)? && !self.spin_readable(deadline)? {
                    self.wait_readable(deadline)?;
                    self.read_more(true)?;
                }
            }
        }
        Ok(())
    }

    fn wait_readable(&self, deadline: Deadline<'_>) -> Result<(), Fail> {
        sys::wait(self.fd.as_fd(), PollFlags::IN, deadline)
            .map_err(|e| Fail::io("poll", e, &self.label))?
            .into()
    }

    fn spin_readable(&self, deadline: Deadline<'_>) -> Result<bool, Fail> {
        sys::spin_readable(self.fd.as_fd(), self.spin, deadline)
            .map_err(|e| Fail::io("poll", e, &self.label))
    }

    /// The next complete item already in the buffer: a frame, or a hello
    /// (checked and recorded). `None`: more bytes are needed.
    pub(crate) fn next_item(&mut self) -> Result<Option<Item>, Fail> {
        loop {
            if self.resync && !self.skip_to_hello() {
                return Ok(None);
            }
            let avail = &self.buf[self.start..self.end];
            if avail.len() < FRAME_HEADER {
                self.need = FRAME_HEADER;
                return Ok(None);
            }
            let len = u32::from_le_bytes([avail[0], avail[1], avail[2], avail[3]]);
            if len == HELLO_MARKER {
                match Hello::decode(&avail[FRAME_HEADER..]) {
                    Ok((hello, n)) => {
                        self.start += FRAME_HEADER + n;
                        self.on_hello(hello)?;
                        return Ok(Some(Item::Hello));
                    }
                    Err(HelloError::Incomplete(n)) => {
                        self.need = FRAME_HEADER + n;
                        return Ok(None);
                    }
                    Err(HelloError::Invalid(_)) if self.recovering => {
                        // Resynchronising: not a hello after all.
                        self.start += 1;
                        self.resync = true;
                        continue;
                    }
                    Err(HelloError::Invalid(why)) => {
                        return Err(self.broken(ErrorKind::Protocol, why));
                    }
                }
            }
            if self.hello.peer.is_none() {
                let why = not_a_hello(self.writer_name(), avail);
                return Err(self.broken(ErrorKind::Protocol, why));
            }
            if len > self.max_msg {
                return Err(self.broken(
                    ErrorKind::TooLarge,
                    format!(
                        "peer announced a {len}-byte message; max_msg is {}",
                        self.max_msg
                    ),
                ));
            }
            let total = FRAME_HEADER + len as usize;
            if avail.len() >= total {
                let range = self.start + FRAME_HEADER..self.start + total;
                self.start += total;
                return Ok(Some(Item::Frame(range)));
            }
            self.need = total;
            return Ok(None);
        }
    }

    fn on_hello(&mut self, hello: Hello) -> Result<(), Fail> {
        if let Err(why) = self.hello.accept(hello) {
            return Err(self.broken(ErrorKind::TypeMismatch, why));
        }
        if !self.serve {
            self.keepalive = None;
        }
        Ok(())
    }

    /// Reads once. `Ok(false)`: nothing there (only with `dont_wait`).
    /// The last read took less than it had room for: the fd is most
    /// likely empty now (a waiting reader polls before reading again).
    pub(crate) fn drained(&self) -> bool {
        self.drained
    }

    pub(crate) fn read_more(&mut self, dont_wait: bool) -> Result<bool, Fail> {
        if self.closed {
            return Err(Fail::Disconnected);
        }
        self.make_room();
        let fd = self.fd.as_fd();
        let mut room = self.buf.len() - self.end;
        if self.exact_reads {
            let missing = (self.start + self.need).saturating_sub(self.end);
            room = room.min(missing.max(1));
        }
        if let Some(left) = self.drain_left {
            if left == 0 {
                self.closed = true;
                return Err(Fail::Disconnected);
            }
            room = room.min(left);
        }
        let end = self.end + room;
        match sys::read_some(fd, self.kind, &mut self.buf[self.end..end], dont_wait) {
            Ok(0) => {
                let partial = self.end - self.start;
                self.closed = true;
                if partial > 0 && self.hello.peer.is_none() && !self.recovering && !self.stopped {
                    let msg = format!(
                        "{} sent {partial} bytes that are not an ipcx hello ({:?}) and closed: \
                         not an ipcx sender? A plain program's text is read with `?frame=line`, \
                         raw bytes with `?frame=none`",
                        self.writer_name(),
                        String::from_utf8_lossy(&self.buf[self.start..self.end]),
                    );
                    return Err(Error::new(ErrorKind::Protocol, msg).at(&self.label).into());
                }
                if partial > 0 && !self.stopped && !self.resync {
                    let msg = format!(
                        "the peer closed the connection in the middle of a message \
                         ({partial} of {} bytes arrived)",
                        self.need.max(partial)
                    );
                    return Err(Error::new(ErrorKind::Protocol, msg).at(&self.label).into());
                }
                Err(Fail::Disconnected)
            }
            Ok(n) => {
                self.end += n;
                if let Some(left) = &mut self.drain_left {
                    *left -= n.min(*left);
                }
                self.drained = n < room;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(false),
            Err(e) if sys::is_disconnect(&e) => {
                self.closed = true;
                Err(Fail::Disconnected)
            }
            Err(e) => Err(Fail::io("read failed", e, &self.label)),
        }
    }

    /// Compacts, and grows the buffer (at most doubling, so never far past
    /// what has actually arrived) when the current frame cannot fit.
    fn make_room(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.start + self.need > self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() && self.need > self.buf.len() {
            let grown = (self.buf.len() * 2).min(self.need);
            self.buf.resize(grown, 0);
        }
    }

    /// Returns the error that broke the stream. A socket is closed (its
    /// peer's connection is dropped; what is buffered is discarded, so the
    /// error is reported once). A pipe or FIFO, shared by whoever writes
    /// to it, drops bytes until the next writer's hello (`resync`).
    fn broken(&mut self, kind: ErrorKind, why: String) -> Fail {
        match self.kind {
            FdKind::Socket => {
                self.closed = true;
                self.start = self.end;
            }
            FdKind::Pipe => {
                self.hello.peer = None;
                self.start += 1.min(self.end - self.start);
                self.resync = true;
                self.recovering = true;
            }
        }
        Error::new(kind, why).at(&self.label).into()
    }

    /// Resynchronising: drops bytes up to the next hello marker. `true`
    /// when one is at the start of the buffer; else all but the last few
    /// bytes (a marker's beginning) are dropped and more must be read.
    fn skip_to_hello(&mut self) -> bool {
        let marker = HELLO_MARKER.to_le_bytes();
        let avail = &self.buf[self.start..self.end];
        match avail.windows(marker.len()).position(|w| w == marker) {
            Some(at) => {
                self.start += at;
                self.resync = false;
                true
            }
            None => {
                self.start = self.end - avail.len().min(marker.len() - 1);
                self.need = FRAME_HEADER;
                false
            }
        }
    }

    /// Who wrote what is being read, for error messages.
    fn writer_name(&self) -> &'static str {
        match self.kind {
            FdKind::Socket => "the peer",
            FdKind::Pipe => "a writer",
        }
    }
}
