"""Glass-to-glass latency and sustained fps of a live stream through ``streamstyle``.

A sender process streams a 30 fps clip (MPEG-TS over TCP) into a ``streamstyle`` process,
which stylises it and streams it on to a receiver (this process). Every sent frame carries
its number in pixels: a strip of large blocks (two reference blocks, white and black, then
10 bits of frame number and a 10-bit check), classified at the receiver by which reference
block each looks more like. Where a network's strokes still break the stamp, the number
comes from the frame's timestamp, which streamstyle keeps, calibrated on a straight
sender-to-receiver run (also printed, as the floor). Latency is
receive time minus send time of the same frame (one machine, one monotonic clock); the
first seconds after the first received frame are left out (start-up).

    python bench/live.py [--seconds 20] [--sizes 640x360,1280x720] [--networks lightest,starry]

Networks: ``starry`` (the default network, johnson_in) and ``stylebank`` (the lightest one,
random weights: speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from streamstyle.benchmark import write_random_filter

BITS, CHECK_BITS = 10, 10
RATE = 30
WARM_UP = 3.0
"""Seconds after the first received frame that are left out of the figures (start-up, probing)."""


def stamp(rgb: np.ndarray, number: int) -> None:
    """Draw ``number`` into the top strip of ``rgb`` (in place)."""
    width = rgb.shape[1]
    block = width // (2 + BITS + CHECK_BITS)
    number %= 1 << BITS
    code = number | (_check(number) << BITS)
    values = [255, 0] + [255 if code >> bit & 1 else 0 for bit in range(BITS + CHECK_BITS)]
    for index, value in enumerate(values):
        rgb[:block, index * block : (index + 1) * block] = value


def read_stamp(rgb: np.ndarray) -> int | None:
    """The frame number in a stamped (and maybe stylised) frame, or ``None`` if the check fails."""
    width = rgb.shape[1]
    block = width // (2 + BITS + CHECK_BITS)
    inner = slice(block // 4, block - block // 4)

    def colour(index: int) -> np.ndarray:
        return rgb[inner, index * block : (index + 1) * block][:, inner].reshape(-1, 3).astype(float).mean(axis=0)

    white, black = colour(0), colour(1)
    code = 0
    for bit in range(BITS + CHECK_BITS):
        sample = colour(2 + bit)
        if np.linalg.norm(sample - white) < np.linalg.norm(sample - black):
            code |= 1 << bit
    number, check = code & ((1 << BITS) - 1), code >> BITS
    return number if check == _check(number) else None


def _check(number: int) -> int:
    """Check bits: a multiplicative hash of the number, so a misread passes with odds 1 in 1024.

    The XOR makes the all-black and all-white codes invalid: a network that paints every block
    alike must not read as frame 0 or 1023.
    """
    return ((number * 2654435761 >> 8) ^ 0x2A5) & ((1 << CHECK_BITS) - 1)


def send(url: str, size: tuple[int, int], seconds: float, times_file: Path) -> None:
    """Sender process: stamped moving frames at RATE fps, paced; writes {number: send time}."""
    width, height = size
    deadline = time.monotonic() + 60
    while True:  # the receiver may not listen yet: FFmpeg reports that at open or at the first write
        try:
            container = av.open(url, "w", format="mpegts")
            stream = container.add_stream("libx264", rate=RATE)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.codec_context.gop_size, stream.codec_context.max_b_frames = RATE, 0
            stream.options = {"tune": "zerolatency", "preset": "ultrafast", "crf": "18"}
            container.start_encoding()
            break
        except av.error.ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    y, x = np.mgrid[0:height, 0:width]
    scenes = [
        np.stack([(x * 2 + i * 4) % 256, (y * 3 + i * 2) % 256, (x + y) % 256], -1).astype(np.uint8)
        for i in range(RATE)
    ]
    sent: dict[int, float] = {}
    started = time.monotonic()
    number = 0
    while time.monotonic() - started < seconds:
        rgb = scenes[number % RATE].copy()
        stamp(rgb, number)
        frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        frame.pts, frame.time_base = number, Fraction(1, RATE)
        packets = stream.encode(frame)
        sent[number] = time.monotonic()
        container.mux(packets)
        number += 1
        time.sleep(max(0.0, started + number / RATE - time.monotonic()))
    container.mux(stream.encode(None))
    container.close()
    times_file.write_text(json.dumps(sent))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def measure(
    style: str | None, size: tuple[int, int], seconds: float, filters: Path, pts_offset: int | None = None
) -> dict[str, float]:
    """Stream through ``streamstyle --style style`` (or, with ``style=None``, straight to the receiver).

    A frame's number is its stamp where the stamp survives; otherwise it comes from the frame's
    timestamp (kept by streamstyle): ``(pts - pts_offset) / ticks``, with ``pts_offset`` the
    sender's muxer offset measured on a straight run.
    """
    port_in, port_out = free_port(), free_port()
    received: list[tuple[int | None, int, float]] = []  # (stamp, pts, arrival)

    def receive() -> None:
        url = f"tcp://127.0.0.1:{port_out}?listen=1"
        options = {"analyzeduration": "500000", "fpsprobesize": "0"}  # else a slow stream waits for 20 frames
        with av.open(url, format="mpegts", options=options, timeout=(120, 10)) as container:
            for frame in container.decode(video=0):
                received.append((read_stamp(frame.to_ndarray(format="rgb24")), frame.pts, time.monotonic()))

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    env = {**os.environ, "STREAMSTYLE_FILTER_PATH": str(filters)}
    job = None
    if style is not None:
        job = subprocess.Popen(
            [sys.executable, "-m", "streamstyle", f"tcp://127.0.0.1:{port_in}?listen=1", "--style", style,
             "-o", f"tcp://127.0.0.1:{port_out}", "-f", "mpegts", "--timeout", "10"],
            stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
    with tempfile.TemporaryDirectory() as scratch:
        times_file = Path(scratch) / "sent.json"
        target = port_in if job is not None else port_out
        subprocess.run(
            [sys.executable, __file__, "--send", f"tcp://127.0.0.1:{target}", "--sizes", f"{size[0]}x{size[1]}",
             "--seconds", str(seconds), "--times", str(times_file)],
            env=env, check=True,
        )  # fmt: skip
        sent = {int(k): v for k, v in json.loads(times_file.read_text()).items()}
    stderr = ""
    if job is not None:
        _, stderr = job.communicate(timeout=120)
        if job.returncode != 0:
            raise RuntimeError(f"streamstyle failed: {stderr[-800:]}")
    receiver.join(timeout=30)
    ticks = 90000 // RATE
    stamped = [(number, pts) for number, pts, _ in received if number is not None]
    offset = statistics.median(pts - number * ticks for number, pts in stamped) if stamped else pts_offset
    steady = [item for item in received if item[2] >= received[0][2] + WARM_UP] if received else []
    numbered = [(round((pts - offset) / ticks), at) for _, pts, at in steady] if offset is not None else []
    latencies = sorted(at - sent[number] for number, at in numbered if number in sent)
    span = steady[-1][2] - steady[0][2] if len(steady) > 1 else float("nan")
    return {
        "engine": stderr.strip().splitlines()[-1] if stderr.strip() else "",
        "pts_offset": offset,
        "sent": len(sent),
        "received": len(received),
        "stamps_read": len(stamped),
        "fps": (len(steady) - 1) / span if span else float("nan"),
        "latency_median_ms": 1000 * statistics.median(latencies) if latencies else float("nan"),
        "latency_p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--sizes", default="640x360,1280x720")
    parser.add_argument("--networks", default="lightest,starry", help="of: lightest, starry")
    parser.add_argument("--send", help=argparse.SUPPRESS)
    parser.add_argument("--times", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    sizes = [tuple(int(v) for v in text.split("x")) for text in args.sizes.split(",")]
    if args.send:
        send(args.send, sizes[0], args.seconds, args.times)  # type: ignore[arg-type]
        return
    root = Path(__file__).resolve().parents[1]
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, CPU")
    print(f"# sender {RATE} fps for {args.seconds:g} s, TCP MPEG-TS in and out, streamstyle batch 1 (live)")
    print("| network | size | sent | received | steady fps | stamps read | latency median | latency p95 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as scratch:
        filters = Path(scratch)
        write_random_filter(filters / "lightest", "stylebank")
        (filters / "starry").symlink_to(root / "filters" / "starry")
        labels = {"lightest": "stylebank (lightest)", "starry": "johnson_in (starry, default)"}
        engine_lines = []
        offsets = {}
        for size in sizes:  # the sender's timestamp offset, and the floor: no streamstyle in between
            result = measure(None, size, min(args.seconds, 8.0), filters)  # type: ignore[arg-type]
            offsets[size] = result["pts_offset"]
            print(
                f"| none (sender to receiver) | {size[0]}x{size[1]} | {result['sent']} | {result['received']} "
                f"| {result['fps']:.1f} | {result['stamps_read']} | {result['latency_median_ms']:.0f} ms "
                f"| {result['latency_p95_ms']:.0f} ms |",
                flush=True,
            )
        for style in args.networks.split(","):
            label = labels[style]
            for size in sizes:
                result = measure(style, size, args.seconds, filters, offsets[size])  # type: ignore[arg-type]
                print(
                    f"| {label} | {size[0]}x{size[1]} | {result['sent']} | {result['received']} "
                    f"| {result['fps']:.1f} | {result['stamps_read']} | {result['latency_median_ms']:.0f} ms "
                    f"| {result['latency_p95_ms']:.0f} ms |",
                    flush=True,
                )
                engine_lines.append(f"# {label} {size[0]}x{size[1]}, streamstyle's own summary: {result['engine']}")
        print("\n".join(engine_lines))


if __name__ == "__main__":
    main()
