"""Seconds per frame of the johnson_in network alone and of the whole file pipeline.

Both are measured in one run on the same machine, on random weights (speed does not depend
on the values). The file pipeline stylises samples/sample.mp4 (640x360, 75 frames, AAC audio)
to a temporary H.264 file.

    python bench/pipeline.py [--device cpu] [--batch-size 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from random_filter import write_random_filter

from streamstyle import stylize_file
from streamstyle.models import build_model

SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "sample.mp4"


def model_seconds_per_frame(device: torch.device, batch_size: int, repeats: int) -> float:
    model = build_model("johnson_in").eval().to(device)
    frames = torch.rand(batch_size, 3, 360, 640, device=device) * 255
    with torch.inference_mode():
        model(frames)  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(frames)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append((time.perf_counter() - start) / batch_size)
    return statistics.median(times)


def pipeline_seconds_per_frame(device: str, batch_size: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = write_random_filter(Path(scratch) / "bench")
        summary = stylize_file(
            SAMPLE, Path(scratch) / "out.mp4", style=str(folder), device=device, batch_size=batch_size
        )
    return summary.seconds / summary.frames, summary.frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the engine's (1 on CPU, 4 on CUDA)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = args.batch_size or (4 if device.type == "cuda" else 1)  # the engine's default
    print(
        f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"torch {torch.__version__}, device {device}"
    )
    model = model_seconds_per_frame(device, batch, args.repeats)
    print(f"johnson_in alone, 640x360, batch {batch}: {model:.3f} s/frame ({1 / model:.2f} fps)")
    whole, frames = pipeline_seconds_per_frame(args.device, batch)
    print(
        f"file pipeline (decode+stylise+encode+audio remux), {frames} frames 640x360: "
        f"{whole:.3f} s/frame ({1 / whole:.2f} fps)"
    )
    print(f"pipeline / model time: {whole / model:.2f}")


if __name__ == "__main__":
    main()
