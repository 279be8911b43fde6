"""ipcx from Python: the same endpoints, wire and errors as the Rust API.

>>> import ipcx
>>> rx = ipcx.Receiver("unix:/tmp/ipcx-doc.sock")
>>> with ipcx.Sender("unix:/tmp/ipcx-doc.sock") as tx:
...     tx.send(b"hello")
>>> rx.recv(timeout=5)
b'hello'

Every call that waits releases the GIL and can be interrupted (Ctrl-C).
Exceptions: ``ipcx.Error`` and one subclass per kind (``Disconnected``,
``NoPeer``, ``TypeMismatch``, ``InvalidEndpoint`` ...); timeouts raise
``TimeoutError``.
"""

from ._ipcx import (  # noqa: F401
    AddrInUse,
    Disconnected,
    Error,
    InvalidEndpoint,
    IoError,
    NoPeer,
    PermissionDenied,
    ProtocolError,
    Receiver,
    Sender,
    Stopped,
    TooLarge,
    TypeMismatch,
    Unsupported,
    __version__,
)

__all__ = [
    "Sender",
    "Receiver",
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
]
