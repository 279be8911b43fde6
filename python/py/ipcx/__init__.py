"""ipcx from Python: the same endpoints, wire and errors as the Rust API.

>>> import ipcx, tempfile
>>> where = tempfile.mkdtemp()
>>> rx = ipcx.Receiver(f"unix:{where}/app.sock")
>>> with ipcx.Sender(f"unix:{where}/app.sock") as tx:
...     tx.send(b"hello")
>>> rx.recv(timeout=5)
b'hello'

Typed messages: a dataclass declares the same identity as the Rust struct
of that shape, so a Python sender and a Rust ``Receiver<Job>`` agree
(field types as in ``ipcx._schema``: ``ipcx.u64``, ``list[str]`` ...):

>>> from dataclasses import dataclass
>>> @dataclass
... class Job:
...     id: ipcx.u64
...     tags: list[str]
>>> jobs = ipcx.Receiver(f"unix:{where}/jobs.sock", Job)
>>> jobs.identity
'Job\\nJob\\nstruct Job{id:u64,tags:seq<str>}'
>>> with ipcx.Sender(f"unix:{where}/jobs.sock", Job) as tx:
...     tx.send(Job(id=7, tags=["urgent"]))
>>> jobs.recv(timeout=5)
Job(id=7, tags=['urgent'])
>>> rx.close(); jobs.close()

On ``shm:`` rings, ``recv_view`` and ``send_with`` lend the ring's own
memory (no copy); ``await rx.recv_async()`` and ``async for`` receive in
an asyncio loop. Every call that waits releases the GIL and can be
interrupted (Ctrl-C). Exceptions: ``ipcx.Error`` and one subclass per kind
(``Disconnected``, ``NoPeer``, ``TypeMismatch``, ``InvalidEndpoint`` ...);
timeouts raise ``TimeoutError``.
"""

from . import _aio
from ._ipcx import (  # noqa: F401
    AddrInUse,
    Disconnected,
    Error,
    Frame,
    InvalidEndpoint,
    IoError,
    Loan,
    NoPeer,
    PermissionDenied,
    ProtocolError,
    Sender,
    Stopped,
    TooLarge,
    TypeMismatch,
    Unsupported,
    __version__,
    decode,
    encode,
    identity,
)
from ._ipcx import Receiver as _Receiver
from ._schema import char, f32, i8, i16, i32, i64, i128, u8, u16, u32, u64, u128  # noqa: F401


class Receiver(_Receiver):
    """Receives messages at ``endpoint``; see the module's doc. Adds the
    asyncio receive to the extension's receiver."""

    async def recv_async(self, timeout=None):
        """The next message, waiting in the running asyncio loop (for ever,
        or ``timeout`` seconds: then ``TimeoutError``). ``Disconnected``
        once every sender is gone."""
        return await _aio.recv(self, timeout)

    def __aiter__(self):
        return self

    async def __anext__(self):
        try:
            return await _aio.recv(self)
        except Disconnected:
            raise StopAsyncIteration from None


__all__ = [
    "Sender",
    "Receiver",
    "Frame",
    "Loan",
    "encode",
    "decode",
    "identity",
    "Error",
    "Disconnected",
    "InvalidEndpoint",
    "Unsupported",
    "NoPeer",
    "AddrInUse",
    "PermissionDenied",
    "TypeMismatch",
    "TooLarge",
    "ProtocolError",
    "Stopped",
    "IoError",
    "u8", "u16", "u32", "u64", "u128",
    "i8", "i16", "i32", "i64", "i128",
    "f32", "char",
]
