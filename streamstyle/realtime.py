"""Keeping up with a live source: the processing scale at which a filter runs at the source's rate."""

from __future__ import annotations

import math

from streamstyle.device import resolve_device, resolve_precision
from streamstyle.stages import Stylize

PROBE_SIDE = 256
"""The timing probe runs the network on a frame of about this short side."""
HEADROOM = 0.8
"""Share of the frame interval the network may use (the rest is capture, conversion, display)."""
MIN_SCALE = 0.1


def fit_scale(stage: Stylize, width: int, height: int, fps: float, *, device: str = "auto") -> tuple[float, float]:
    """The largest processing scales (<= 1, in steps of 0.05) at which ``stage``'s filter keeps up with ``fps``:
    eager, and compiled (the same with ``compile`` off).

    Times the stage's eager network (already loaded; moved to ``device`` here, as the pipeline would) on a probe
    frame, without compiling anything for the probe's size, and counts on the speed-up compiling brought before
    (:meth:`~streamstyle.stages.Stylize.expected_speedup`). It assumes time grows with the number of pixels,
    which holds for these fully convolutional networks above a few hundred pixels a side.
    """
    target = resolve_device(device)
    stage.to(target, resolve_precision("auto", target))
    ratio = PROBE_SIDE / min(width, height)
    probe_height, probe_width = max(16, round(height * ratio)), max(16, round(width * ratio))
    seconds_per_pixel = stage.network_seconds(probe_height, probe_width) / (probe_height * probe_width)
    speedup = stage.expected_speedup(probe_height, probe_width)
    frame_seconds = seconds_per_pixel * width * height
    return _largest_scale(frame_seconds, fps), _largest_scale(frame_seconds / speedup, fps)


def _largest_scale(frame_seconds: float, fps: float) -> float:
    """The largest scale in steps of 0.05, between MIN_SCALE and 1, at which a frame of ``frame_seconds`` at
    scale 1 takes at most the share HEADROOM of the frame interval (time grows with the pixels)."""
    scale = math.sqrt(HEADROOM / fps / frame_seconds)
    return max(MIN_SCALE, min(1.0, math.floor(scale * 20) / 20))
