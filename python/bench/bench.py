"""Python IPC from Python: ipcx `shm:` against multiprocessing.Queue,
multiprocessing.shared_memory with a hand-written handshake, and the
iceoryx2 Python package, all in one run (these machines are noisy:
compare within a run).

Each message starts with a 16-byte header (sequence number, send time
from CLOCK_MONOTONIC); the rest is the payload, produced in place where
the mechanism allows (ipcx `send_with`, shared memory, an iceoryx2 loan)
and read in place on the other side (`recv_view`, a view of the slot, the
sample's own memory): a 4 MiB frame is never copied by those three.
multiprocessing.Queue pickles and copies, as it must.

* throughput: the producer sends as fast as the channel takes; the
  consumer receives every message and checks its sequence (timed from
  the first arrival to the last).
* latency: one message at a time, answered by a 16-byte ack; one-way =
  receive time minus the send time in the header (same clock, both
  processes); p50 and p99.

Waiting policies, stated per row: `block` sleeps in the kernel when there
is nothing (ipcx `wait=block`, Queue, semaphores); `spin` polls without
sleeping (ipcx `wait=spin`; iceoryx2's Python subscriber has only a
non-blocking `receive`, so its loop polls: its own benchmark polls too);
ipcx's default `adaptive` polls 20 µs, then sleeps.

    python3 python/bench/bench.py [--quick] [--json FILE]
"""

import argparse
import ctypes
import json
import multiprocessing as mp
import os
import platform
import struct
import sys
import time
from multiprocessing import shared_memory

HEADER = struct.Struct("<QQ")
SMALL, FRAME = 64, 4 * 1024 * 1024


def now():
    return time.monotonic_ns()


# --- ipcx -------------------------------------------------------------


class Ipcx:
    def __init__(self, wait):
        self.wait = wait
        self.name = f"ipcx shm (wait={wait})"
        self.policy = {"block": "block", "spin": "spin", "adaptive": "adaptive"}[wait]

    def endpoints(self, tag, size):
        capacity = "16M" if size > SMALL else "1M"
        return f"shm:/ipcx-pybench-{os.getpid()}-{tag}?capacity={capacity}&wait={self.wait}"

    def sender(self, ep, size):
        import ipcx

        tx = ipcx.Sender(ep, timeout=10)
        if size <= SMALL:
            buf = bytearray(size)

            def send(seq):
                HEADER.pack_into(buf, 0, seq, now())
                tx.send(bytes(buf))

        else:

            def send(seq):
                tx.send_with(size, lambda room: HEADER.pack_into(room, 0, seq, now()))

        return send, tx.close

    def receiver(self, ep, size):
        import ipcx

        rx = ipcx.Receiver(ep)
        if size <= SMALL:

            def recv():
                return HEADER.unpack_from(rx.recv())

        else:

            def recv():
                view = rx.recv_view()
                header = HEADER.unpack_from(view)
                view.release()
                return header

        return recv, rx.close


# --- multiprocessing.Queue ---------------------------------------------


class Queue:
    name = "multiprocessing.Queue"
    policy = "block"

    def endpoints(self, tag, size):
        return mp.get_context("spawn").Queue(maxsize=64 if size <= SMALL else 2)

    def sender(self, q, size):
        buf = bytearray(size)

        def send(seq):
            HEADER.pack_into(buf, 0, seq, now())
            q.put(bytes(buf))

        return send, lambda: None

    def receiver(self, q, size):
        return (lambda: HEADER.unpack_from(q.get())), lambda: None


# --- multiprocessing.shared_memory + semaphores --------------------------


class SharedMemory:
    name = "shared_memory + semaphores"
    policy = "block"

    def endpoints(self, tag, size):
        slots = 64 if size <= SMALL else 2
        ctx = mp.get_context("spawn")
        block = shared_memory.SharedMemory(create=True, size=slots * size)
        return (block.name, slots, ctx.Semaphore(slots), ctx.Semaphore(0), block)

    def sender(self, ep, size):
        name, slots, empty, full, _ = ep
        block = shared_memory.SharedMemory(name=name)
        buf = block.buf

        def send(seq):
            empty.acquire()
            HEADER.pack_into(buf, (seq % slots) * size, seq, now())
            full.release()

        return send, lambda: (buf.release(), block.close())

    def receiver(self, ep, size):
        name, slots, empty, full, _ = ep
        block = shared_memory.SharedMemory(name=name)
        buf = block.buf
        state = [0]

        def recv():
            full.acquire()
            header = HEADER.unpack_from(buf, (state[0] % slots) * size)
            state[0] += 1
            empty.release()
            return header

        return recv, lambda: (buf.release(), block.close())


# --- iceoryx2 ------------------------------------------------------------


class Iceoryx2:
    name = "iceoryx2 0.10 (Python)"
    policy = "spin"

    def endpoints(self, tag, size):
        return f"ipcx-pybench-{os.getpid()}-{tag}"

    def _service(self, name, size):
        import iceoryx2 as iox2

        iox2.set_log_level(iox2.LogLevel.Error)
        node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
        # No loss (as the others): no safe overflow, the publisher retries
        # until delivered; the buffer as deep as the others' channels.
        service = (
            node.service_builder(iox2.ServiceName.new(name))
            .publish_subscribe(iox2.Slice[ctypes.c_uint8])
            .enable_safe_overflow(False)
            .subscriber_max_buffer_size(64 if size <= SMALL else 2)
            .history_size(0)
            .open_or_create()
        )
        return iox2, node, service

    def sender(self, name, size):
        iox2, node, service = self._service(name, size)
        publisher = (
            service.publisher_builder()
            .initial_max_slice_len(size)
            .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
            .create()
        )
        header = ctypes.create_string_buffer(HEADER.size)

        def send(seq):
            sample = publisher.loan_slice_uninit(size)
            HEADER.pack_into(header, 0, seq, now())
            ctypes.memmove(sample.payload_ptr, header, HEADER.size)
            sample.assume_init().send()

        send.keep = (node, service)  # a node dropped takes its ports with it
        send.connect = publisher.update_connections
        return send, publisher.delete

    def receiver(self, name, size):
        iox2, node, service = self._service(name, size)
        subscriber = service.subscriber_builder().buffer_size(64 if size <= SMALL else 2).create()

        def recv():
            while True:
                sample = subscriber.receive()
                if sample is not None:
                    header = HEADER.unpack(ctypes.string_at(sample.payload_ptr, HEADER.size))
                    sample.delete()
                    return header

        recv.keep = (node, service)
        return recv, subscriber.delete


def make_sender(kind, ep, size):
    return kind.sender(ep, size)


# --- the two measurements ----------------------------------------------


def producer(kind_spec, ep, ack_ep, size, n, mode, go):
    kind = build(kind_spec)
    send, close = make_sender(kind, ep, size)
    ack = None
    if mode == "latency":
        ack, close_ack = kind.receiver(ack_ep, 16)
    go.wait()
    if hasattr(send, "connect"):
        send.connect()  # iceoryx2: see the subscriber before the first send
    for seq in range(n):
        send(seq)
        if ack is not None:
            ack()
    time.sleep(0.2 if isinstance(kind, Iceoryx2) else 0)
    close()


def consume(kind, receiver, ack_ep, size, n, mode, go, results):
    recv, close = receiver
    ack = None
    if mode == "latency":
        ack, close_ack = make_sender(kind, ack_ep, 16)
    go.set()
    delays = []
    for expect in range(n):
        seq, sent = recv()
        if expect == 0:
            start = time.monotonic_ns()  # from the first arrival: not the peer's start-up
        if ack is not None:
            delays.append(now() - sent)
        if seq != expect:
            close()
            raise Lost(f"{kind.name}: message {seq} arrived where {expect} was due")
        if ack is not None:
            ack(seq)
    elapsed = (time.monotonic_ns() - start) / 1e9
    close()
    if mode == "throughput":
        results.update(msgs=(n - 1) / elapsed, gbytes=(n - 1) * size / elapsed / 1e9)
    else:
        delays.sort()
        results.update(p50=delays[len(delays) // 2] / 1e3, p99=delays[len(delays) * 99 // 100] / 1e3)


class Lost(Exception):
    """Messages went missing: a run that does not count."""


def build(spec):
    return {"ipcx": lambda w: Ipcx(w), "queue": lambda _: Queue(), "shm": lambda _: SharedMemory(), "iox2": lambda _: Iceoryx2()}[spec[0]](spec[1])


def measure(spec, size, n, mode, tag, tries=3):
    """`measure_once`, again after a run that lost messages (iceoryx2 0.10's
    publisher, set to retry until delivered, lost messages just after its
    subscriber's buffer first filled in about one run in five here);
    how many runs were repeated is reported."""
    for attempt in range(tries):
        try:
            results = measure_once(spec, size, n, mode, f"{tag}-{attempt}")
            results["lossy_runs"] = results.get("lossy_runs", 0) + attempt
            return results
        except Lost as lost:
            print(f"  ({lost}: repeated)", flush=True)
    raise SystemExit(f"{build(spec).name} lost messages in {tries} runs of {tries}")


def measure_once(spec, size, n, mode, tag):
    kind = build(spec)
    ctx = mp.get_context("spawn")
    ep, ack_ep = kind.endpoints(tag + "-d", size), kind.endpoints(tag + "-a", 16)
    go = ctx.Event()
    results = {}
    # The receiving end first, so the producer finds it (an iceoryx2
    # publisher made before its subscriber was seen to lose messages).
    receiver = kind.receiver(ep, size)
    peer = ctx.Process(target=producer, args=(spec, ep, ack_ep, size, n, mode, go))
    peer.start()
    try:
        consume(kind, receiver, ack_ep, size, n, mode, go, results)
    finally:
        peer.join(60 if results else 2)
        if peer.is_alive():
            peer.kill()
            peer.join()
    for e in (ep, ack_ep):
        if isinstance(e, tuple):
            e[4].close()
            e[4].unlink()
    return results


CONTENDERS = [
    (("ipcx", "adaptive"), "ipcx"),
    (("ipcx", "block"), "ipcx"),
    (("ipcx", "spin"), "ipcx"),
    (("queue", None), "queue"),
    (("shm", None), "shm"),
    (("iox2", None), "iox2"),
]


def main():
    args = argparse.ArgumentParser()
    args.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    args.add_argument("--json", help="write the figures here too")
    opts = args.parse_args()
    scale = 0.05 if opts.quick else 1.0
    counts = {
        ("throughput", SMALL): 200_000,
        ("throughput", FRAME): 20_000,
        ("latency", SMALL): 20_000,
        ("latency", FRAME): 2_000,
    }
    # multiprocessing.Queue pickles every byte: fewer, or the run takes minutes.
    queue_share = {SMALL: 4, FRAME: 100}
    try:
        import iceoryx2  # noqa: F401
    except ImportError:
        print("iceoryx2 is not installed (pip install iceoryx2): its rows are skipped")
        CONTENDERS[:] = [c for c in CONTENDERS if c[1] != "iox2"]
    before = iceoryx2_leftovers()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} · {platform.node()} · {os.cpu_count()} CPUs · "
          f"Python {platform.python_version()}")
    figures = []
    for size in (SMALL, FRAME):
        print(f"\n## {size} B" if size == SMALL else "\n## 4 MiB frame")
        print(f"{'':32} {'policy':9} {'msg/s':>12} {'GB/s':>7} {'p50 µs':>9} {'p99 µs':>9}")
        for i, (spec, _) in enumerate(CONTENDERS):
            kind = build(spec)
            row = {"contender": kind.name, "policy": kind.policy, "size": size, "lossy_runs": 0}
            for mode in ("throughput", "latency"):
                n = max(20, int(counts[(mode, size)] * scale))
                if spec[0] == "queue":
                    n = max(20, n // queue_share[size])
                got = measure(spec, size, n, mode, f"{size}-{i}-{mode}")
                got["lossy_runs"] += row["lossy_runs"]
                row.update(got)
            figures.append(row)
            repeated = f"   ({row['lossy_runs']} lossy runs repeated)" if row["lossy_runs"] else ""
            print(f"{kind.name:32} {kind.policy:9} {row['msgs']:12,.0f} {row['gbytes']:7.2f} "
                  f"{row['p50']:9.1f} {row['p99']:9.1f}{repeated}", flush=True)
    leave_nothing_behind(before)
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(figures, f, indent=1)


def iceoryx2_leftovers():
    """What iceoryx2 keeps between runs (its management segment in
    /dev/shm, node and service directories under /tmp/iceoryx2)."""
    import glob

    return set(glob.glob("/dev/shm/iox2_*")) | set(glob.glob("/tmp/iceoryx2*"))


def leave_nothing_behind(before):
    import shutil

    for path in iceoryx2_leftovers() - before:
        if os.path.isdir(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


if __name__ == "__main__":
    sys.exit(main())
