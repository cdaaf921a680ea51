"""``streamstyle batch`` here and on Ray with 1 and 2 workers: files/s and frames/s, side by side in one run.

Copies the bundled sample (75 frames of 640x360 with audio) ``--files`` times into a temporary
folder and runs, as a user types them (the console script):

- ``batch`` in one process (all cores);
- ``batch --ray`` with one worker of all cores, and with two workers of half the cores each.

Each run's wall time includes its start (Ray's, and each worker's import of PyTorch); the
time to the first finished file is printed apart, and from the per-file time and that start
the time N workers (N GPUs) would take is projected: start + ceil(files / N) x per-file time.

    python bench/scale.py                 # 4 files
    python bench/scale.py --files 8 --style wave
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "sample.mp4"
SAMPLE_FRAMES = 75


def timed_batch(inputs: Path, out: Path, style: str, extra: list[str]) -> tuple[float, float]:
    """Wall seconds of a batch, and seconds until its first output appeared."""
    command = ["streamstyle", "batch", str(inputs), "-o", str(out), "-s", style, "-q", *extra]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = math.nan
    while process.poll() is None:
        if math.isnan(first) and out.exists() and any(out.glob("*.mp4")):
            first = time.perf_counter() - started
        time.sleep(0.05)
    wall = time.perf_counter() - started
    _, stderr = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {stderr.strip()[-500:]}")
    return wall, first if not math.isnan(first) else wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--style", default="starry")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    runs = {
        "here, 1 process": [],
        "ray, 1 worker": ["--ray", "--cpus-per-worker", str(cores)],
        "ray, 2 workers": ["--ray", "--cpus-per-worker", str(max(1, cores // 2))],
    }
    frames = args.files * SAMPLE_FRAMES
    print(f"# {args.files} files x {SAMPLE_FRAMES} frames of 640x360, style {args.style}, {cores} cores")
    print(f"{'run':<16} {'wall s':>7} {'first s':>8} {'files/s':>8} {'frames/s':>9}")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        inputs = Path(folder) / "in"
        inputs.mkdir()
        for index in range(args.files):
            shutil.copy(SAMPLE, inputs / f"clip{index:02d}.mp4")
        for name, extra in runs.items():
            out = Path(folder) / name.replace(" ", "").replace(",", "_")
            wall, first = timed_batch(inputs, out, args.style, extra)
            results[name] = (wall, first)
            print(f"{name:<16} {wall:7.1f} {first:8.1f} {args.files / wall:8.3f} {frames / wall:9.2f}")
    one, two = results["ray, 1 worker"][0], results["ray, 2 workers"][0]
    print(f"# 2 workers against 1 on Ray: {one / two:.2f}x; Ray against one process: "
          f"{results['here, 1 process'][0] / one:.2f}x")  # fmt: skip
    wall, first = results["ray, 1 worker"]
    per_file = (wall - first) / max(1, args.files - 1)
    start = first - per_file
    print(f"# measured: start {start:.1f} s (Ray and a worker), {per_file:.1f} s per file per worker")
    for workers in (1, 2, 4, 8):
        projected = start + math.ceil(args.files / workers) * per_file
        print(f"# projected, {workers} worker(s) of this speed: {projected:.1f} s for {args.files} files")


if __name__ == "__main__":
    main()
