"""asyncio receives: ``await rx.recv_async()`` and ``async for m in rx``.

A receive that finds nothing asks the end what it would sleep on (its
socket, pipe, queue or epoll fd; on ``shm:`` the ring's doorbell, a socket
the sender rings once this end has announced it sleeps) and waits for it
in the event loop with ``loop.add_reader``: no thread, no polling. System V
queues have no fd: they are looked at after pauses that grow from 50 µs
to 5 ms, as ipcx's own waits do.
"""

import asyncio

_NOW, _FD, _PAUSE = 0, 1, 2
_FIRST_PAUSE, _LONGEST_PAUSE = 50e-6, 5e-3
# "Ready" this many times in a row with nothing to take: sleep a little
# instead of asking again at once (a half-arrived message on a stream).
_NOW_LIMIT = 32


async def recv(rx, timeout=None):
    """The next message, waiting in the running event loop."""
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    pause, nows = _FIRST_PAUSE, 0
    while True:
        message = rx.try_recv()
        if message is not None:
            return message
        left = None if deadline is None else deadline - loop.time()
        if left is not None and left <= 0:
            raise TimeoutError("recv_async: nothing arrived before the timeout")
        kind, fd, recheck = rx._wait_on()
        try:
            if kind == _FD:
                nows, pause = 0, _FIRST_PAUSE
                await _readable(loop, fd, _shorter(recheck, left))
            elif kind == _PAUSE:
                await asyncio.sleep(_shorter(pause, left))
                pause = min(pause * 2, _LONGEST_PAUSE)
            else:
                nows += 1
                await asyncio.sleep(0 if nows < _NOW_LIMIT else _shorter(_FIRST_PAUSE, left))
        finally:
            rx._stop_waiting()


def _shorter(a, b):
    if a is None:
        return b
    return a if b is None else min(a, b)


async def _readable(loop, fd, timeout):
    ready = loop.create_future()

    def wake():
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(fd, wake)
    try:
        await asyncio.wait({ready}, timeout=timeout)
    finally:
        loop.remove_reader(fd)
        if not ready.done():
            ready.cancel()
