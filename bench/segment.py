"""Milliseconds per frame of each segmenter, alone and followed by region stylisation.

Measured side by side in one run (round-robin over the configurations, median of the rounds),
at 640x360 and 1280x720, segmenter at its default 520 px short side (capped at the frame's),
random weights (no pretrained weights exist offline; speed does not depend on them), and a
random-weight johnson_in filter for ``stylize=...:region=background``. Each segmenter also runs
in the NCHW memory format, to show what channels_last (the stage's layout) gains.

    python bench/segment.py [--device cpu] [--precision auto] [--rounds 3] [--batch-size 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import torch

from streamstyle import FrameBatch, Stylize
from streamstyle.benchmark import write_random_filter
from streamstyle.device import cpu_name, resolve_precision
from streamstyle.stages import Segment, Stage
from streamstyle.stages.segmenters import SEGMENTERS

SIZES = ((640, 360), (1280, 720))


def run_ms(stages: list[Stage], batch: FrameBatch) -> float:
    if batch.pixels.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for stage in stages:
        batch = stage(batch)
    if batch.pixels.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000 / len(batch)


def in_nchw(segment: Segment) -> Segment:
    """``segment`` with its network in the NCHW memory format, fed NCHW frames."""
    network = segment.segmenter.model.to(memory_format=torch.contiguous_format)
    network.register_forward_pre_hook(lambda _module, args: (args[0].contiguous(),))
    return segment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="auto", help="auto (the pipeline's choice), fp32, bf16, fp16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    device = torch.device(args.device)
    dtype = resolve_precision(args.precision, device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else cpu_name()
    print(f"# {name}, torch {torch.__version__}, {torch.get_num_threads()} threads, {dtype}, batch {args.batch_size}")
    with tempfile.TemporaryDirectory() as scratch:
        style = write_random_filter(Path(scratch) / "random_johnson_in")
        stylize = Stylize(str(style), region="background").to(device, dtype)
        plain = Stylize(str(style)).to(device, dtype)
        for width, height in SIZES:
            pixels = torch.randint(0, 256, (args.batch_size, 3, height, width), dtype=torch.uint8, device=device)
            batch = FrameBatch(pixels, torch.arange(args.batch_size), Fraction(1, 25), source=pixels)
            configs: dict[str, list[Stage]] = {"stylize alone (johnson_in)": [plain]}
            for model in SEGMENTERS:
                segment = Segment(model=model, size=min(520, height), weights="random").to(device, dtype)
                configs[f"{model} alone"] = [segment]
                nchw = Segment(model=model, size=min(520, height), weights="random").to(device, dtype)
                configs[f"{model} alone, NCHW"] = [in_nchw(nchw)]
                configs[f"{model} + stylize"] = [segment, stylize]
            times: dict[str, list[float]] = {label: [] for label in configs}
            for stages in configs.values():
                run_ms(stages, batch)  # warm-up
            for _ in range(args.rounds):
                for label, stages in configs.items():
                    times[label].append(run_ms(stages, batch))
            print(f"\n## {width}x{height}: median of {args.rounds} rounds\n")
            print("| configuration | ms/frame | fps |")
            print("|---|---:|---:|")
            for label, values in times.items():
                ms = statistics.median(values)
                print(f"| {label} | {ms:.0f} | {1000 / ms:.2f} |")


if __name__ == "__main__":
    main()
