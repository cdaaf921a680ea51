"""Eager networks on the CPU: InstanceNorm as torch's ``instance_norm`` or as ``group_norm``, NCHW or channels_last.

``streamstyle.models.layers.InstanceNorm2d`` runs as a GroupNorm of one channel per group on the
CPU. This measures why, side by side in one run (round-robin over the variants, median of the
rounds), per network and precision, model only, on the bundled sample photo (640x360). A network
is an installed filter (its weights) or an architecture (random weights):

- ``instance_norm NCHW``: torch's InstanceNorm in the contiguous layout (what ran before);
- ``instance_norm NHWC``: torch's InstanceNorm on channels_last frames;
- ``group_norm NCHW`` and ``group_norm NHWC``: the layer as it is.

It prints frames per second, the ratio to the first variant and the PSNR of each output against
torch's InstanceNorm in fp32 (uint8 frames).

    python bench/norm.py [--networks starry,starry_light,stylebank,depsep_nn] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

from streamstyle.benchmark import psnr
from streamstyle.device import cpu_name
from streamstyle.filters import list_filters
from streamstyle.io.media import read_image
from streamstyle.models import build_model
from streamstyle.models.layers import InstanceNorm2d
from streamstyle.stages import Stylize

PHOTO = Path(__file__).resolve().parents[1] / "samples" / "sample.jpg"

LAYOUTS = {"NCHW": torch.contiguous_format, "NHWC": torch.channels_last}
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


@contextmanager
def norm_as(kind: str) -> Iterator[None]:
    """Inside it the layer runs as ``kind``: ``group_norm`` (its own forward) or torch's ``instance_norm``."""
    own = InstanceNorm2d.forward
    if kind == "instance_norm":
        InstanceNorm2d.forward = nn.InstanceNorm2d.forward  # type: ignore[method-assign]
    try:
        yield
    finally:
        InstanceNorm2d.forward = own  # type: ignore[method-assign]


def seconds_per_frame(model: nn.Module, frames: torch.Tensor, runs: int) -> float:
    with torch.inference_mode():
        model(frames)
        started = time.perf_counter()
        for _ in range(runs):
            model(frames)
    return (time.perf_counter() - started) / runs


def as_bytes(frames: torch.Tensor) -> torch.Tensor:
    return frames.float().clamp(0, 255).round().byte()


def load_network(name: str) -> tuple[nn.Module, str]:
    """An installed filter's network (a StyleBank as its first style), else the architecture with random weights."""
    if any(item.name == name for item in list_filters()):
        return Stylize(name, compile="off").model.eval(), name
    torch.manual_seed(0)
    return build_model(name).eval(), "random"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", default="starry,starry_light,stylebank,depsep,depsep_nn,depsep_nn_bil,fusion")
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3, help="frames per measurement")
    args = parser.parse_args()
    frames = torch.from_numpy(read_image(PHOTO).copy()).permute(2, 0, 1)[None].float()
    height, width = frames.shape[-2:]
    threads = torch.get_num_threads()
    print(f"# CPU {cpu_name()}, {threads} threads; torch {torch.__version__}; {width}x{height}, model only")
    print(f"# median of {args.rounds} rounds, the variants of a round in turn; PSNR against instance_norm in fp32")
    variants = [(norm, layout) for norm in ("instance_norm", "group_norm") for layout in LAYOUTS]
    for name in args.networks.split(","):
        model, weights = load_network(name)
        with norm_as("instance_norm"), torch.inference_mode():
            reference = as_bytes(model(frames))
        for precision in args.precisions.split(","):
            dtype = PRECISIONS[precision]
            seconds: dict[tuple[str, str], list[float]] = {variant: [] for variant in variants}
            quality: dict[tuple[str, str], float] = {}
            for _ in range(args.rounds):
                for norm, layout in variants:
                    memory = LAYOUTS[layout]
                    network = model.to(dtype=dtype, memory_format=memory)
                    pixels = frames.to(dtype).contiguous(memory_format=memory)
                    with norm_as(norm):
                        seconds[(norm, layout)].append(seconds_per_frame(network, pixels, args.runs))
                        with torch.inference_mode():
                            quality[(norm, layout)] = psnr(as_bytes(network(pixels)), reference)
            before = statistics.median(seconds[variants[0]])
            for variant in variants:
                middle = statistics.median(seconds[variant])
                print(
                    f"{name:<14} {weights:<14} {precision:<5} {variant[0]:<14} {variant[1]}  {1 / middle:6.2f} fps"
                    f"  {before / middle:5.2f}x  PSNR {quality[variant]:6.1f} dB",
                    flush=True,
                )
            model = model.float()


if __name__ == "__main__":
    main()
