"""The brief's headline case: 4K video frames from an inference process to
an encoder, through an ipcx ring, with no copy on either side.

The inference side fills each frame straight into the ring's memory
(`send_with` lends it as a writable memoryview; numpy writes through it);
the encoder reads it where it lies (`recv_view`; `numpy.frombuffer` on
the view). Run it as it is: it starts the encoder as a second process.

    python3 python/examples/frames.py [FRAMES [ENDPOINT]]
"""

import subprocess
import sys
import time

import numpy as np

import ipcx

# A 4K frame as encoders take it: NV12 (a luma plane, then the chroma at
# half resolution), 12.4 MB. A ring carries messages up to 16 MiB.
HEIGHT, WIDTH = 2160, 3840
ROWS = HEIGHT * 3 // 2
FRAME = ROWS * WIDTH
ENDPOINT = "shm:/ipcx-example-frames?capacity=64M"  # room for five frames


def encoder(frames, endpoint):
    with ipcx.Receiver(endpoint) as rx:
        print("encoder ready", flush=True)
        for i in range(frames):
            view = rx.recv_view(timeout=30)
            frame = np.frombuffer(view, np.uint8).reshape(ROWS, WIDTH)
            # "Encoding": look at the frame in place (the ring's memory).
            assert view.obj.in_place and frame[ROWS - 1, WIDTH - 1] == i % 256
            del frame
            view.release()  # the room goes back to the inference side now
        print(f"encoder got {frames} frames", flush=True)


def inference(frames, endpoint):
    with ipcx.Sender(endpoint, timeout=10) as tx:
        start = time.monotonic()
        for i in range(frames):

            def fill(room):
                frame = np.frombuffer(room, np.uint8).reshape(ROWS, WIDTH)
                frame[...] = i % 256  # the model's output, written into the ring

            tx.send_with(FRAME, fill)
        elapsed = time.monotonic() - start
    print(f"inference sent {frames} 4K frames in {elapsed:.2f} s "
          f"({frames / elapsed:.0f} frames/s, each written once, never copied)")


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "encoder":
        encoder(int(sys.argv[2]), sys.argv[3])
        sys.exit(0)
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    endpoint = sys.argv[2] if len(sys.argv) > 2 else ENDPOINT
    peer = subprocess.Popen(
        [sys.executable, __file__, "encoder", str(frames), endpoint], stdout=subprocess.PIPE, text=True
    )
    assert peer.stdout.readline() == "encoder ready\n"
    inference(frames, endpoint)
    print(peer.stdout.read(), end="")
    sys.exit(peer.wait(30))
