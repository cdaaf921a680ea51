"""Tiled against untiled inference of the bundled ``starry`` filter: time, peak memory, PSNR.

For each frame size the sample photo is upscaled to it and stylised twice, each run in its
own process so that the peak resident memory (``ru_maxrss``) belongs to that run alone: once
whole, once in the tiles :func:`streamstyle.stages.tiling.plan_tiles` chooses for a memory budget
(``--budget-mb``). Reported: seconds for the forward pass, the growth of peak RSS during it,
the tile side, and the PSNR of the tiled output against the untiled one (both as uint8).

    OMP_NUM_THREADS=1 python bench/tiling.py                       # 1920x1080 and 3840x2160
    python bench/tiling.py --sizes 1920x1080 --budget-mb 512
    python bench/tiling.py --sizes 3840x2160 --skip-untiled        # the untiled 4K run is slow
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from streamstyle.filters import find_filter
from streamstyle.stages.tiling import TilePlan, forward_bytes_per_pixel, plan_tiles, tiled_forward

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample.jpg"


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def photo(width: int, height: int) -> torch.Tensor:
    image = Image.open(SAMPLE).convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    return torch.from_numpy(np.asarray(image).copy()).permute(2, 0, 1)[None].float()


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kilobytes on Linux


def worker(width: int, height: int, tile: int, output: Path) -> None:
    """One run (``tile`` 0: whole frame): prints a JSON line, saves the uint8 output to ``output``."""
    model = find_filter("starry").load_model()
    frames = photo(width, height)
    with torch.inference_mode():
        model(torch.zeros(1, 3, 64, 64))  # load the kernels before the baseline
    baseline = peak_rss()
    start = time.perf_counter()
    with torch.inference_mode():
        result = tiled_forward(model, frames, tile=tile) if tile else model(frames)
    seconds = time.perf_counter() - start
    growth = peak_rss() - baseline
    np.save(output, result.clamp(0, 255).round().to(torch.uint8).numpy())
    print(json.dumps({"seconds": seconds, "peak_growth": growth}))


def run_case(width: int, height: int, tile: int, output: Path) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", f"{width}x{height}", str(tile), str(output)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(1920, 1080), (3840, 2160)])
    parser.add_argument("--budget-mb", type=float, default=1024.0, help="memory budget the tiles are planned for")
    parser.add_argument("--skip-untiled", action="store_true", help="no untiled run (and no PSNR)")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        size, tile, output = args.worker
        worker(*parse_size(size), int(tile), Path(output))
        return
    model = find_filter("starry").load_model()
    per_pixel = forward_bytes_per_pixel(model, device=torch.device("cpu"), dtype=torch.float32)
    budget = int(args.budget_mb * 2**20)
    cpu = platform.processor() or platform.machine()
    print(f"# starry (johnson_in), fp32, {cpu}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads")
    print(f"# planned peak {per_pixel:.0f} bytes/pixel, budget {args.budget_mb:.0f} MiB; peak = growth of peak RSS")
    print()
    print("| frame | run | tile | seconds | peak MiB | PSNR vs untiled |")
    print("|---|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for width, height in args.sizes:
            plan = plan_tiles(1, height, width, bytes_per_pixel=per_pixel, budget=budget) or TilePlan(chunk=1)
            if plan.tile is None:
                print(f"| {width}x{height} | fits the budget whole: no tiling | | | | |")
                continue
            untiled_path, tiled_path = Path(folder, "untiled.npy"), Path(folder, "tiled.npy")
            if not args.skip_untiled:
                whole = run_case(width, height, 0, untiled_path)
                mib = whole["peak_growth"] / 2**20
                print(f"| {width}x{height} | untiled | | {whole['seconds']:.1f} | {mib:.0f} | |", flush=True)
            tiled = run_case(width, height, plan.tile, tiled_path)
            quality = "" if args.skip_untiled else f"{psnr(np.load(tiled_path), np.load(untiled_path)):.1f} dB"
            mib = tiled["peak_growth"] / 2**20
            row = f"| {width}x{height} | tiled | {plan.tile} | {tiled['seconds']:.1f} | {mib:.0f} | {quality} |"
            print(row, flush=True)


if __name__ == "__main__":
    main()
