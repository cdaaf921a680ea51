"""A real peer process for the live tests: sends a synthetic clip as a network stream.

    python tests/stream_peer.py URL FORMAT FRAMES [--rate R] [--size WxH] [--forever]

Frames are :func:`conftest.moving_pattern` at ``R`` fps, H.264 (zerolatency, a key frame
every 5 frames), paced in real time. It retries connecting for up to 20 s, so it can be
started before the receiver listens; it prints ``connected`` on stderr once connected.
"""

from __future__ import annotations

import argparse
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import av.error

sys.path.insert(0, str(Path(__file__).parent))
from conftest import moving_pattern


def connect(url: str, format: str, deadline: float) -> av.container.OutputContainer:
    while True:
        try:
            container = av.open(url, "w", format=format, options={"rtsp_transport": "tcp"} if format == "rtsp" else {})
            return container
        except (av.error.ConnectionRefusedError, av.error.ExitError, av.error.TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("format")
    parser.add_argument("frames", type=int)
    parser.add_argument("--rate", type=int, default=25)
    parser.add_argument("--size", default="64x48")
    parser.add_argument("--forever", action="store_true", help="loop until killed")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    deadline = time.monotonic() + 20
    while True:
        try:
            container = connect(args.url, args.format, deadline)
            stream = container.add_stream("libx264", rate=args.rate)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.gop_size, stream.codec_context.max_b_frames = 5, 0
            stream.options = {"tune": "zerolatency", "preset": "ultrafast"}
            container.start_encoding()
            print("connected", file=sys.stderr, flush=True)
            break
        except (av.error.ConnectionRefusedError, av.error.BrokenPipeError, av.error.ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)  # rtsp: the listener accepted the TCP connection before it was ready
    started = time.monotonic()
    index = 0
    while index < args.frames or args.forever:
        frame = av.VideoFrame.from_ndarray(moving_pattern(index, width, height), format="rgb24")
        frame.pts, frame.time_base = index, Fraction(1, args.rate)
        container.mux(stream.encode(frame))
        index += 1
        time.sleep(max(0.0, started + index / args.rate - time.monotonic()))
    container.mux(stream.encode(None))
    container.close()
    print(f"sent {index}", file=sys.stderr)


if __name__ == "__main__":
    main()
