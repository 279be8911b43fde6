//! Plain-old-data messages: [`Pod<T>`] channels move a `#[repr(C)]` value
//! as its bytes, with no encoding. On `shm:` a sender writes it straight
//! into the ring (a loan) and a receiver reads it where it lies: zero
//! copies. `T: bytemuck::Pod` (no padding, no pointers, every bit pattern
//! valid) makes reading bytes another process wrote sound; the size and
//! alignment are checked on every message, and the type at open.

use std::marker::PhantomData;
use std::time::Duration;

use super::{Bytes, Receiver, Sender};
use crate::codec::{Identity, Message};
use crate::error::{Error, ErrorKind, RecvError, RecvTimeoutError, SendError, SendTimeoutError};
use crate::sys::Deadline;

/// Marks a channel of plain-old-data values of `T`:
/// `Sender<Pod<T>>` / `Receiver<Pod<T>>`.
///
/// ```
/// #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
/// #[repr(C)]
/// struct Tick { seq: u64, price: f64 }
///
/// let ep = format!("shm:/ipcx-doc-pod-{}", std::process::id());
/// let rx = ipcx::Receiver::<ipcx::Pod<Tick>>::open(&ep)?;
/// let tx = ipcx::Sender::<ipcx::Pod<Tick>>::open(&ep)?;
/// tx.send_with(|t: &mut Tick| { t.seq = 1; t.price = 9.5 })?; // written in place
/// let price = rx.recv_pod_with(None, |t: &Tick| t.price)?;    // read in place
/// assert_eq!(price, 9.5);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Pod<T>(PhantomData<T>);

/// Known by name (`Pod<Tick>`): the shape of plain data is its size and
/// alignment, which every message is checked against.
impl<T: bytemuck::Pod> Message for Pod<T> {
    fn identity() -> Identity {
        Identity::name_of::<Pod<T>>()
    }
}

impl<T: bytemuck::Pod> Sender<Pod<T>> {
    /// Sends a copy of `value`'s bytes.
    pub fn send_pod(&self, value: &T) -> Result<(), SendError<()>> {
        self.send_raw_until(bytemuck::bytes_of(value), Deadline::NEVER)
            .map_err(|f| SendError::from_fail(f, ()))
    }

    /// Lends a zeroed `T` in the channel's own memory for `fill` to write,
    /// then sends it: no copy on `shm:` (elsewhere it is built in a buffer).
    pub fn send_with(&self, fill: impl FnOnce(&mut T)) -> Result<(), SendError<()>> {
        let size = std::mem::size_of::<T>();
        self.send_in_place(size, Deadline::NEVER, |buf| {
            buf.fill(0);
            match bytemuck::try_from_bytes_mut::<T>(buf) {
                Ok(value) => fill(value),
                // Not aligned for T here: build it aside and copy it in.
                Err(_) => {
                    let mut value = T::zeroed();
                    fill(&mut value);
                    buf.copy_from_slice(bytemuck::bytes_of(&value));
                }
            }
            size
        })
        .map(|_| ())
        .map_err(|f| SendError::from_fail(f, ()))
    }
}

impl Sender<Bytes> {
    /// Lends `len` bytes of the channel's own memory for `fill` to write a
    /// message into; `fill` returns how many it wrote (at most `len`), and
    /// those are sent. No copy on `shm:` rings (a loan); elsewhere the
    /// bytes are built in a reused buffer. Blocks while the channel is full.
    ///
    /// Returns the number of bytes sent.
    pub fn send_with(
        &self,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, SendError<()>> {
        self.send_in_place(len, Deadline::NEVER, fill)
            .map_err(|f| SendError::from_fail(f, ()))
    }

    /// [`Sender::send_with`], waiting at most `timeout` for room (`None`:
    /// as long as it takes). `fill` runs only once there is room; on a
    /// timeout it has not run.
    pub fn send_with_timeout(
        &self,
        len: usize,
        timeout: Option<Duration>,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<usize, SendTimeoutError<()>> {
        self.send_in_place(len, Deadline::after(timeout), fill)
            .map_err(|f| SendTimeoutError::from_fail(f, ()))
    }
}

impl<T: bytemuck::Pod> Receiver<Pod<T>> {
    /// Receives a value (a copy), blocking while the channel is empty.
    pub fn recv_pod(&self) -> Result<T, RecvError> {
        self.with_bytes(Deadline::NEVER, |b| view::<T, T>(b, |v| *v))
            .map_err(RecvError::from)
    }

    /// Receives a value and lends it to `f` where it lies (in the ring on
    /// `shm:`): no copy. `timeout: None` waits as long as it takes.
    pub fn recv_pod_with<R>(
        &self,
        timeout: Option<Duration>,
        f: impl FnOnce(&T) -> R,
    ) -> Result<R, RecvTimeoutError> {
        self.with_bytes(Deadline::after(timeout), |b| view::<T, R>(b, f))
            .map_err(RecvTimeoutError::from)
    }
}

/// `bytes` as a `&T`, checked: the length must be `T`'s size; a misaligned
/// message (possible on byte streams) is copied into an aligned `T` first.
fn view<T: bytemuck::Pod, R>(bytes: &[u8], f: impl FnOnce(&T) -> R) -> Result<R, Error> {
    if bytes.len() != std::mem::size_of::<T>() {
        return Err(Error::new(
            ErrorKind::Decode,
            format!(
                "a {}-byte message is not a `{}` ({} bytes)",
                bytes.len(),
                std::any::type_name::<T>(),
                std::mem::size_of::<T>()
            ),
        ));
    }
    Ok(match bytemuck::try_from_bytes::<T>(bytes) {
        Ok(value) => f(value),
        Err(_) => f(&bytemuck::pod_read_unaligned::<T>(bytes)),
    })
}
