"""What the Python suites share: the Rust peers (the `ipcx` CLI and the
`job_peer` example), unique names, and a fixture that removes the queues
and rings a test named, whatever happened (System V queues outlive us)."""

import itertools
import os
import socket
import subprocess

import pytest

IPCX = os.environ.get("IPCX_BIN", "ipcx")
# The typed Rust peer (crates/ipcx/examples/job_peer.rs), built beside the CLI.
JOB_PEER = os.environ.get(
    "IPCX_JOB_PEER", os.path.join(os.path.dirname(IPCX), "examples", "job_peer")
)
_names = itertools.count()
_made = []


def unique(tag):
    return f"ipcxpy-{os.getpid()}-{tag}-{next(_names)}"


@pytest.fixture
def scratch(tmp_path):
    """A directory for socket files; the queues and rings a test named are
    removed after it."""
    yield tmp_path
    while _made:
        kind, name = _made.pop()
        if kind == "sysvmq":
            subprocess.run(["ipcrm", "-Q", name], capture_output=True)
        else:
            subprocess.run([IPCX, "rm", "--force", name], capture_output=True)


def endpoints(tmp):
    """One fresh endpoint per transport (ports: the kernel's choice)."""
    n = unique("ep")
    key = 0x70000000 | (os.getpid() & 0xFFFF) << 8 | (next(_names) & 0xFF)
    _made.extend([("sysvmq", f"{key:#x}"), ("mq", f"/{n}"), ("shm", f"/{n}")])
    return {
        "unix": f"unix:{tmp}/{n}.sock",
        "unix+seqpacket": f"unix+seqpacket:{tmp}/{n}.seq",
        "unix+dgram": f"unix+dgram:{tmp}/{n}.dgram",
        "tcp": "tcp:127.0.0.1:0",
        "udp": "udp:127.0.0.1:0",
        "mq": f"mq:/{n}",
        "sysvmq": f"sysvmq:{key:#x}",
        "shm": f"shm:/{n}",
        "fifo": f"fifo:{tmp}/{n}.fifo",
    }


def fixed_port(ep):
    """`ep` with a free port in place of 0, for a receiver started later."""
    return ep.replace(":0", f":{free_port(socket.SOCK_DGRAM if ep.startswith('udp') else socket.SOCK_STREAM)}")


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(program, *args, **kw):
    """`program` under `timeout -k`, so a hung peer cannot hang the suite."""
    return subprocess.Popen(["timeout", "-k", "2", "30", program, *args], **kw)


def run_ipcx(*args, **kw):
    return run(IPCX, *args, **kw)
