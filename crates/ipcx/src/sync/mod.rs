//! Synchronisation between processes.
//!
//! * [`Semaphore`]: a POSIX named counting semaphore (`/name`).
//! * [`UndoSemaphore`]: a System V semaphore used with `SEM_UNDO`, so that
//!   a holder killed by SIGKILL gives its unit back (the kernel undoes it).
//!
//! Both hand out a [`SemaphoreGuard`] that releases its unit when dropped.
//!
//! * [`Mutex`]: a value in shared memory behind a robust process-shared
//!   mutex, with a condition variable ([`MutexGuard::wait`],
//!   [`Mutex::notify_all`]). A holder that dies does not deadlock the others.

mod mutex;
mod semaphore;

pub use mutex::{LockError, Mutex, MutexGuard};
pub use semaphore::{Semaphore, SemaphoreGuard, UndoSemaphore};
