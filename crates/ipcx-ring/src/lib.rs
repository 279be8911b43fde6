//! A lock-free byte ring of variable-length records over a memory region:
//! one producer, one or many consumers (broadcast), no syscalls and no
//! locks, so that [loom](https://docs.rs/loom) and miri can check it.
//!
//! The region can be process-shared memory (`ipcx`'s `shm:` transport maps
//! it) or the heap ([`Ring::on_heap`]). Each record is an 8-byte header
//! (its commit marker, stored last) and the payload; see [`layout`] for
//! where everything lives. Nothing read from the region is trusted:
//! positions are masked into the ring and every length is checked, so a
//! corrupt or hostile peer makes reads fail with [`ReadError::Corrupt`],
//! never read out of bounds.
//!
//! Waiting is left to the caller: both sides announce that they will sleep
//! (`begin_wait`) and get told when the other side must wake them (the
//! `bool`s returned by `commit`, `release`, ...), so a futex wake is only
//! issued for a sleeper — none while both sides are busy.
//!
//! ```
//! use ipcx_ring::{Consumer, Geometry, Overflow, Producer, Ring};
//!
//! let ring = Ring::on_heap(Geometry { capacity: 1024, readers: 2, overflow: Overflow::Block })?;
//! let mut a = Consumer::attach(&ring)?;
//! let mut b = Consumer::attach(&ring)?;
//! let mut tx = Producer::new(&ring)?;
//! tx.try_write(b"hello")?;
//! assert_eq!(a.try_read()?.unwrap().bytes, b"hello");
//! assert_eq!(b.try_read()?.unwrap().bytes, b"hello");
//! assert!(a.try_read()?.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_code)]

mod consumer;
mod data;
mod error;
pub mod layout;
mod primitive;
mod producer;
mod record;
mod ring;

pub use consumer::{Consumer, Message, NoFreeSlot};
pub use error::{Corruption, ReadError, WriteError};
pub use layout::{Geometry, GeometryError, Overflow, ProducerState, MAX_RECORD_LEN};
pub use primitive::Barrier;
pub use producer::{Producer, ProducerTaken, Reservation};
pub use ring::{Ring, Snapshot};
