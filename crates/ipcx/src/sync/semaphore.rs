//! Counting semaphores shared between processes, with an RAII guard.

use std::fmt;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::sys::posix_sem::{self, NamedSem};
use crate::sys::sysv::{self, SysvSem};

/// What both kinds of semaphore do: P (with a wait rule) and V.
trait Counting {
    /// `Ok(false)`: no unit within the timeout (`Some(ZERO)`: right now).
    fn p(&self, timeout: Option<Duration>) -> std::io::Result<bool>;
    fn v(&self) -> std::io::Result<()>;
    fn count(&self) -> std::io::Result<u32>;
    fn name(&self) -> &str;
}

/// A unit of a semaphore, given back when dropped.
#[must_use = "the unit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    sem: &'a dyn Counting,
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // A failing V can only mean the semaphore was removed under us.
        let _ = self.sem.v();
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard")
            .field("semaphore", &self.sem.name())
            .finish()
    }
}

fn acquire<'a>(
    sem: &'a dyn Counting,
    timeout: Option<Duration>,
) -> Result<Option<SemaphoreGuard<'a>>, Error> {
    match sem.p(timeout) {
        Ok(true) => Ok(Some(SemaphoreGuard { sem })),
        Ok(false) => Ok(None),
        Err(e) => Err(Error::io(
            format!("semaphore {}: wait failed", sem.name()),
            e,
        )),
    }
}

/// The methods both semaphores offer, written once.
macro_rules! semaphore_methods {
    () => {
        /// Takes a unit, waiting as long as it takes (P).
        pub fn acquire(&self) -> Result<SemaphoreGuard<'_>, Error> {
            acquire(self, None).map(|g| g.expect("waiting forever always gets a unit"))
        }

        /// Takes a unit if one is free now.
        pub fn try_acquire(&self) -> Result<Option<SemaphoreGuard<'_>>, Error> {
            acquire(self, Some(Duration::ZERO))
        }

        /// Takes a unit, waiting at most `timeout`.
        pub fn acquire_timeout(
            &self,
            timeout: Duration,
        ) -> Result<Option<SemaphoreGuard<'_>>, Error> {
            acquire(self, Some(timeout.max(Duration::from_nanos(1))))
        }

        /// Units free now.
        pub fn value(&self) -> Result<u32, Error> {
            self.count()
                .map_err(|e| Error::io(format!("semaphore {}", self.name()), e))
        }

        /// Gives a unit back without a guard (V), e.g. one taken by another process.
        pub fn release(&self) -> Result<(), Error> {
            self.v()
                .map_err(|e| Error::io(format!("semaphore {}: release failed", self.name()), e))
        }
    };
}

/// A POSIX named counting semaphore, shared by name between processes.
///
/// The creator makes it with mode 0600 and removes the name when dropped;
/// other processes [`open`](Semaphore::open) it.
///
/// ```
/// let name = format!("/ipcx-doc-sem-{}", std::process::id());
/// let sem = ipcx::sync::Semaphore::create(&name, 2)?;
/// let a = sem.acquire()?;
/// let _b = sem.acquire()?;
/// assert!(sem.try_acquire()?.is_none()); // both units taken
/// drop(a);
/// assert!(sem.try_acquire()?.is_some());
/// # Ok::<(), ipcx::Error>(())
/// ```
pub struct Semaphore {
    sem: NamedSem,
    name: String,
    creator: bool,
}

impl Semaphore {
    /// Creates semaphore `name` (`/something`) holding `value` units; fails
    /// with [`ErrorKind::AddrInUse`] if it exists.
    pub fn create(name: &str, value: u32) -> Result<Semaphore, Error> {
        check_name(name)?;
        let sem = posix_sem::open(name, Some((0o600, value))).map_err(|e| open_error(name, e))?;
        Ok(Semaphore {
            sem,
            name: name.to_owned(),
            creator: true,
        })
    }

    /// Opens an existing semaphore `name`.
    pub fn open(name: &str) -> Result<Semaphore, Error> {
        check_name(name)?;
        let sem = posix_sem::open(name, None).map_err(|e| open_error(name, e))?;
        Ok(Semaphore {
            sem,
            name: name.to_owned(),
            creator: false,
        })
    }

    semaphore_methods!();
}

impl Counting for Semaphore {
    fn p(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        self.sem.wait(timeout)
    }
    fn v(&self) -> std::io::Result<()> {
        self.sem.post()
    }
    fn count(&self) -> std::io::Result<u32> {
        self.sem.value()
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Semaphore {
    fn drop(&mut self) {
        if self.creator {
            let _ = posix_sem::unlink(&self.name);
        }
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A System V semaphore whose units come back when their holder dies.
///
/// Every acquire and release uses `SEM_UNDO`: if a process is killed while
/// holding units (even by SIGKILL), the kernel gives them back. The creator
/// makes it with mode 0600 and removes it when dropped (System V objects
/// otherwise outlive every process).
pub struct UndoSemaphore {
    sem: SysvSem,
    name: String,
    creator: bool,
}

impl UndoSemaphore {
    /// Creates the semaphore with IPC key `key` holding `value` units.
    pub fn create(key: u32, value: u32) -> Result<UndoSemaphore, Error> {
        let sem = sysv::sem_get(key as i32, Some((0o600, value)))
            .map_err(|e| open_error(&format!("{key:#x}"), e))?;
        Ok(UndoSemaphore {
            sem,
            name: format!("{key:#x}"),
            creator: true,
        })
    }

    /// Opens the existing semaphore with IPC key `key`.
    pub fn open(key: u32) -> Result<UndoSemaphore, Error> {
        let sem =
            sysv::sem_get(key as i32, None).map_err(|e| open_error(&format!("{key:#x}"), e))?;
        Ok(UndoSemaphore {
            sem,
            name: format!("{key:#x}"),
            creator: false,
        })
    }

    semaphore_methods!();
}

impl Counting for UndoSemaphore {
    fn p(&self, timeout: Option<Duration>) -> std::io::Result<bool> {
        self.sem.op(-1, timeout)
    }
    fn v(&self) -> std::io::Result<()> {
        self.sem.op(1, None).map(|_| ())
    }
    fn count(&self) -> std::io::Result<u32> {
        self.sem.value()
    }
    fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for UndoSemaphore {
    fn drop(&mut self) {
        if self.creator {
            let _ = self.sem.remove();
        }
    }
}

impl fmt::Debug for UndoSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UndoSemaphore")
            .field("key", &self.name)
            .finish_non_exhaustive()
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    let ok = name.len() > 1
        && name.len() < 250
        && name.starts_with('/')
        && !name[1..].contains(['/', '\0']);
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidEndpoint,
            format!("semaphore name `{name}` must be `/` then 1 to 248 bytes without `/`"),
        ))
    }
}

fn open_error(name: &str, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EEXIST) => Error::new(
            ErrorKind::AddrInUse,
            format!("semaphore {name} exists already"),
        ),
        Some(libc::ENOENT) => Error::new(
            ErrorKind::NoPeer,
            format!("no semaphore {name} (create it first)"),
        ),
        _ => Error::io(format!("cannot open semaphore {name}"), e),
    }
}
