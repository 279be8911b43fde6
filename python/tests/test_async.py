"""asyncio: `await rx.recv_async()` and `async for` wait in the event loop
on the end's fd or the ring's doorbell (no thread, no polling), on every
transport, with Rust senders in other processes; an idle wait leaves the
loop free and the CPU idle; a cancelled receive loses nothing."""

import asyncio
import time

import pytest

import ipcx
from conftest import endpoints, run_ipcx

ASYNC = ["unix", "unix+seqpacket", "unix+dgram", "tcp", "udp", "mq", "sysvmq", "shm", "fifo"]


@pytest.mark.parametrize("transport", ASYNC)
def test_async_for_takes_every_message_from_a_rust_sender(scratch, transport):
    messages = [f"async {i}" for i in range(200)]

    async def main(rx):
        sender = run_ipcx("send", rx.endpoint, "--wait", "10s", *messages)
        got = [m.decode() async for m in rx]
        assert sender.wait(20) == 0
        return got

    with ipcx.Receiver(endpoints(scratch)[transport]) as rx:
        got = asyncio.run(asyncio.wait_for(main(rx), 30))
    assert got == messages


def test_an_idle_async_receive_leaves_the_loop_free_and_the_cpu_idle(scratch):
    for ep in (endpoints(scratch)["shm"], endpoints(scratch)["unix"], endpoints(scratch)["sysvmq"]):
        with ipcx.Receiver(ep) as rx:
            ticks = []

            async def ticker():
                while True:
                    ticks.append(time.monotonic())
                    await asyncio.sleep(0.01)

            async def main():
                t = asyncio.create_task(ticker())
                start, cpu = time.monotonic(), time.process_time()
                with pytest.raises(TimeoutError):
                    await rx.recv_async(timeout=0.5)
                elapsed, used = time.monotonic() - start, time.process_time() - cpu
                t.cancel()
                return elapsed, used

            elapsed, used = asyncio.run(main())
            assert 0.45 < elapsed < 2.0
            assert len(ticks) >= 25, "the loop ran other tasks meanwhile"
            limit = 0.25 if ep.startswith("sysvmq") else 0.1  # no fd: pauses up to 5 ms
            assert used < limit, f"{ep}: the wait sleeps ({used:.3f} s of CPU)"


def test_a_cancelled_receive_loses_nothing(scratch):
    ep = endpoints(scratch)["shm"]

    async def main():
        with ipcx.Receiver(ep) as rx, ipcx.Sender(ep) as tx:
            waiting = asyncio.create_task(rx.recv_async())
            await asyncio.sleep(0.05)
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
            tx.send(b"kept")
            return await rx.recv_async(timeout=5)

    assert asyncio.run(main()) == b"kept"


def test_a_python_sender_wakes_an_async_receiver_on_the_doorbell(scratch):
    ep = endpoints(scratch)["shm"]

    async def main():
        with ipcx.Receiver(ep) as rx, ipcx.Sender(ep) as tx:
            loop = asyncio.get_running_loop()
            loop.call_later(0.1, tx.send, b"rung")
            start = time.monotonic()
            got = await rx.recv_async(timeout=5)
            return got, time.monotonic() - start

    got, waited = asyncio.run(main())
    assert got == b"rung" and waited < 1.0, "woken by the doorbell, not a recheck"


def test_typed_async_receives(scratch):
    from test_typed import JOB_PEER, Job, job
    from conftest import run

    async def main(rx):
        sender = run(JOB_PEER, "send", rx.endpoint, "5")
        got = [await rx.recv_async(timeout=10) for _ in range(5)]
        assert sender.wait(20) == 0
        return got

    with ipcx.Receiver(endpoints(scratch)["unix"], Job) as rx:
        assert asyncio.run(main(rx)) == [job(i) for i in range(1, 6)]
