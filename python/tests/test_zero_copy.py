"""Zero-copy on `shm:`: a received view is the ring's own memory (its
address lies inside the mapping of /dev/shm/NAME), a loaned send writes
into it, a held view keeps the sender from reusing its room until it is
released; elsewhere the view is of a copy. A 4 MiB frame crosses between
two processes with numpy."""

import os
import subprocess
import sys
import time

import numpy as np
import pytest

import ipcx
from conftest import endpoints

FRAME = 4 * 1024 * 1024


def mapped_ranges(pid, name):
    """The address ranges where `pid` maps /dev/shm/<name>."""
    ranges = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            if line.rstrip().endswith(f"/dev/shm/{name}"):
                lo, hi = line.split()[0].split("-")
                ranges.append((int(lo, 16), int(hi, 16)))
    return ranges


def inside(addr, size, ranges):
    return any(lo <= addr and addr + size <= hi for lo, hi in ranges)


def address(view):
    return np.frombuffer(view, np.uint8).__array_interface__["data"][0]


SENDER = """
import sys, numpy as np, ipcx
from test_zero_copy import address, inside, mapped_ranges
ep, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
tx = ipcx.Sender(ep, timeout=10)
for i in range(n):
    def fill(room):
        assert inside(address(room), len(room), mapped_ranges("self", name)), "the loan is the ring"
        frame = np.frombuffer(room, np.uint8).reshape(1024, 1024, 4)
        frame[:] = i % 251
        frame[0, 0, :] = [i, 0, 0, 255]
    tx.send_with(FRAME, fill)
print("sent", n, flush=True)
""".replace("FRAME", str(FRAME))


def test_a_4mib_frame_crosses_without_a_copy_both_sides(scratch):
    ep = endpoints(scratch)["shm"]
    name = ep.removeprefix("shm:/")
    with ipcx.Receiver(ep + "?capacity=16M") as rx:
        sender = subprocess.Popen(
            ["timeout", "-k", "2", "60", sys.executable, "-c", SENDER, ep, name, "12"],
            cwd=os.path.dirname(__file__),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        ranges = mapped_ranges("self", name)
        assert ranges, "the receiver maps the ring"
        for i in range(12):
            view = rx.recv_view(timeout=20)
            assert view.obj.in_place and view.readonly and len(view) == FRAME
            frame = np.frombuffer(view, np.uint8).reshape(1024, 1024, 4)
            assert inside(address(view), FRAME, ranges), "the view is the ring's memory"
            assert list(frame[0, 0]) == [i, 0, 0, 255] and frame[512, 512, 1] == i % 251
            with pytest.raises((TypeError, ValueError)):
                frame[1, 1, 1] = 0  # read-only
            del frame
            view.release()
        out, err = sender.communicate(timeout=30)
        assert sender.returncode == 0, err.decode()
        assert out == b"sent 12\n"


def test_a_held_view_keeps_its_room_until_released(scratch):
    ep = endpoints(scratch)["shm"] + "?capacity=64K"
    with ipcx.Receiver(ep) as rx, ipcx.Sender(ep) as tx:
        sent = 0
        while tx.try_send(bytes([sent]) * 20_000):
            sent += 1
        assert sent == 3, "three 20 000-byte messages fill a 64 KiB ring"
        view = rx.recv_view(timeout=5)
        assert not tx.try_send(b"b" * 10_000), "the held message's room is not the sender's"
        assert bytes(view[:4]) == b"\0\0\0\0", "unchanged while held"
        view.release()
        assert tx.try_send(b"b" * 10_000), "a released view gives the room back at once"
        assert [rx.recv(timeout=5)[0] for _ in range(2)] == [1, 2]
        assert rx.recv(timeout=5) == b"b" * 10_000


def test_the_next_receive_moves_on_from_a_view_dropped_or_not(scratch):
    ep = endpoints(scratch)["shm"]
    with ipcx.Receiver(ep) as rx, ipcx.Sender(ep) as tx:
        for i in range(100):
            tx.send(bytes([i]) * 1000)
        views = [rx.recv_view(timeout=5) for _ in range(100)]
        assert views[-1].tobytes() == bytes([99]) * 1000
        del views  # releasing old views after later receives gives nothing back twice
        tx.send(b"after")
        assert rx.recv(timeout=5) == b"after"


def test_elsewhere_the_view_is_of_a_copy(scratch):
    for ep in (endpoints(scratch)["unix"], endpoints(scratch)["shm"] + "?overflow=drop-oldest"):
        with ipcx.Receiver(ep) as rx, ipcx.Sender(rx.endpoint) as tx:
            tx.send(b"copied")
            view = rx.recv_view(timeout=5)
            assert not view.obj.in_place and view.tobytes() == b"copied"
            tx.send_with(3, lambda room: room.__setitem__(slice(0, 2), b"hi") or 2)
            assert rx.recv(timeout=5) == b"hi"


def test_a_loan_misused_is_reported_and_the_channel_goes_on(scratch):
    ep = endpoints(scratch)["shm"]
    with ipcx.Receiver(ep) as rx, ipcx.Sender(ep) as tx:
        assert tx.send_with(10, lambda room: room.__setitem__(slice(0, 4), b"part") or 4) == 4
        assert rx.recv(timeout=5) == b"part"

        def boom(room):
            raise RuntimeError("fill failed")

        with pytest.raises(RuntimeError, match="fill failed"):
            tx.send_with(100, boom)
        assert rx.recv(timeout=5) == b"", "the room taken goes as an empty message"

        kept = []
        with pytest.raises(BufferError, match="outlived fill"):
            tx.send_with(8, lambda room: kept.append(np.frombuffer(room, np.uint8)))
        assert len(rx.recv(timeout=5)) == 8
        with pytest.raises(BufferError, match="was sent"):
            memoryview(kept[0].base.obj)
        with pytest.raises(ValueError, match="more than"):
            tx.send_with(4, lambda room: 5)
        assert rx.recv(timeout=5) == b"", "a bad count is fill failing: an empty message"
        with pytest.raises(ipcx.TooLarge):
            tx.send_with(1 << 30, lambda room: None)
        tx.send(b"still fine")
        assert rx.recv(timeout=5) == b"still fine"


def test_views_and_loans_are_for_bytes_ends(scratch):
    from test_typed import Job

    with ipcx.Receiver(endpoints(scratch)["shm"], Job) as rx:
        with pytest.raises(TypeError, match="raw bytes"):
            rx.recv_view(timeout=0)
        with ipcx.Sender(rx.endpoint, Job) as tx, pytest.raises(TypeError, match="raw bytes"):
            tx.send_with(8, lambda room: None)


def test_an_idle_view_receive_times_out_and_ctrl_c_would_reach_it(scratch):
    with ipcx.Receiver(endpoints(scratch)["shm"]) as rx:
        start, cpu = time.monotonic(), time.process_time()
        with pytest.raises(TimeoutError):
            rx.recv_view(timeout=0.3)
        assert time.monotonic() - start >= 0.25
        assert time.process_time() - cpu < 0.2


def test_the_frames_example_runs(scratch):
    example = os.path.join(os.path.dirname(__file__), "..", "examples", "frames.py")
    ep = endpoints(scratch)["shm"] + "?capacity=64M"
    done = subprocess.run(
        ["timeout", "-k", "2", "120", sys.executable, example, "10", ep], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "inference sent 10 4K frames" in done.stdout and "encoder got 10 frames" in done.stdout
