//! Synchronisation between processes.
//!
//! * [`Semaphore`]: a POSIX named counting semaphore (`/name`).
//! * [`UndoSemaphore`]: a System V semaphore used with `SEM_UNDO`, so that
//!   a holder killed by SIGKILL gives its unit back (the kernel undoes it).
//!
//! Both hand out a [`SemaphoreGuard`] that releases its unit when dropped.

mod semaphore;

pub use semaphore::{Semaphore, SemaphoreGuard, UndoSemaphore};
