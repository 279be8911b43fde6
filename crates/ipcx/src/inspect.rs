//! Looking into ipcx objects from outside, for tools (`ipcx ls`, `ipcx
//! top`): what a shared-memory segment holds and who is attached, without
//! taking part in it.

use std::time::Duration;

pub use crate::sys::sysv::SysvKind;

use crate::error::{Error, ErrorKind};
use crate::link::shm::segment::{AttachError, Segment};

/// What a `shm:` segment's header and ring say (values written by other
/// processes: reported as found, used for nothing else).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShmSegment {
    /// Ring capacity in bytes.
    pub capacity: u64,
    /// Reader slots (broadcast width).
    pub readers: usize,
    /// `block` or `drop-oldest`.
    pub overflow: &'static str,
    /// The receivers' message type.
    pub message_type: String,
    /// The producer's pid while one is attached.
    pub producer: Option<u32>,
    /// Attached readers: pid and bytes not yet read by each.
    pub attached_readers: Vec<(u32, u64)>,
    /// Position after the last committed record (bytes ever written).
    pub written: u64,
    /// The producer has announced it sleeps, waiting for room.
    pub producer_sleeping: bool,
    /// How many readers announced they sleep, waiting for data.
    pub readers_sleeping: u32,
}

/// Describes the ipcx segment `name` (as in `shm:NAME`). An object that is
/// not an ipcx segment is an [`ErrorKind::Protocol`] error.
pub fn shm_segment(name: &str) -> Result<ShmSegment, Error> {
    let name = if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/{name}")
    };
    let segment = match Segment::attach(&name, Duration::ZERO) {
        Ok(s) => s,
        Err(AttachError::Missing) => {
            return Err(Error::new(ErrorKind::NoPeer, format!("no segment {name}")))
        }
        Err(AttachError::NotReady) => {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("{name} is not a complete ipcx segment"),
            ))
        }
        Err(AttachError::Error(e)) => return Err(e),
    };
    let geometry = segment.ring.geometry();
    let snapshot = segment.ring.snapshot();
    let header = segment.header();
    Ok(ShmSegment {
        capacity: geometry.capacity as u64,
        readers: geometry.readers,
        overflow: match geometry.overflow {
            ipcx_ring::Overflow::Block => "block",
            ipcx_ring::Overflow::DropOldest => "drop-oldest",
        },
        message_type: segment.receives.name.clone(),
        producer: (snapshot.producer_state == ipcx_ring::ProducerState::Open)
            .then(|| header.producer.get().pid)
            .filter(|p| *p != 0),
        attached_readers: snapshot
            .readers
            .iter()
            .map(|&(slot, head)| {
                (
                    header.reader[slot].get().pid,
                    snapshot.tail.saturating_sub(head),
                )
            })
            .collect(),
        written: snapshot.tail,
        producer_sleeping: snapshot.producer_sleeping,
        readers_sleeping: snapshot.readers_sleeping,
    })
}

/// What `IPC_STAT` says of a System V message queue, for tools.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SysvQueueStat {
    /// The queue's id (`msqid`).
    pub id: i32,
    /// Messages queued (`msg_qnum`).
    pub messages: u64,
    /// Bytes queued (`msg_cbytes`).
    pub bytes: u64,
    /// Bytes it holds at most (`msg_qbytes`): a `msgsnd` that does not fit waits.
    pub limit: u64,
    /// The last process to send (`msg_lspid`).
    pub last_sender: Option<u32>,
    /// The last process to receive (`msg_lrpid`).
    pub last_receiver: Option<u32>,
}

/// Looks at the System V queue with `key` (`msgget(key, 0)`, then
/// `IPC_STAT`: needs read permission on it). Takes no message.
pub fn sysv_queue(key: i32) -> std::io::Result<SysvQueueStat> {
    let (queue, _) = crate::sys::sysv::get(key, None)?;
    let stat = queue.stat()?;
    Ok(SysvQueueStat {
        id: queue.id,
        messages: stat.messages as u64,
        bytes: stat.bytes as u64,
        limit: stat.limit as u64,
        last_sender: (stat.last_sender != 0).then_some(stat.last_sender),
        last_receiver: (stat.last_receiver != 0).then_some(stat.last_receiver),
    })
}

/// Removes the POSIX message queue `name` (`/jobs`); open descriptors keep
/// working until closed. For tools (`ipcx rm`), which decide first whether
/// it is stale.
pub fn remove_posix_queue(name: &str) -> std::io::Result<()> {
    crate::sys::mqueue::unlink(name)
}

/// Removes the System V object `id` of `kind` (`IPC_RMID`): gone at once
/// for queues and semaphores, at the last detach for a segment.
pub fn remove_sysv(kind: SysvKind, id: i32) -> std::io::Result<()> {
    crate::sys::sysv::remove_object(kind, id)
}
