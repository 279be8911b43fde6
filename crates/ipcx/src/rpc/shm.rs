//! Calls over `shm:`: a pair of rings per client, set up on a control
//! socket (docs/wire.md, "Calls over shm:").
//!
//! A server on `shm:/name` listens on the abstract Unix socket
//! `@ipcx-call/name` (same-uid peers only, as every abstract socket ipcx
//! binds). A client connects there (the hellos declare the call types, as
//! on any call connection, so a mismatch is refused at connect), creates
//! the ring it receives replies on, and asks the server to attach:
//!
//! 1. client → server: `attach`, id 0, body `REQUEST-RING NUL REPLY-RING`
//!    (both `/name.call.PID.N.req|rep`);
//! 2. the server creates the request ring (it receives on it), opens the
//!    reply ring, and answers `reply` id 0, or `error` id 0 with why;
//! 3. the client opens the request ring and sends `attach`, id 0, empty:
//!    it is attached. The server reads calls from the ring from then on.
//!
//! The control connection is then dropped: the calls, replies, errors and
//! cancels travel on the rings, with no system call while both sides are
//! awake. Each ring tells its reader when its writer closes or dies, so a
//! dead client or server is noticed as on any `shm:` channel (≤ 100 ms).

use std::sync::atomic::{AtomicU64, Ordering};

use super::frame::{self, Kind};
use crate::codec::Identity;
use crate::endpoint::{Address, Endpoint, Options, UnixAddr, UnixKind};
use crate::error::{Error, ErrorKind, Fail, RecvError};
use crate::sys::Deadline;
use crate::{Bytes, Duplex, OpenOptions, Receiver, Sender};

/// Ring bytes per direction when the endpoint has no `capacity=`: two
/// rings per client are written to `/dev/shm` at once (fallocate), so
/// smaller than a channel's 1 MiB.
const CALL_RING_CAPACITY: u64 = 256 << 10;

/// How long a client that met a hung-up server reads for the reason.
const WHY_WITHIN: std::time::Duration = std::time::Duration::from_millis(200);

/// The two ends a call connection over rings is made of.
pub(crate) type Rings = (Sender<Bytes>, Receiver<Bytes>);

/// The shm name of the server's endpoint (`/name`).
fn base_name(ep: &Endpoint) -> &str {
    match ep.address() {
        Address::Shm(name) => name,
        _ => unreachable!("rpc::shm is only used for shm: endpoints"),
    }
}

/// Where a server on `shm:/name` listens for clients: `unix:@ipcx-call/name`.
pub(crate) fn control_endpoint(ep: &Endpoint) -> Endpoint {
    let name = format!("ipcx-call{}", base_name(ep));
    Endpoint::new(
        Address::Unix(UnixKind::Stream, UnixAddr::Abstract(name.into_bytes())),
        Options::default(),
    )
}

/// The prefix of every call ring of the server on `ep` (`/name.call.`).
pub(crate) fn ring_prefix(ep: &Endpoint) -> String {
    format!("{}.call.", base_name(ep))
}

/// A ring of a call connection: the server endpoint's `mode`, `max_msg`,
/// `wait` and `capacity` (each ring), one reader, removed when both are done.
fn ring_endpoint(ep: &Endpoint, name: &str) -> Endpoint {
    let from = ep.options();
    let options = Options {
        mode: from.mode,
        max_msg: from.max_msg,
        wait: from.wait,
        capacity: Some(from.capacity.unwrap_or(CALL_RING_CAPACITY)),
        ..Options::default()
    };
    Endpoint::new(Address::Shm(name.to_owned()), options)
}

/// A connection's ring names, unique on this machine while this process lives.
fn ring_names(ep: &Endpoint) -> (String, String) {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let stem = format!("{}{}.{n}", ring_prefix(ep), std::process::id());
    (format!("{stem}.req"), format!("{stem}.rep"))
}

/// What a wait on the control connection met, as an error about `what`.
fn control_error(fail: Fail, what: &str, ep: &Endpoint) -> Error {
    match fail {
        Fail::NotReady => Error::new(
            ErrorKind::TimedOut,
            format!("no {what} from the server of {ep} in time"),
        ),
        other => match RecvError::from(other) {
            RecvError::Failed(e) => e,
            RecvError::Disconnected => Error::new(
                ErrorKind::NoPeer,
                format!("the server of {ep} hung up before the {what}"),
            ),
        },
    }
}

/// The client side: connects to the server of `ep`, sets up the rings, and
/// returns the ends this client sends requests and receives replies on.
pub(crate) fn connect(
    ep: &Endpoint,
    requests: Identity,
    replies: Identity,
    deadline: Deadline<'_>,
) -> Result<Rings, Error> {
    let control: Duplex<Bytes, Bytes> =
        Duplex::connect_as(control_endpoint(ep), requests, replies, deadline)?;
    let (to_server, from_server) = control.split();
    let (request_ring, reply_ring) = ring_names(ep);
    let replies = Receiver::<Bytes>::open(ring_endpoint(ep, &reply_ring))?;
    let mut body = request_ring.clone().into_bytes();
    body.push(0);
    body.extend_from_slice(reply_ring.as_bytes());
    // A server that hung up may have said why first (its hello refused
    // this client's types, say): read it.
    let hung_up = |_| {
        let why = from_server.with_bytes(Deadline::after(Some(WHY_WITHIN)), |_| Ok(()));
        match why {
            Err(Fail::Error(e)) => e,
            _ => Error::new(
                ErrorKind::NoPeer,
                format!("the server of {ep} hung up while this client attached"),
            ),
        }
    };
    to_server
        .send_bytes(frame::encode(Kind::Attach, 0, &body))
        .map_err(hung_up)?;
    let answer = from_server.with_bytes(deadline, |bytes| {
        let frame = frame::decode(bytes)?;
        match (frame.kind, frame.id) {
            (Kind::Reply, 0) => Ok(None),
            (Kind::Error, 0) => Ok(Some(String::from_utf8_lossy(frame.body).into_owned())),
            (kind, id) => Err(Error::new(
                ErrorKind::Protocol,
                format!("the server answered attach with {kind:?} {id}: not an ipcx call server"),
            )),
        }
    });
    if let Some(why) = answer.map_err(|f| control_error(f, "answer to attach", ep))? {
        return Err(Error::new(
            ErrorKind::Io,
            format!("the server of {ep} could not attach this client's rings: {why}"),
        ));
    }
    let mut open = OpenOptions::new();
    if let Some(left) = deadline.left() {
        open.timeout(left);
    }
    let requests = Sender::<Bytes>::open_with(ring_endpoint(ep, &request_ring), &open)?;
    to_server
        .send_bytes(frame::encode(Kind::Attach, 0, &[]))
        .map_err(hung_up)?;
    Ok((requests, replies))
}

/// The server side: takes a client's `attach` on its control connection
/// (until `deadline`), opens the rings it names, and returns the ends the
/// server receives requests and sends replies on. A client that names
/// rings not of this server, or never says it attached, is refused.
pub(crate) fn accept(
    control: Duplex<Bytes, Bytes>,
    ep: &Endpoint,
    deadline: Deadline<'_>,
) -> Result<Rings, Error> {
    let (to_client, from_client) = control.split();
    let prefix = ring_prefix(ep);
    let names = from_client
        .with_bytes(deadline, |bytes| {
            let frame = frame::decode(bytes)?;
            if (frame.kind, frame.id) != (Kind::Attach, 0) {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "a client of {ep} sent {:?} before attaching its rings",
                        frame.kind
                    ),
                ));
            }
            Ok(frame.body.to_vec())
        })
        .map_err(|f| control_error(f, "attach", ep))?;
    let opened = ring_pair(&names, &prefix).and_then(|(request_ring, reply_ring)| {
        let requests = Receiver::<Bytes>::open(ring_endpoint(ep, request_ring))?;
        let replies = Sender::<Bytes>::open(ring_endpoint(ep, reply_ring))?;
        Ok((replies, requests))
    });
    let answer = match &opened {
        Ok(_) => frame::encode(Kind::Reply, 0, &[]),
        Err(e) => frame::encode(Kind::Error, 0, e.to_string().as_bytes()),
    };
    let told = to_client.send_bytes(answer);
    let rings = opened?;
    told.map_err(|_| Error::new(ErrorKind::NoPeer, "the client hung up while attaching"))?;
    from_client
        .with_bytes(deadline, |bytes| {
            let frame = frame::decode(bytes)?;
            if (frame.kind, frame.id, frame.body.len()) == (Kind::Attach, 0, 0) {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::Protocol,
                    format!("a client of {ep} sent {:?} instead of attached", frame.kind),
                ))
            }
        })
        .map_err(|f| control_error(f, "attached", ep))?;
    Ok(rings)
}

/// The request and reply ring names in an `attach` body, each checked to
/// be one of this server's (`prefix`), so a client cannot make the server
/// open another program's segment.
fn ring_pair<'a>(body: &'a [u8], prefix: &str) -> Result<(&'a str, &'a str), Error> {
    let bad = |why: &str| Error::new(ErrorKind::Protocol, format!("bad attach: {why}"));
    let text = std::str::from_utf8(body).map_err(|_| bad("ring names are not UTF-8"))?;
    let (request, reply) = text
        .split_once('\0')
        .ok_or_else(|| bad("no NUL between the ring names"))?;
    for (name, suffix) in [(request, ".req"), (reply, ".rep")] {
        let own = name.starts_with(prefix)
            && name.ends_with(suffix)
            && name.len() > prefix.len() + suffix.len()
            && !name[1..].contains('/')
            && name.len() <= 255;
        if !own {
            return Err(bad(&format!(
                "{name:?} is not a ring name of this server ({prefix}…{suffix})"
            )));
        }
    }
    Ok((request, reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_names_only_this_servers_rings() {
        let p = "/jobs.call.";
        assert_eq!(
            ring_pair(b"/jobs.call.1.2.req\0/jobs.call.1.2.rep", p).unwrap(),
            ("/jobs.call.1.2.req", "/jobs.call.1.2.rep")
        );
        for bad in [
            &b"/jobs.call.1.2.req"[..],
            b"/other.req\0/jobs.call.1.2.rep",
            b"/jobs.call.1.2.req\0/jobs.call.1/../x.rep",
            b"/jobs.call.1.2.rep\0/jobs.call.1.2.req",
            b"/jobs.call..req\0/jobs.call.1.2.rep",
            b"\xff\0/jobs.call.1.2.rep",
        ] {
            assert_eq!(ring_pair(bad, p).unwrap_err().kind(), ErrorKind::Protocol);
        }
    }

    #[test]
    fn rings_take_the_servers_options_and_a_smaller_capacity() {
        let ep: Endpoint = "shm:/jobs?wait=spin&mode=0640".parse().unwrap();
        let ring = ring_endpoint(&ep, "/jobs.call.1.1.req");
        assert_eq!(ring.options().capacity, Some(CALL_RING_CAPACITY));
        assert_eq!(ring.options().mode, 0o640);
        assert_eq!(ring.options().wait, ep.options().wait);
        assert_eq!(
            control_endpoint(&ep).to_string(),
            "unix:@ipcx-call/jobs",
            "the control socket"
        );
    }
}
