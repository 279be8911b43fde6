"""ipcx from Python against ipcx in Rust (the `ipcx` CLI), both ways, on
real kernel objects between real processes; then the paths a user hits:
idle (timeouts, Ctrl-C), full, disconnect, bad input, a peer killed."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import ipcx

from conftest import endpoints, fixed_port, run_ipcx

TRANSPORTS = ["unix", "unix+seqpacket", "unix+dgram", "tcp", "udp", "mq", "sysvmq", "shm", "fifo"]


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_rust_sends_python_receives_in_order(scratch, transport):
    ep = endpoints(scratch)[transport]
    messages = [f"message {i}" for i in range(50)] + ["", "x" * 60000]
    if transport in ("mq", "sysvmq", "fifo", "udp"):
        messages[-1] = "x" * 4000  # queue limits; a FIFO's atomic writes; one datagram
    with ipcx.Receiver(ep) as rx:
        sender = run_ipcx("send", rx.endpoint, "--wait", "10s", *messages)
        got = [m.decode() for m in rx] if transport not in ("mq", "sysvmq", "shm") else [
            rx.recv(timeout=10).decode() for _ in messages
        ]
        assert sender.wait(20) == 0
    assert got == messages


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_python_sends_rust_receives_in_order(scratch, transport):
    ep = endpoints(scratch)[transport]
    if transport in ("tcp", "udp"):
        ep = fixed_port(ep)
    receiver = run_ipcx("recv", ep, "-n", "100", "--timeout", "20s", stdout=subprocess.PIPE)
    with ipcx.Sender(ep, timeout=10) as tx:
        for i in range(100):
            tx.send(f"line {i}")
    out, _ = receiver.communicate(timeout=30)
    assert receiver.returncode == 0
    assert out.decode().splitlines() == [f"line {i}" for i in range(100)]


def test_an_idle_receiver_times_out_without_spinning(scratch):
    with ipcx.Receiver(endpoints(scratch)["unix"]) as rx:
        start, cpu = time.monotonic(), time.process_time()
        with pytest.raises(TimeoutError):
            rx.recv(timeout=0.5)
        assert 0.45 < time.monotonic() - start < 2.0
        assert time.process_time() - cpu < 0.2, "the wait sleeps"
        assert rx.try_recv() is None


def test_blocking_calls_release_the_gil(scratch):
    with ipcx.Receiver(endpoints(scratch)["unix"]) as rx:
        woke = []
        t = threading.Thread(target=lambda: woke.append(rx.recv(timeout=3)))
        t.start()
        count, until = 0, time.monotonic() + 0.5
        while time.monotonic() < until:
            count += 1  # Python runs while the other thread waits in recv
        with ipcx.Sender(rx.endpoint) as tx:
            tx.send(b"wake")
        t.join(5)
        assert woke == [b"wake"] and count > 10000


def test_ctrl_c_interrupts_a_blocked_recv(scratch):
    ep = endpoints(scratch)["unix"]
    code = f"import ipcx\nrx = ipcx.Receiver({ep!r})\nprint('ready', flush=True)\nrx.recv()\n"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.readline() == b"ready\n"
    time.sleep(0.2)
    start = time.monotonic()
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=5)
    assert time.monotonic() - start < 2
    assert b"KeyboardInterrupt" in err


def test_a_full_queue_blocks_then_times_out_and_try_send_says_full(scratch):
    ep = endpoints(scratch)["mq"] + "?maxmsg=4"
    with ipcx.Receiver(ep) as rx, ipcx.Sender(ep) as tx:
        sent = 0
        while tx.try_send(b"m"):
            sent += 1
            assert sent < 100, "a queue of 4 fills"
        start = time.monotonic()
        with pytest.raises(TimeoutError):
            tx.send(b"one more", timeout=0.3)
        assert time.monotonic() - start >= 0.25
        assert [rx.recv(timeout=1) for _ in range(sent)] == [b"m"] * sent


def test_disconnect_ends_iteration_and_send_raises(scratch):
    ep = endpoints(scratch)["unix"]
    rx = ipcx.Receiver(ep)
    with ipcx.Sender(ep) as tx:
        tx.send(b"last")
    assert list(rx) == [b"last"]
    with pytest.raises(ipcx.Disconnected):
        rx.recv(timeout=1)
    tx = ipcx.Sender(ep)
    rx.close()
    with pytest.raises(ipcx.Disconnected):
        for _ in range(1000):
            tx.send(b"x" * 1000, timeout=1)


def test_bad_input_gets_clear_errors(scratch):
    with pytest.raises(ipcx.InvalidEndpoint, match="nope"):
        ipcx.Receiver("nope:/x")
    with pytest.raises(ipcx.NoPeer):
        ipcx.Sender(f"unix:{scratch}/nobody.sock")
    with pytest.raises(ValueError):
        ipcx.Receiver(endpoints(scratch)["unix"]).recv(timeout=-1)
    with ipcx.Receiver(endpoints(scratch)["unix"]) as rx, ipcx.Sender(rx.endpoint) as tx:
        with pytest.raises(TypeError, match="bytes, bytearray or str"):
            tx.send(12)
        tx.send(bytearray(b"ok"))
        assert rx.recv(timeout=1) == b"ok"
    assert issubclass(ipcx.Disconnected, ipcx.Error)


def test_a_python_sender_killed_mid_stream_leaves_the_rust_receiver_intact(scratch):
    ep = endpoints(scratch)["unix"]
    receiver = run_ipcx("recv", ep, "--timeout", "20s", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    code = (
        f"import ipcx, itertools\ntx = ipcx.Sender({ep!r}, timeout=10)\n"
        "for i in itertools.count():\n    tx.send(f'message {i:08}')\n"
    )
    p = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(1.0)
    p.kill()
    p.wait(5)
    out, err = receiver.communicate(timeout=30)
    lines = out.decode().splitlines()
    assert receiver.returncode == 0, err
    assert len(lines) > 100
    assert lines == [f"message {i:08}" for i in range(len(lines))], "whole messages, in order"


def test_an_anonymous_pipe_both_ways():
    """`pipe:N` adopts an inherited fd: here the pipe is made by Python and
    its other end handed to the Rust CLI."""
    messages = [f"piped {i}" for i in range(30)]
    r, w = os.pipe()
    sender = run_ipcx("send", f"pipe:{w}", *messages, pass_fds=(w,))
    os.close(w)
    with ipcx.Receiver(f"pipe:{r}") as rx:
        got = [m.decode() for m in rx]
    assert sender.wait(20) == 0
    assert got == messages

    r, w = os.pipe()
    receiver = run_ipcx("recv", f"pipe:{r}", pass_fds=(r,), stdout=subprocess.PIPE)
    os.close(r)
    with ipcx.Sender(f"pipe:{w}") as tx:
        for m in messages:
            tx.send(m)
    out, _ = receiver.communicate(timeout=30)
    assert receiver.returncode == 0
    assert out.decode().splitlines() == messages


FULLABLE = ["unix", "unix+seqpacket", "unix+dgram", "tcp", "mq", "sysvmq", "shm", "fifo"]


def the_ipcx_under(proc):
    """The `ipcx` process `timeout` runs for `run_ipcx`."""
    for _ in range(100):
        with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
            kids = f.read().split()
        if kids:
            return int(kids[0])
        time.sleep(0.01)
    raise AssertionError("timeout started no ipcx")


@pytest.mark.parametrize("transport", FULLABLE)
def test_a_full_channel_blocks_times_out_and_loses_nothing(scratch, transport):
    """A Rust receiver stopped (SIGSTOP): the Python sender's `try_send`
    says full after a bounded number of messages, `send(timeout=)` waits
    that long; then the receiver goes on and gets every message that was
    accepted, in order. (`udp:` drops instead, as UDP does.)"""
    ep = endpoints(scratch)[transport]
    if transport == "tcp":
        ep = fixed_port(ep)
    if transport == "mq":
        ep += "?maxmsg=8"
    size = 1000 if transport in ("mq", "sysvmq", "fifo", "unix+dgram") else 4000
    receiver = run_ipcx("recv", ep, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Read what it prints from the start: a sender's close may wait for
    # the receiver, which must not be stuck on a full stdout meanwhile.
    printed = []
    reader = threading.Thread(target=lambda: printed.extend(receiver.communicate(timeout=60)))
    reader.start()
    try:
        with ipcx.Sender(ep, timeout=10) as tx:
            rust = the_ipcx_under(receiver)
            os.kill(rust, signal.SIGSTOP)

            def message(i):
                return f"{i:08}".ljust(size, "m")

            sent = 0
            while tx.try_send(message(sent)):
                sent += 1
                assert sent < 20_000, "a channel nobody reads fills"
            assert sent > 0
            # TCP keeps moving bytes from the send buffer to the peer's
            # for a while after a refusal: a send that waits may fit more.
            for _ in range(1000):
                start = time.monotonic()
                try:
                    tx.send(message(sent), timeout=0.3)
                except TimeoutError:
                    break
                sent += 1
            else:
                pytest.fail("send(timeout=) never timed out on a full channel")
            assert time.monotonic() - start >= 0.25
            os.kill(rust, signal.SIGCONT)
        reader.join(60)
    finally:
        receiver.kill()
    out, err = printed
    assert receiver.returncode == 0, err.decode()
    assert out.decode().splitlines() == [message(i) for i in range(sent)]


def test_exhausted_resources_are_clear_errors_from_python(scratch):
    """A ring larger than /dev/shm is refused at open (never SIGBUS later),
    and out of fds a Python end says so; the process goes on."""
    ep = endpoints(scratch)["shm"] + "?capacity=512GiB"  # /dev/shm is smaller
    with pytest.raises(ipcx.Error, match="/dev/shm|space|room"):
        ipcx.Receiver(ep)
    code = (
        "import resource, ipcx, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (16, 16))\n"
        "held = []\n"
        "try:\n"
        "    for i in range(64):\n"
        f"        held.append(ipcx.Receiver(f'unix:{scratch}/fd-{{i}}.sock'))\n"
        "except ipcx.Error as e:\n"
        "    print(type(e).__name__, e)\n"
        "    sys.exit(0)\n"
        "sys.exit('never ran out')\n"
    )
    done = subprocess.run(["timeout", "-k", "2", "30", sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "Too many open files" in done.stdout or "fds" in done.stdout, done.stdout
