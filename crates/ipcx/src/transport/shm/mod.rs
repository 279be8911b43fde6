//! `shm:/name`: a ring in POSIX shared memory (`/dev/shm/name`).
//!
//! The first receiver creates the segment (0600 or `mode=`, `O_EXCL`,
//! never through a symlink) with `capacity=` bytes of ring and room for
//! `readers=` receivers; later receivers attach (each gets every message);
//! a sender attaches to an existing segment (none yet: `NoPeer`, retried
//! until the open deadline). One sender at a time: a second one is refused
//! while the first lives, and takes over once it has closed or died.
//!
//! A segment whose every recorded process is dead is stale: the next
//! receiver removes and recreates it. One that is not a complete ipcx
//! segment is removed only if no process maps it. The last one out
//! removes the name unless `persist=true`.

use std::sync::Arc;
use std::time::Duration;

use ipcx_ring::{Consumer, Geometry, Producer};

use super::cleanup::RemoveOnDrop;
use super::{Ctx, Opened};
use crate::codec::Identity;
use crate::endpoint::Overflow;
use crate::error::{Error, ErrorKind};
use crate::link::shm::segment::{AttachError, Segment, Shape};
use crate::link::shm::{ShmReader, ShmWriter};
use crate::link::{Inbound, Outbound};
use crate::sys::process::{mappers_of, ProcessId};
use crate::sys::shm::shm_path;

/// Ring bytes when `capacity=` is not given.
pub(crate) const DEFAULT_CAPACITY: u64 = 1 << 20;
/// How long an opener waits for a creator to finish the header.
const READY_WAIT: Duration = Duration::from_millis(500);

pub(crate) fn receiver(ctx: &Ctx<'_>, name: &str) -> Result<Opened<Inbound>, Error> {
    let o = ctx.ep.options();
    let receives = ctx.hello.receives.clone().expect("a receiver receives");
    let shape = Shape {
        geometry: Geometry {
            capacity: o.capacity.unwrap_or(DEFAULT_CAPACITY) as usize,
            readers: o.readers.unwrap_or(1) as usize,
            overflow: ring_overflow(o.overflow),
        },
        receives: receives.clone(),
    };
    let segment = create_or_attach(name, &shape, o.mode, o.persist)?;
    check_shape(ctx, &segment, &receives)?;
    let consumer = Consumer::attach(&segment.ring).map_err(|e| {
        Error::new(
            ErrorKind::AddrInUse,
            format!(
                "{e} (the creator set readers={})",
                segment.ring.geometry().readers
            ),
        )
    })?;
    let segment = Arc::new(segment);
    let reader = ShmReader::new(
        consumer,
        Arc::clone(&segment),
        o.wait,
        o.max_msg as usize,
        ctx.label.clone(),
    );
    let mut opened = Opened::new(Inbound::Shm(reader), ctx.ep.clone());
    opened.cleanup = Some(RemoveOnDrop::ShmSegment {
        segment,
        persist: o.persist,
    });
    Ok(opened)
}

pub(crate) fn sender(ctx: &Ctx<'_>, name: &str) -> Result<Opened<Outbound>, Error> {
    let o = ctx.ep.options();
    let sends = ctx.hello.sends.clone().expect("a sender sends");
    let segment = match Segment::attach(name, READY_WAIT) {
        Ok(s) => s,
        Err(AttachError::Missing | AttachError::NotReady) => return Err(no_receiver(name)),
        Err(AttachError::Error(e)) => return Err(e),
    };
    let readers_alive = segment.ring.snapshot().readers.iter().any(|&(slot, _)| {
        let who = segment.header().reader[slot].get();
        who.pid == 0 || who.is_alive()
    });
    if !readers_alive {
        return Err(no_receiver(name));
    }
    if !segment.receives.accepts(&sends) && !sends.is_bytes() {
        return Err(type_mismatch(&segment.receives, &sends));
    }
    let producer = take_producer(&segment)?;
    let segment = Arc::new(segment);
    let writer = ShmWriter::new(
        producer,
        Arc::clone(&segment),
        o.wait,
        o.max_msg as usize,
        ctx.label.clone(),
    );
    let mut opened = Opened::new(Outbound::Shm(writer), ctx.ep.clone());
    opened.cleanup = Some(RemoveOnDrop::ShmSegment {
        segment,
        persist: o.persist,
    });
    Ok(opened)
}

fn ring_overflow(o: Overflow) -> ipcx_ring::Overflow {
    match o {
        Overflow::Block => ipcx_ring::Overflow::Block,
        Overflow::DropOldest => ipcx_ring::Overflow::DropOldest,
    }
}

fn no_receiver(name: &str) -> Error {
    Error::new(
        ErrorKind::NoPeer,
        format!("no receiver has created {} yet", shm_path(name)),
    )
}

fn type_mismatch(receives: &Identity, sends: &Identity) -> Error {
    Error::new(
        ErrorKind::TypeMismatch,
        format!(
            "the receivers take `{}`, this end sends `{}`{}",
            receives.name,
            sends.name,
            Identity::why_refused(receives, sends)
        ),
    )
}

/// Becomes the ring's producer: a fresh one, or taking over from one that
/// closed or died.
fn take_producer(segment: &Segment) -> Result<Producer, Error> {
    if let Ok(p) = Producer::new(&segment.ring) {
        return Ok(p);
    }
    let previous = segment.header().producer.get();
    if segment.ring.snapshot().producer_state == ipcx_ring::ProducerState::Open
        && previous.pid != 0
        && previous.is_alive()
    {
        return Err(Error::new(
            ErrorKind::AddrInUse,
            format!(
                "{} already has a sender (pid {}); a ring has one at a time",
                shm_path(&segment.name),
                previous.pid
            ),
        ));
    }
    Producer::take_over(&segment.ring).map_err(|e| Error::new(ErrorKind::AddrInUse, e.to_string()))
}

/// A second receiver must agree with the segment it joins.
fn check_shape(ctx: &Ctx<'_>, segment: &Segment, receives: &Identity) -> Result<(), Error> {
    let o = ctx.ep.options();
    let g = segment.ring.geometry();
    if segment.receives.fingerprint != receives.fingerprint
        && !segment.receives.is_bytes()
        && !receives.is_bytes()
    {
        return Err(Error::new(
            ErrorKind::TypeMismatch,
            format!(
                "the other receivers take `{}`, this one `{}`{}",
                segment.receives.name,
                receives.name,
                Identity::why_refused(&segment.receives, receives)
            ),
        ));
    }
    let differs = |what: &str, asked: String, found: String| {
        Err(Error::new(
            ErrorKind::AddrInUse,
            format!(
                "{} exists with {what}={found}, not {asked}",
                shm_path(&segment.name)
            ),
        ))
    };
    if let Some(c) = o.capacity.filter(|&c| c as usize != g.capacity) {
        return differs("capacity", c.to_string(), g.capacity.to_string());
    }
    if let Some(r) = o.readers.filter(|&r| r as usize != g.readers) {
        return differs("readers", r.to_string(), g.readers.to_string());
    }
    if ring_overflow(o.overflow) != g.overflow && o.overflow != Overflow::default() {
        return differs(
            "overflow",
            format!("{:?}", o.overflow),
            format!("{:?}", g.overflow),
        );
    }
    Ok(())
}

/// Creates the segment, or attaches to a live one, reclaiming what dead
/// processes left behind.
fn create_or_attach(name: &str, shape: &Shape, mode: u32, persist: bool) -> Result<Segment, Error> {
    let mut last = None;
    for _ in 0..5 {
        if let Some(created) = Segment::create(name, shape, mode)? {
            return Ok(created);
        }
        match Segment::attach(name, READY_WAIT) {
            Ok(existing) => {
                let stale = existing.live_parties().is_empty() && !persist;
                if !stale {
                    return Ok(existing);
                }
                existing.unlink(); // every process it records is dead
            }
            Err(AttachError::Missing) => {} // removed meanwhile: create again
            Err(AttachError::NotReady) => reclaim_if_unused(name, None)?,
            Err(AttachError::Error(e)) if e.kind() == ErrorKind::Protocol => {
                reclaim_if_unused(name, Some(&e))?;
                last = Some(e);
            }
            Err(AttachError::Error(e)) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        Error::new(
            ErrorKind::AddrInUse,
            format!("{} keeps changing under us", shm_path(name)),
        )
    }))
}

/// Removes an unusable segment, but only if no process maps it.
fn reclaim_if_unused(name: &str, why: Option<&Error>) -> Result<(), Error> {
    let path = shm_path(name);
    let me = ProcessId::me().pid;
    let users: Vec<u32> = mappers_of(&path).into_iter().filter(|&p| p != me).collect();
    if let Some(pid) = users.first() {
        let what = why.map_or("is not a complete ipcx segment".to_owned(), |e| {
            e.to_string()
        });
        return Err(Error::new(
            ErrorKind::AddrInUse,
            format!("{path} {what}, and process {pid} maps it: left alone"),
        ));
    }
    let _ = crate::sys::shm::unlink(name);
    Ok(())
}

/// Removes the segments named `prefix…` whose every recorded process is
/// dead (a call server's rings from clients of an earlier run, say: no
/// later open uses those names again, so nothing else would). Best
/// effort: a segment in use, or not an ipcx one that a process maps, stays.
pub(crate) fn reclaim_stale(prefix: &str) {
    let Ok(dir) = std::fs::read_dir("/dev/shm") else {
        return;
    };
    let bare = prefix.trim_start_matches('/');
    for entry in dir.flatten() {
        let Some(file) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !file.starts_with(bare) {
            continue;
        }
        let name = format!("/{file}");
        match Segment::attach(&name, Duration::from_millis(10)) {
            Ok(segment) if segment.live_parties().is_empty() => segment.unlink(),
            Ok(_) | Err(AttachError::Missing) => {}
            Err(_) => {
                let _ = reclaim_if_unused(&name, None);
            }
        }
    }
}
