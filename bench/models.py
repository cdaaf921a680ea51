"""Parameters, GFLOPs and speed of every network, measured side by side in one run.

For each network: parameters (all, and conv-only as the seeds count them), GFLOPs per frame
(torch's FlopCounterMode; one multiply-add = 2 FLOPs) at 256x256, 640x360 and 1920x1080, and
milliseconds per frame at the timed sizes, in fp32 (and fp16 on CUDA). Timings are taken
round-robin over the networks (every round times each network once), so machine noise hits
all alike; the median of the rounds is reported, with the ratio to ``johnson`` next to the
seeds' claims.

    python bench/models.py                        # CPU: times 256x256 and 640x360
    python bench/models.py --device cuda --sizes 256x256 640x360 1920x1080
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from streamstyle.models import ARCHITECTURES, build_model, count_conv_parameters, count_parameters

FLOP_SIZES = ((256, 256), (640, 360), (1920, 1080))
SEED_CLAIMS = {  # time relative to Johnson et al. in the seeds
    "fusion": "0.88 (seed 000: 12% faster)",
    "depsep": "0.74 (seed 003: 26.1% less)",
    "depsep_nn_bil": "0.61 (seed 003: 39.1% less)",
    "depsep_nn": "0.43 (seed 003: 57.1% less)",
}


def parse_size(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def gflops(model: torch.nn.Module, width: int, height: int) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.rand(1, 3, height, width))
    return counter.get_total_flops() / 1e9


def time_round(model: torch.nn.Module, frames: torch.Tensor) -> float:
    """Milliseconds per frame for one forward pass of the batch."""
    if frames.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.inference_mode():
        model(frames)
    if frames.is_cuda:
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1000 / frames.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--sizes", nargs="+", type=parse_size, default=[(256, 256), (640, 360)])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=1)
    args = parser.parse_args()
    device = torch.device(args.device)
    names = sorted(ARCHITECTURES, key=lambda n: (n != "johnson", n))
    models = {name: build_model(name).eval() for name in names}
    models["johnson_in width=16"] = build_model("johnson_in", width=16).eval()  # a light option for live CPU use
    name = torch.cuda.get_device_name() if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"# {name}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, batch {args.batch_size}")
    print()
    print("| network | parameters | conv parameters | " + " | ".join(f"GFLOPs {w}x{h}" for w, h in FLOP_SIZES) + " |")
    print("|---|---:|---:|" + "---:|" * len(FLOP_SIZES))
    for name, model in models.items():
        flops = " | ".join(f"{gflops(model, w, h):.1f}" for w, h in FLOP_SIZES)
        print(f"| {name} | {count_parameters(model):,} | {count_conv_parameters(model):,} | {flops} |")
    precisions = [torch.float32] + ([torch.float16] if device.type == "cuda" else [])
    for dtype in precisions:
        for width, height in args.sizes:
            frames = torch.rand(args.batch_size, 3, height, width, device=device, dtype=dtype) * 255
            frames = frames.contiguous(memory_format=torch.channels_last)  # the layout stylize runs them in
            ready = {n: m.to(device=device, dtype=dtype, memory_format=torch.channels_last) for n, m in models.items()}
            times: dict[str, list[float]] = {n: [] for n in ready}
            for m in ready.values():
                time_round(m, frames)  # warm-up
            for _ in range(args.rounds):
                for n, m in ready.items():
                    times[n].append(time_round(m, frames))
            medians = {n: statistics.median(t) for n, t in times.items()}
            print()
            print(f"## {width}x{height}, {str(dtype).removeprefix('torch.')}, {device}: median of {args.rounds} rounds")
            print("| network | ms/frame | fps | time vs johnson | seeds' claim |")
            print("|---|---:|---:|---:|---|")
            for n, ms in medians.items():
                ratio = ms / medians["johnson"]
                print(f"| {n} | {ms:.1f} | {1000 / ms:.1f} | {ratio:.2f} | {SEED_CLAIMS.get(n, '')} |")


if __name__ == "__main__":
    main()
