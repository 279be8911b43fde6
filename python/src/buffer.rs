//! Memory lent to Python through the buffer protocol, without a copy:
//! [`Frame`], a received message where it lies (in the ring on `shm:`),
//! and [`Loan`], room in the channel a `send_with` fill writes into.
//! `memoryview(frame)` and `numpy.frombuffer(view)` read it in place.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;

use crate::receiver::Receiver;

/// Fills `view` for `len` bytes at `addr`, owned by `owner`.
///
/// # Safety
/// `view` is the pointer Python passed to `__getbuffer__`; `addr..addr+len`
/// stays mapped while `owner` lives (the exporter keeps it so).
unsafe fn fill(
    view: *mut ffi::Py_buffer,
    owner: &Bound<'_, PyAny>,
    addr: usize,
    len: usize,
    readonly: bool,
    flags: c_int,
) -> PyResult<()> {
    let len = isize::try_from(len).map_err(|_| PyBufferError::new_err("too large"))?;
    // SAFETY: as the caller promises; PyBuffer_FillInfo takes a new
    // reference to `owner` in `view.obj`, which keeps the memory alive for
    // as long as the view.
    let done = unsafe {
        ffi::PyBuffer_FillInfo(
            view,
            owner.as_ptr(),
            addr as *mut c_void,
            len,
            c_int::from(readonly),
            flags,
        )
    };
    if done == 0 {
        Ok(())
    } else {
        Err(PyErr::fetch(owner.py()))
    }
}

/// One received message, lent in place: `memoryview(frame)` (what
/// `Receiver.recv_view` returns) reads it without a copy. On `shm:` the
/// bytes are the ring's and stay unchanged until the receiver's next
/// receive, or until every view of this frame is released, which gives the
/// room back to the sender at once.
#[pyclass(module = "ipcx", frozen)]
pub(crate) struct Frame {
    message: ipcx::InPlace,
    receiver: Py<Receiver>,
    /// Which receive of `receiver` this was (see `Receiver::receives`).
    receive: u64,
    views: AtomicUsize,
}

impl Frame {
    pub(crate) fn new(message: ipcx::InPlace, receiver: Py<Receiver>, receive: u64) -> Frame {
        Frame {
            message,
            receiver,
            receive,
            views: AtomicUsize::new(0),
        }
    }
}

#[pymethods]
impl Frame {
    /// True when the bytes are the ring's own (no copy was made): on
    /// `shm:` rings (but `overflow=drop-oldest`, which copies).
    #[getter]
    fn in_place(&self) -> bool {
        self.message.is_in_place()
    }

    fn __len__(&self) -> usize {
        self.message.len()
    }

    /// # Safety
    /// Called by Python with a view to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if flags & ffi::PyBUF_WRITABLE != 0 {
            return Err(PyBufferError::new_err(
                "a received message is read-only (copy it to change it: bytearray(view))",
            ));
        }
        let frame = slf.get();
        let (addr, len) = (frame.message.as_ptr() as usize, frame.message.len());
        // SAFETY: the InPlace keeps the ring mapped (or owns the copy) for
        // as long as this frame lives, and the view holds the frame.
        unsafe { fill(view, slf.as_any(), addr, len, true, flags)? };
        frame.views.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// # Safety
    /// Called by Python when a view of this frame is released.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        if self.views.fetch_sub(1, Ordering::Relaxed) == 1 && self.message.is_in_place() {
            Python::attach(|py| self.receiver.get().release_if_last(py, self.receive));
        }
    }
}

/// The room `Sender.send_with` lends its `fill`: a writable
/// `memoryview` of the message's place in the channel (the ring's own
/// memory on `shm:`), valid only while `fill` runs.
#[pyclass(module = "ipcx", frozen)]
pub(crate) struct Loan {
    addr: usize,
    len: usize,
    open: AtomicBool,
    /// Views of the room not released yet.
    views: AtomicUsize,
    /// Keeps the ring mapped should a view outlive `fill` (a bug the send
    /// reports; a write through it then lands in the ring, not in freed
    /// memory).
    _sender: Arc<ipcx::ByteSender>,
}

impl Loan {
    pub(crate) fn new(buf: &mut [u8], sender: Arc<ipcx::ByteSender>) -> Loan {
        Loan {
            addr: buf.as_mut_ptr() as usize,
            len: buf.len(),
            open: AtomicBool::new(true),
            views: AtomicUsize::new(0),
            _sender: sender,
        }
    }

    /// After `fill` returned: no new views. False if a view is still
    /// held (a numpy array of the room kept past `fill`, say).
    pub(crate) fn close(&self) -> bool {
        self.open.store(false, Ordering::Relaxed);
        self.views.load(Ordering::Relaxed) == 0
    }
}

#[pymethods]
impl Loan {
    fn __len__(&self) -> usize {
        self.len
    }

    /// # Safety
    /// Called by Python with a view to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        let loan = slf.get();
        if !loan.open.load(Ordering::Relaxed) {
            return Err(PyBufferError::new_err(
                "this loan was sent: its room is the channel's again",
            ));
        }
        // SAFETY: the reservation is this fill's until it returns, and the
        // sender kept in the loan keeps the mapping alive after that.
        unsafe { fill(view, slf.as_any(), loan.addr, loan.len, false, flags)? };
        loan.views.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// # Safety
    /// Called by Python when a view is released.
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {
        self.views.fetch_sub(1, Ordering::Relaxed);
    }
}
