"""Keeping up with a live source: the processing scale at which a filter runs at the source's rate."""

from __future__ import annotations

import math
import time
from fractions import Fraction

import torch

from streamstyle.device import resolve_device, resolve_precision
from streamstyle.frames import FrameBatch
from streamstyle.stages import Stylize

PROBE_SIDE = 256
"""The timing probe runs the network on a frame of about this short side."""
HEADROOM = 0.8
"""Share of the frame interval the network may use (the rest is capture, conversion, display)."""
MIN_SCALE = 0.1


def fit_scale(stage: Stylize, width: int, height: int, fps: float, *, device: str = "auto") -> float:
    """The largest processing scale (<= 1, in steps of 0.05) at which ``stage``'s filter keeps up with ``fps``.

    Times the stage's network (already loaded; moved to ``device`` here, as the pipeline would)
    on a probe frame at scale 1 and assumes time grows with the number of pixels, which holds
    for these fully convolutional networks above a few hundred pixels a side.
    """
    target = resolve_device(device)
    stage.to(target, resolve_precision("auto", target))
    ratio = PROBE_SIDE / min(width, height)
    size = (max(16, round(height * ratio)), max(16, round(width * ratio)))
    pixels = torch.randint(0, 256, (1, 3, *size), dtype=torch.uint8, device=target)
    batch = FrameBatch(pixels=pixels, pts=torch.zeros(1, dtype=torch.int64), time_base=Fraction(1, 25))
    stage(batch)  # warm-up: kernels, allocator
    started = time.perf_counter()
    stage(batch)
    if target.type == "cuda":
        torch.cuda.synchronize(target)
    seconds_per_pixel = (time.perf_counter() - started) / (size[0] * size[1])
    budget = HEADROOM / fps
    scale = math.sqrt(budget / (seconds_per_pixel * width * height))
    return max(MIN_SCALE, min(1.0, math.floor(scale * 20) / 20))
