//! A robust mutex with a condition variable, shared between processes
//! through POSIX shared memory.

#![allow(unsafe_code)] // The guard hands out references into shared memory; each block says why it is sound.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::codec::Identity;
use crate::error::{Error, ErrorKind};
use crate::sys::pthread::{self, Locked};
use crate::sys::shm::{self, Region};

const MAGIC: u64 = u64::from_le_bytes(*b"IPCXMTX1");
const VERSION: u32 = 1;
const READY: u32 = 1;

/// The start of the shared region. The value follows at `data_offset::<T>()`.
#[repr(C)]
struct Header {
    magic: u64,
    version: u32,
    /// 0 while the creator initialises, then READY (release/acquire).
    ready: AtomicU32,
    size: u64,
    align: u64,
    fingerprint: u64,
    mutex: libc::pthread_mutex_t,
    cond: libc::pthread_cond_t,
}

// The layout other processes rely on (checked at compile time).
const _: () = {
    assert!(std::mem::offset_of!(Header, magic) == 0);
    assert!(std::mem::offset_of!(Header, version) == 8);
    assert!(std::mem::offset_of!(Header, ready) == 12);
    assert!(std::mem::offset_of!(Header, size) == 16);
    assert!(std::mem::offset_of!(Header, fingerprint) == 32);
    assert!(std::mem::offset_of!(Header, mutex) == 40);
};

fn data_offset<T>() -> usize {
    std::mem::size_of::<Header>().next_multiple_of(std::mem::align_of::<T>())
}

/// A value of `T` shared between processes, behind a robust process-shared
/// mutex, with a condition variable.
///
/// `T` must be [`Pod`]: no pointers, every bit pattern valid. That is what
/// makes a value another process wrote (or half-wrote before dying) safe
/// to read. The creator makes the region (`/name`, mode 0600) and removes
/// the name when dropped; others [`open`](Mutex::open) it, and the type is
/// checked (size, alignment, type name).
///
/// **Robust**: if a process dies holding the lock, the next `lock` does not
/// hang: it returns [`LockError::OwnerDied`] with the guard, the data as the
/// dead owner left it, to check or repair.
///
/// ```
/// use ipcx::sync::Mutex;
/// let name = format!("/ipcx-doc-mutex-{}", std::process::id());
/// let counter = Mutex::create(&name, 0u64)?;
/// *counter.lock().map_err(|e| e.into_error())? += 1;
/// assert_eq!(*counter.lock().map_err(|e| e.into_error())?, 1);
/// # Ok::<(), ipcx::Error>(())
/// ```
pub struct Mutex<T: Pod> {
    region: Region,
    name: String,
    creator: bool,
    _type: PhantomData<T>,
}

// SAFETY: all access to the value goes through the process-shared mutex,
// which also excludes other threads; T: Pod is Send + Sync plain data.
unsafe impl<T: Pod> Send for Mutex<T> {}
// SAFETY: as above.
unsafe impl<T: Pod> Sync for Mutex<T> {}

/// Why [`Mutex::lock`] did not simply succeed.
pub enum LockError<'a, T: Pod> {
    /// The previous owner died holding the lock. The lock is yours and
    /// usable again; the data is as that process left it.
    OwnerDied(MutexGuard<'a, T>),
    /// The lock could not be taken.
    Failed(Error),
}

impl<'a, T: Pod> LockError<'a, T> {
    /// The guard, whether or not the previous owner died (`Err` for a real failure).
    pub fn recover(self) -> Result<MutexGuard<'a, T>, Error> {
        match self {
            LockError::OwnerDied(g) => Ok(g),
            LockError::Failed(e) => Err(e),
        }
    }

    /// This as an [`Error`] (an owner's death becomes a `Protocol` error).
    pub fn into_error(self) -> Error {
        match self {
            LockError::OwnerDied(g) => Error::new(
                ErrorKind::Protocol,
                format!("the previous owner of {} died holding it", g.mutex.name),
            ),
            LockError::Failed(e) => e,
        }
    }
}

impl<T: Pod> fmt::Debug for LockError<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::OwnerDied(_) => f.write_str("LockError::OwnerDied(..)"),
            LockError::Failed(e) => write!(f, "LockError::Failed({e:?})"),
        }
    }
}

impl<T: Pod> Mutex<T> {
    /// Creates the shared value `name` (`/something`), initialised to `value`.
    pub fn create(name: &str, value: T) -> Result<Self, Error> {
        let len = data_offset::<T>() + std::mem::size_of::<T>();
        let region = Region::create(name, len, 0o600).map_err(|e| open_error(name, e))?;
        let tag = Identity::name_of::<T>();
        let h = region.as_ptr().cast::<Header>();
        // SAFETY: the region is fresh (O_EXCL), zeroed, at least `len` bytes,
        // and page-aligned, so the header and the value at data_offset are in
        // bounds and aligned. Nobody else trusts it before `ready` is set.
        unsafe {
            (*h).magic = MAGIC;
            (*h).version = VERSION;
            (*h).size = std::mem::size_of::<T>() as u64;
            (*h).align = std::mem::align_of::<T>() as u64;
            (*h).fingerprint = tag.fingerprint;
            pthread::init(&raw mut (*h).mutex, &raw mut (*h).cond)
                .map_err(|e| Error::io("cannot set up the mutex", e))?;
            region
                .as_ptr()
                .add(data_offset::<T>())
                .cast::<T>()
                .write(value);
            (*h).ready.store(READY, Ordering::Release);
        }
        Ok(Mutex {
            region,
            name: name.to_owned(),
            creator: true,
            _type: PhantomData,
        })
    }

    /// Opens the shared value `name`, checking that it holds a `T`.
    pub fn open(name: &str) -> Result<Self, Error> {
        let region = Region::open(name).map_err(|e| open_error(name, e))?;
        if region.len() < std::mem::size_of::<Header>() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("{name} is too small to be an ipcx mutex"),
            ));
        }
        let h = region.as_ptr().cast::<Header>();
        // SAFETY: the mapping holds at least a Header (checked above), is
        // page-aligned, and `ready` is an atomic shared with other processes.
        let ready = |h: *const Header| unsafe { (*h).ready.load(Ordering::Acquire) == READY };
        let deadline = Instant::now() + Duration::from_secs(1);
        while !ready(h) {
            if Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    format!(
                        "{name} was never finished by its creator (not an ipcx mutex, or it died)"
                    ),
                ));
            }
            std::thread::yield_now();
        }
        // SAFETY: as above; the fields were written before `ready` (release).
        let (magic, version, size, align, fingerprint) = unsafe {
            (
                (*h).magic,
                (*h).version,
                (*h).size,
                (*h).align,
                (*h).fingerprint,
            )
        };
        let tag = Identity::name_of::<T>();
        if magic != MAGIC || version != VERSION {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("{name} is not an ipcx mutex of layout version {VERSION}"),
            ));
        }
        if size != std::mem::size_of::<T>() as u64
            || align != std::mem::align_of::<T>() as u64
            || fingerprint != tag.fingerprint
        {
            return Err(Error::new(
                ErrorKind::TypeMismatch,
                format!(
                    "{name} holds a different type (size {size}, align {align}) than `{}`",
                    tag.name
                ),
            ));
        }
        if region.len() < data_offset::<T>() + std::mem::size_of::<T>() {
            return Err(Error::new(
                ErrorKind::Protocol,
                format!("{name} is shorter than its header says"),
            ));
        }
        Ok(Mutex {
            region,
            name: name.to_owned(),
            creator: false,
            _type: PhantomData,
        })
    }

    fn header(&self) -> *mut Header {
        self.region.as_ptr().cast()
    }

    fn lock_with(&self, wait: bool) -> Result<Option<MutexGuard<'_, T>>, LockError<'_, T>> {
        // SAFETY: the header was checked at open/create and stays mapped.
        let m = unsafe { &raw mut (*self.header()).mutex };
        // SAFETY: `m` is an initialised robust mutex in mapped memory.
        match unsafe { pthread::lock(m, wait) } {
            Ok(None) => Ok(None),
            Ok(Some(Locked::Normally)) => Ok(Some(MutexGuard { mutex: self })),
            Ok(Some(Locked::OwnerDied)) => Err(LockError::OwnerDied(MutexGuard { mutex: self })),
            Err(e) => Err(LockError::Failed(Error::io(
                format!("cannot lock {}", self.name),
                e,
            ))),
        }
    }

    /// Takes the lock, waiting as long as it takes.
    pub fn lock(&self) -> Result<MutexGuard<'_, T>, LockError<'_, T>> {
        self.lock_with(true)
            .map(|g| g.expect("a blocking lock always returns a guard"))
    }

    /// Takes the lock if it is free now.
    pub fn try_lock(&self) -> Result<Option<MutexGuard<'_, T>>, LockError<'_, T>> {
        self.lock_with(false)
    }

    /// Wakes one process waiting in [`MutexGuard::wait`].
    pub fn notify_one(&self) {
        // SAFETY: the condvar was initialised at create and stays mapped.
        unsafe { pthread::notify(&raw mut (*self.header()).cond, false) }
    }

    /// Wakes every process waiting in [`MutexGuard::wait`].
    pub fn notify_all(&self) {
        // SAFETY: as in notify_one.
        unsafe { pthread::notify(&raw mut (*self.header()).cond, true) }
    }
}

impl<T: Pod> Drop for Mutex<T> {
    fn drop(&mut self) {
        if self.creator {
            let _ = shm::unlink(&self.name);
        }
    }
}

impl<T: Pod> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The lock on a [`Mutex`], giving access to the value; unlocks on drop.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: Pod> {
    mutex: &'a Mutex<T>,
}

impl<T: Pod> MutexGuard<'_, T> {
    /// Releases the lock and waits for a notification (or a spurious
    /// wake-up: check your condition in a loop), then takes the lock again.
    /// `Ok(true)` if it was taken over from an owner that died meanwhile.
    pub fn wait(&mut self) -> Result<bool, Error> {
        self.wait_inner(None).map(|r| r == Some(Locked::OwnerDied))
    }

    /// Like [`wait`](MutexGuard::wait), for at most `timeout`; `Ok(false)`
    /// when it timed out (the lock is held again either way).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Result<bool, Error> {
        self.wait_inner(Some(timeout)).map(|r| r.is_some())
    }

    fn wait_inner(&mut self, timeout: Option<Duration>) -> Result<Option<Locked>, Error> {
        let h = self.mutex.header();
        // SAFETY: this guard holds the mutex; both objects are initialised and mapped.
        unsafe { pthread::wait(&raw mut (*h).mutex, &raw mut (*h).cond, timeout) }
            .map_err(|e| Error::io(format!("cannot wait on {}", self.mutex.name), e))
    }
}

impl<T: Pod> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the lock, so no other process or thread
        // touches the value; it is in bounds and aligned (checked at open),
        // and any bit pattern is a valid T (Pod).
        unsafe {
            &*self
                .mutex
                .region
                .as_ptr()
                .add(data_offset::<T>())
                .cast::<T>()
        }
    }
}

impl<T: Pod> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in deref; the guard is borrowed mutably, so this is the
        // only reference while it lives.
        unsafe {
            &mut *self
                .mutex
                .region
                .as_ptr()
                .add(data_offset::<T>())
                .cast::<T>()
        }
    }
}

impl<T: Pod> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the mutex.
        unsafe { pthread::unlock(&raw mut (*self.mutex.header()).mutex) }
    }
}

impl<T: Pod + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("MutexGuard").field(&**self).finish()
    }
}

fn open_error(name: &str, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EEXIST) => Error::new(ErrorKind::AddrInUse, format!("{name} exists already")),
        Some(libc::ENOENT) => Error::new(
            ErrorKind::NoPeer,
            format!("no shared mutex {name} (create it first)"),
        ),
        _ => Error::io(format!("cannot open {name}"), e),
    }
}
