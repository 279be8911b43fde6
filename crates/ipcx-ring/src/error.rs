//! What can go wrong, for each side.

use std::fmt;

/// Why a write did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// No room now: the slowest reader has not released enough.
    Full,
    /// The message is larger than one record can be.
    TooLarge {
        /// The message's length.
        len: usize,
        /// The largest this ring carries.
        max: usize,
    },
    /// Readers were attached and all of them are gone.
    NoReaders,
    /// A reader's position read from shared memory makes no sense.
    Corrupt(Corruption),
}

/// Why a read did not return a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The producer closed and everything it committed has been read.
    Closed,
    /// What was read from shared memory is not something a producer writes.
    Corrupt(Corruption),
}

/// A value read from shared memory that breaks the protocol: a buggy or
/// hostile peer, or a stray write. Nothing out of bounds was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Corruption {
    /// What was wrong.
    pub what: &'static str,
    /// The absolute ring position where it was found.
    pub position: u64,
    /// The word read there.
    pub word: u64,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "corrupt ring: {} at position {} (word {:#018x})",
            self.what, self.position, self.word
        )
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Full => f.write_str("the ring is full"),
            WriteError::TooLarge { len, max } => write!(
                f,
                "a {len}-byte message does not fit: the ring carries at most {max} bytes per message"
            ),
            WriteError::NoReaders => f.write_str("every reader is gone"),
            WriteError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Closed => f.write_str("the producer closed the ring"),
            ReadError::Corrupt(c) => c.fmt(f),
        }
    }
}

impl std::error::Error for WriteError {}
impl std::error::Error for ReadError {}
