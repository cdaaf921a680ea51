"""A filter's network with glibc's default heap against :func:`streamstyle.heap.keep_freed_memory`, side by side.

Each configuration runs in a process of its own (the setting is process-wide), taking turns for
``--rounds`` rounds: the ``starry`` filter, model only, bf16 channels_last (as ``stylize`` runs it
on a CPU with bf16), on random frames at 640x360 and 1280x720. Printed per size: the median
seconds per frame after the first (the first pays one-time costs), page faults per frame, and
the peak resident memory of the process.

    python bench/heap.py [--rounds 3] [--frames 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys

import torch

from streamstyle.device import cpu_name

PROBE = """
import resource, statistics, sys, time, torch
from streamstyle.heap import keep_freed_memory
from streamstyle.stages import Stylize
if sys.argv[1] == "keep":
    assert keep_freed_memory()
width, height, frames = map(int, sys.argv[2:5])
model = Stylize("starry", compile="off").model.eval().to(dtype=torch.bfloat16, memory_format=torch.channels_last)
frame = torch.rand(1, 3, height, width).mul(255).bfloat16().contiguous(memory_format=torch.channels_last)
seconds, faults = [], []
with torch.inference_mode():
    for _ in range(frames):
        before, started = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        model(frame)
        seconds.append(time.perf_counter() - started)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(statistics.median(seconds[1:]), statistics.median(faults[1:]), peak)
"""
SIZES = ((640, 360), (1280, 720))
MODES = ("default", "keep")


def measure(mode: str, width: int, height: int, frames: int) -> tuple[float, float, float]:
    """Seconds and page faults per frame after the first, and peak memory in MB, of one process."""
    command = [sys.executable, "-c", PROBE, mode, str(width), str(height), str(frames)]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
    seconds, faults, peak = map(float, output)
    return seconds, faults, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=5)
    args = parser.parse_args()
    print(f"# CPU {cpu_name()}, {torch.get_num_threads()} threads; torch {torch.__version__}; starry, bf16, model only")
    print(f"# median of {args.rounds} rounds, the configurations of a round in turn, each in its own process")
    for width, height in SIZES:
        runs: dict[str, list[tuple[float, float, float]]] = {mode: [] for mode in MODES}
        for _ in range(args.rounds):
            for mode in MODES:
                runs[mode].append(measure(mode, width, height, args.frames))
        default = statistics.median(run[0] for run in runs["default"])
        for mode in MODES:
            seconds, faults, peak = (statistics.median(run[i] for run in runs[mode]) for i in range(3))
            print(
                f"{width}x{height}  {mode:<8} {seconds * 1000:7.0f} ms/frame  {default / seconds:5.2f}x"
                f"  {faults:9.0f} page faults/frame  peak {peak:6.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
