"""Typed messages: a Python dataclass and a Rust serde struct of the same
shape declare one identity (docs/wire.md), so a Python sender and a Rust
`Receiver<Job>` (crates/ipcx/examples/job_peer.rs) agree, both ways; a
type that differs is refused; bad values and hostile bytes get clear
errors."""

import enum
import random
import subprocess
from dataclasses import dataclass
from typing import Optional

import pytest

import ipcx
from conftest import IPCX, JOB_PEER, endpoints, fixed_port, run


class Kind(enum.Enum):
    Render = 0
    Encode = 1


@dataclass
class Size:
    width: ipcx.u32
    height: ipcx.u32


@dataclass
class Job:
    id: ipcx.u64
    name: str
    tags: list[str]
    priority: Optional[ipcx.u8]
    ratio: ipcx.f32
    offset: int
    kind: Kind
    size: Size
    corner: tuple[ipcx.i16, ipcx.i16]
    limits: dict[str, ipcx.u32]
    done: bool
    letter: ipcx.char


def job(i):
    """What job_peer's `job(i)` makes, in Python."""
    return Job(
        id=i,
        name=f"job {i}",
        tags=[f"t{t}" for t in range(i % 3)],
        priority=i if i % 2 == 0 else None,
        ratio=0.5 * i,
        offset=-i * 1000,
        kind=Kind.Render if i % 2 == 0 else Kind.Encode,
        size=Size(width=3840, height=2160 + i),
        corner=(-i, i),
        limits={"cpu": i, "mem": 7},
        done=i % 3 == 0,
        letter="é",
    )


def test_a_dataclass_declares_the_rust_structs_identity():
    rust = subprocess.run([JOB_PEER, "identity"], capture_output=True, timeout=30, check=True)
    assert ipcx.identity(Job) == rust.stdout.decode().rstrip("\n")


TYPED = ["unix", "unix+seqpacket", "tcp", "udp", "shm", "mq", "sysvmq", "fifo"]


@pytest.mark.parametrize("transport", TYPED)
def test_rust_sends_jobs_python_receives_them(scratch, transport):
    with ipcx.Receiver(endpoints(scratch)[transport], Job) as rx:
        sender = run(JOB_PEER, "send", rx.endpoint, "20")
        got = [rx.recv(timeout=10) for _ in range(20)]
        assert sender.wait(20) == 0
    assert got == [job(i) for i in range(1, 21)]


@pytest.mark.parametrize("transport", TYPED)
def test_python_sends_jobs_rust_receives_them(scratch, transport):
    ep = endpoints(scratch)[transport]
    if transport in ("tcp", "udp"):
        ep = fixed_port(ep)
    receiver = run(JOB_PEER, "recv", ep, "20", stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert receiver.stdout.readline() == b"ready\n"
    with ipcx.Sender(ep, Job, timeout=10) as tx:
        for i in range(1, 21):
            tx.send(job(i))
    out, err = receiver.communicate(timeout=30)
    assert receiver.returncode == 0, err.decode()
    assert out.decode().split() == [w for i in range(1, 21) for w in ("ok", str(i))]


@dataclass
class OtherJob:  # the same name as Rust's, another shape
    id: ipcx.u64


OtherJob.__name__ = "Job"


def test_a_receiver_of_another_shape_refuses_the_rust_sender(scratch):
    with ipcx.Receiver(endpoints(scratch)["unix"], OtherJob) as rx:
        # Many jobs: a connecting sender learns of the refusal at a send
        # after its hello was read (a sender that is gone by then cannot).
        sender = run(JOB_PEER, "send", rx.endpoint, "10000000", stderr=subprocess.PIPE)
        with pytest.raises(ipcx.TypeMismatch, match="defined differently"):
            rx.recv(timeout=10)
        _, err = sender.communicate(timeout=20)
        assert sender.returncode == 1, err
        assert b"Job" in err


@pytest.mark.parametrize("transport", [t for t in TYPED if t != "shm"])
def test_a_mismatch_is_a_type_mismatch_on_every_transport(scratch, transport):
    """The receiver says so (once per sender on connections, per message
    on datagrams and queues) and goes on; on `shm:` the sender is refused
    at open (next test)."""
    with ipcx.Receiver(endpoints(scratch)[transport], OtherJob) as rx:
        sender = run(JOB_PEER, "send", rx.endpoint, "10000000", stderr=subprocess.PIPE)
        try:
            with pytest.raises(ipcx.TypeMismatch, match="Job"):
                rx.recv(timeout=10)
        finally:
            sender.kill()
            sender.wait(10)


def test_a_python_sender_of_another_shape_is_refused_at_open_on_shm(scratch):
    ep = endpoints(scratch)["shm"]
    receiver = run(JOB_PEER, "recv", ep, "1", stdout=subprocess.PIPE)
    try:
        assert receiver.stdout.readline() == b"ready\n"
        with pytest.raises(ipcx.TypeMismatch):
            ipcx.Sender(ep, OtherJob)
        with ipcx.Sender(ep, Job) as tx:
            tx.send(job(1))
        assert receiver.wait(20) == 0
    finally:
        receiver.kill()


def test_a_typed_receiver_refuses_a_byte_sender_and_goes_on(scratch):
    with ipcx.Receiver(endpoints(scratch)["unix"], Job) as rx:
        raw = run(IPCX, "send", rx.endpoint, "not a job")
        with pytest.raises(ipcx.TypeMismatch):
            rx.recv(timeout=10)
        raw.wait(20)
        good = run(JOB_PEER, "send", rx.endpoint, "1")
        assert rx.recv(timeout=10) == job(1)
        assert good.wait(20) == 0


def test_bad_values_are_refused_before_anything_is_sent(scratch):
    with ipcx.Receiver(endpoints(scratch)["unix"], Job) as rx, ipcx.Sender(rx.endpoint, Job) as tx:
        bad = job(1)
        bad.id = -1
        with pytest.raises(ValueError, match=r"Job\.id: -1 is out of range for u64"):
            tx.send(bad)
        bad = job(1)
        bad.size.width = "wide"
        with pytest.raises(TypeError, match=r"Job\.size\.width: expected an int, got str"):
            tx.send(bad)
        bad = job(1)
        bad.letter = "ab"
        with pytest.raises(ValueError, match="not one character"):
            tx.send(bad)
        with pytest.raises(TypeError, match="expected a Job"):
            tx.send(b"bytes")
        tx.send(job(2))
        assert rx.recv(timeout=5) == job(2), "nothing half-sent before it"
    with pytest.raises(TypeError, match="dataclass or an enum"):
        ipcx.Receiver(endpoints(scratch)["unix"], int)
    with pytest.raises(TypeError, match="has no ipcx format"):

        @dataclass
        class Bad:
            x: set[int]

        ipcx.identity(Bad)
    with pytest.raises(ValueError, match="not both"):
        ipcx.Receiver(endpoints(scratch)["unix"], Job, name="jobs.v1")


def test_hostile_bytes_are_a_protocol_error_never_a_crash():
    good = ipcx.encode(job(4), Job)
    assert ipcx.decode(Job, good) == job(4)
    for cut in range(len(good)):
        with pytest.raises(ipcx.ProtocolError):
            ipcx.decode(Job, good[:cut])
    with pytest.raises(ipcx.ProtocolError, match="left after"):
        ipcx.decode(Job, good + b"\0")
    rng = random.Random(7)
    for _ in range(3000):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
        try:
            ipcx.decode(Job, noise)
        except ipcx.ProtocolError:
            pass

    @dataclass
    class Cmd:
        then: Optional["Cmd"]

    deep = b"\x01" * 100_000 + b"\x00"
    with pytest.raises(ipcx.ProtocolError, match="deeper"):
        ipcx.decode(Cmd, deep)

    @dataclass
    class Many:
        items: list[None]

    with pytest.raises(ipcx.ProtocolError, match="count"):
        ipcx.decode(Many, b"\xff\xff\xff\xff\x0f")


def test_a_name_alone_identity_carries_bytes(scratch):
    with ipcx.Receiver(endpoints(scratch)["shm"], name="frames.v1") as rx:
        with pytest.raises(ipcx.TypeMismatch):
            ipcx.Sender(rx.endpoint, name="frames.v2")
        with ipcx.Sender(rx.endpoint, name="frames.v1") as tx:
            tx.send(b"\x00\x01")
        assert rx.recv(timeout=5) == b"\x00\x01"
