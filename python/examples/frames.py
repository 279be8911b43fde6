"""The brief's headline case: 4K video frames from an inference process to
an encoder, through an ipcx ring, with no copy on either side.

The inference side fills each frame straight into the ring's memory
(`send_with` lends it as a writable memoryview; numpy writes through it);
the encoder reads it where it lies (`recv_view`; `numpy.frombuffer` on
the view). Run it as it is: it starts the encoder as a second process.

    python3 python/examples/frames.py [FRAMES]
"""

import subprocess
import sys
import time

import numpy as np

import ipcx

HEIGHT, WIDTH, CHANNELS = 2160, 3840, 4
FRAME = HEIGHT * WIDTH * CHANNELS  # 33 MB
ENDPOINT = "shm:/ipcx-example-frames?capacity=100M"  # room for three frames


def encoder(frames):
    with ipcx.Receiver(ENDPOINT) as rx:
        print("encoder ready", flush=True)
        for i in range(frames):
            view = rx.recv_view(timeout=30)
            frame = np.frombuffer(view, np.uint8).reshape(HEIGHT, WIDTH, CHANNELS)
            # "Encoding": look at the frame in place (the ring's memory).
            assert view.obj.in_place and frame[HEIGHT - 1, WIDTH - 1, 3] == i % 256
            del frame
            view.release()  # the room goes back to the inference side now
        print(f"encoder got {frames} frames", flush=True)


def inference(frames):
    with ipcx.Sender(ENDPOINT, timeout=10) as tx:
        start = time.monotonic()
        for i in range(frames):

            def fill(room):
                frame = np.frombuffer(room, np.uint8).reshape(HEIGHT, WIDTH, CHANNELS)
                frame[...] = i % 256  # the model's output, written into the ring

            tx.send_with(FRAME, fill)
        elapsed = time.monotonic() - start
    print(f"inference sent {frames} 4K frames in {elapsed:.2f} s "
          f"({frames / elapsed:.0f} frames/s, each written once, never copied)")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "encoder":
        encoder(int(sys.argv[2]))
        sys.exit(0)
    frames = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    peer = subprocess.Popen([sys.executable, __file__, "encoder", str(frames)], stdout=subprocess.PIPE, text=True)
    assert peer.stdout.readline() == "encoder ready\n"
    inference(frames)
    print(peer.stdout.read(), end="")
    sys.exit(peer.wait(30))
