"""How soon the live camera shows its first stylised frame, and how fast it runs while and after it compiles.

Runs ``python -m streamstyle camera`` (the console script's entry point) with its default looks
(on a CPU the light filters: ``starry_light`` and the six banks of ``stylebank``) and
``--scale auto``, on a 30 fps 640x360 test
source (``lavfi:testsrc``, paced in real time, standing in for a camera), streaming MPEG-TS over TCP
to a receiver in this process. For each configuration, with an empty cache folder (cold) and again
with the one that run left (warm), it prints the seconds from launch to the first received frame,
the frames received per second in each ``--window`` seconds from then on (while the looks compile
in the background, then after), and the processing scales the camera chose (eager -> compiled).
``--before DIR`` also runs another checkout of the project.

    python bench/camera_start.py [--seconds 90] [--window 10] [--before ../streamstyle-old]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import av

from streamstyle.device import cpu_name

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run(args: list[str], cache: Path, seconds: float, checkout: Path) -> tuple[float, list[float], str]:
    """Launch the camera on the test source: the arrival times of its frames after launch, and its scales."""
    port = free_port()
    arrivals: list[float] = []

    def receive() -> None:
        options = {"analyzeduration": "500000", "fpsprobesize": "0"}
        with av.open(f"tcp://127.0.0.1:{port}?listen=1", format="mpegts", options=options, timeout=(600, 30)) as inp:
            for _ in inp.decode(video=0):
                arrivals.append(time.monotonic())

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()
    time.sleep(0.5)
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": str(checkout)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    source = f"lavfi:testsrc=size=640x360:rate=30:duration={seconds:g}"
    launched = time.monotonic()
    job = subprocess.run(
        [sys.executable, "-m", "streamstyle", "camera", source, "-o", f"tcp://127.0.0.1:{port}", "-f", "mpegts",
         *args],
        cwd=checkout, env=env, capture_output=True, text=True,
    )  # fmt: skip
    if job.returncode != 0:
        raise RuntimeError(f"streamstyle camera failed: {job.stderr[-800:]}")
    receiver.join(timeout=60)
    scale = re.search(r"processing scale ([\d.]+)(?:, ([\d.]+) once compiled)?", job.stderr)
    scales = "?" if scale is None else scale.group(1) + (f" -> {scale.group(2)}" if scale.group(2) else "")
    return launched, arrivals, scales


def rate(arrivals: list[float], start: float, stop: float) -> float:
    return sum(start <= at < stop for at in arrivals) / (stop - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=90.0, help="length of the test source")
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--before", type=Path, help="another checkout of the project, run too")
    args = parser.parse_args()
    checkouts = {"now": ROOT} | ({"before": args.before.resolve()} if args.before else {})
    print(f"# {cpu_name()}, {os.cpu_count()} cores; source 640x360 at 30 fps for {args.seconds:g} s; default looks")
    print(f"| checkout | --compile | cache | first frame after | received fps, each {args.window:g} s | scale |")
    print("|---|---|---|---:|---|---:|")
    with tempfile.TemporaryDirectory(prefix="streamstyle-camera-") as scratch:
        for label, checkout in checkouts.items():
            for mode in ("off", "auto"):
                cache = Path(scratch) / label / mode
                for state in ("cold", "warm") if mode != "off" else ("-",):
                    launched, arrivals, scales = run(["--compile", mode], cache, args.seconds, checkout)
                    starts = [arrivals[0] + args.window * index for index in range(int(args.seconds // args.window))]
                    rates = " ".join(f"{rate(arrivals, start, start + args.window):.1f}" for start in starts)
                    print(
                        f"| {label} | {mode} | {state} | {arrivals[0] - launched:.1f} s | {rates} | {scales} |",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
