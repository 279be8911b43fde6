//! `ipcx recv` and `ipcx send` with `?frame=line` or `?frame=none`: the
//! peer is a plain program (`echo`, `nc`, `socat`), not ipcx. Built on the
//! relay's sources and sinks, so bytes become messages by the relay's rules
//! (`docs` of `ipcx relay`): a line each, a read each, a packet each.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ipcx::raw::{AcceptPause, RawListener};
use ipcx::{ErrorKind, OpenOptions, Stop};
use rustix::event::{PollFd, PollFlags};

use crate::command::relay::address::{is_connection_socket, RelaySide, Target};
use crate::command::relay::open::{self, OpenedSide, Role};
use crate::command::relay::sink::PutError;
use crate::command::relay::source::Next;

/// What a receive loop is asked to do.
pub(crate) struct RecvPlan<'a> {
    pub(crate) count: Option<u64>,
    /// Keep taking new clients after the last one left.
    pub(crate) serve: bool,
    /// Give up when no message comes for this long.
    pub(crate) timeout: Option<Duration>,
    pub(crate) stop: &'a Stop,
}

/// Messages received and messages lost (bad input), so far.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub(crate) received: u64,
    pub(crate) lost: u64,
}

/// Receives from a plain peer, handing each message to `deliver`.
pub(crate) fn recv(
    addr: &RelaySide,
    plan: &RecvPlan<'_>,
    deliver: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<Tally> {
    let Target::Endpoint(ep) = &addr.target else {
        bail!("{addr}: recv takes an endpoint");
    };
    if is_connection_socket(ep) {
        return serve_clients(addr, plan, deliver);
    }
    let mut opened = open::open(addr, Role::Source, None)?;
    let source = opened.source.as_mut().expect("opened as a source");
    source.watch_stop(plan.stop);
    let mut tally = Tally::default();
    let mut last = Instant::now();
    let mut buf = Vec::new();
    while plan.count.is_none_or(|n| tally.received < n) {
        // Once stopped, only what is there now.
        let wait = match (plan.stop.is_stopped(), plan.timeout) {
            (true, _) => Duration::ZERO,
            (false, Some(t)) => t.saturating_sub(last.elapsed()),
            (false, None) => Duration::MAX,
        };
        match source.next(&mut buf, wait)? {
            Next::Message => {
                deliver(&buf)?;
                tally.received += 1;
                last = Instant::now();
            }
            Next::Lost(why) => {
                eprintln!("ipcx recv: {why}");
                tally.lost += 1;
            }
            Next::End => break,
            Next::Idle if plan.stop.is_stopped() => break,
            Next::Idle => timed_out(plan, last, addr, &tally)?,
        }
    }
    Ok(tally)
}

fn timed_out(
    plan: &RecvPlan<'_>,
    last: Instant,
    addr: &RelaySide,
    tally: &Tally,
) -> anyhow::Result<()> {
    if let Some(t) = plan.timeout.filter(|t| last.elapsed() >= *t) {
        bail!("{addr}: no message for {t:?} ({} received)", tally.received);
    }
    Ok(())
}

/// A listening socket: plain clients come and go (`nc -U`, `socat`), each
/// read in turn as it has something; one `poll` over the listener, the
/// clients and the stop.
fn serve_clients(
    addr: &RelaySide,
    plan: &RecvPlan<'_>,
    deliver: &mut dyn FnMut(&[u8]) -> anyhow::Result<()>,
) -> anyhow::Result<Tally> {
    let Target::Endpoint(ep) = &addr.target else {
        unreachable!("checked by the caller")
    };
    let listener = RawListener::bind_with(ep, OpenOptions::new().stop(plan.stop))
        .with_context(|| format!("cannot listen on {addr}"))?;
    let cut = open::cut_of(addr);
    let mut clients: Vec<OpenedSide> = Vec::new();
    let mut tally = Tally::default();
    let mut last = Instant::now();
    let mut had_client = false;
    let mut accept_pause = AcceptPause::default();
    let mut buf = Vec::new();
    'serve: loop {
        if plan.count.is_some_and(|n| tally.received >= n) {
            break;
        }
        let stopped = plan.stop.is_stopped();
        let everyone_left = had_client && clients.is_empty();
        if stopped || (everyone_left && !plan.serve && plan.count.is_none()) {
            break;
        }
        let listening = !accept_pause.active();
        let mut fds: Vec<PollFd<'_>> = vec![PollFd::new(plan.stop, PollFlags::IN)];
        if listening {
            fds.push(PollFd::new(&listener, PollFlags::IN));
        }
        for c in &clients {
            let fd = c
                .source
                .as_ref()
                .and_then(|s| s.readiness())
                .expect("a plain client has an fd");
            fds.push(PollFd::from_borrowed_fd(fd, PollFlags::IN));
        }
        let mut limit = plan.timeout.map(|t| t.saturating_sub(last.elapsed()));
        if let Some(left) = accept_pause.left() {
            limit = Some(limit.map_or(left, |l| l.min(left)));
        }
        let timeout = limit.map(|l| rustix::event::Timespec::try_from(l).unwrap_or_default());
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        timed_out(plan, last, addr, &tally)?;
        let first_client = 1 + usize::from(listening);
        if listening && ready[1] {
            accept_all(
                &listener,
                cut,
                &mut clients,
                &mut accept_pause,
                &mut had_client,
            );
        }
        let mut k = 0;
        let mut index = first_client;
        while k < clients.len() {
            let was_ready = ready.get(index).copied().unwrap_or(false);
            index += 1;
            if !was_ready {
                k += 1;
                continue;
            }
            let source = clients[k].source.as_mut().expect("a source");
            loop {
                match source.next(&mut buf, Duration::ZERO)? {
                    Next::Message => {
                        deliver(&buf)?;
                        tally.received += 1;
                        last = Instant::now();
                        if plan.count.is_some_and(|n| tally.received >= n) {
                            break 'serve;
                        }
                    }
                    Next::Idle => {
                        k += 1;
                        break;
                    }
                    Next::End => {
                        clients.swap_remove(k);
                        // The client moved into `k` was not looked at in
                        // this turn's order; the next poll will.
                        index = usize::MAX;
                        break;
                    }
                    Next::Lost(why) => {
                        eprintln!("ipcx recv: {why}");
                        tally.lost += 1;
                    }
                }
            }
            if index == usize::MAX {
                break;
            }
        }
    }
    // Stopped: the listener goes (its file too); what the clients already
    // sent is still read.
    drop(listener);
    for client in &mut clients {
        let source = client.source.as_mut().expect("a source");
        while plan.count.is_none_or(|n| tally.received < n) {
            match source.next(&mut buf, Duration::ZERO)? {
                Next::Message => {
                    deliver(&buf)?;
                    tally.received += 1;
                }
                Next::Lost(why) => {
                    eprintln!("ipcx recv: {why}");
                    tally.lost += 1;
                }
                Next::Idle | Next::End => break,
            }
        }
    }
    Ok(tally)
}

/// Takes every client waiting in the backlog. Out of fds, the listener is
/// left alone for a while (growing from 10 ms to 1 s) and the trouble is
/// said (once per 30 s): the clients waiting in the backlog are taken when fds free up.
fn accept_all(
    listener: &RawListener,
    cut: crate::command::relay::source::Cut,
    clients: &mut Vec<OpenedSide>,
    pause: &mut AcceptPause,
    had_client: &mut bool,
) {
    loop {
        match listener.accept_timeout(Duration::ZERO) {
            Ok(conn) => {
                clients.push(open::from_raw(conn, Role::Source, cut));
                *had_client = true;
                pause.end();
            }
            Err(e) if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::Stopped) => return,
            Err(e) => {
                if pause.begin() {
                    eprintln!(
                        "ipcx recv: {e}; waiting clients are taken when file descriptors free up"
                    );
                }
                return;
            }
        }
    }
}

/// Sends each message to a plain peer: a line each (`frame=line`), the
/// bytes as they are (`frame=none`), a packet each on packet sockets.
/// Returns how many were refused (too large for the target).
pub(crate) fn send(
    addr: &RelaySide,
    wait: Option<Duration>,
    messages: &mut dyn FnMut() -> anyhow::Result<Option<Vec<u8>>>,
    stop: &Stop,
) -> anyhow::Result<u64> {
    let mut opened = open::open(addr, Role::Sink, wait)?;
    let mut sink = opened.sink.take().expect("opened as a sink");
    let mut refused = 0;
    while !stop.is_stopped() {
        let Some(msg) = messages()? else { break };
        match sink.put(&msg) {
            Ok(()) => {}
            Err(PutError::Refused(why)) => {
                eprintln!("ipcx send: {why}");
                refused += 1;
            }
            Err(PutError::Gone(why)) => bail!("{addr}: {why}"),
            Err(PutError::Failed(e)) => return Err(e),
        }
    }
    sink.finish();
    drop(opened);
    Ok(refused)
}
