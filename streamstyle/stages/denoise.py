"""The denoise stage: a motion-compensated temporal filter of the input, so the network sees steady frames.

A feed-forward style network turns small changes between frames (sensor and codec noise,
flickering light, sub-pixel jitter) into different strokes: most of the flicker of per-frame
stylisation starts in the input. This stage averages each frame with the previous filtered
frame carried along the motion (:class:`~streamstyle.temporal.flow.Motion`), where the flow passes the
forward-backward check: a recursive filter along motion trajectories, as classic video
denoisers do. Unlike blending the stylised frames (:mod:`streamstyle.stages.stabilize`), every
output frame is still the network's own rendering, so strokes keep their look: on the real
clips it removes most of the flicker while the style loss moves a few percent at most (README,
Flicker).

Put it before the network. It filters the frames as they entered the graph and makes the result
the batch's source, so region stylisation sees the filtered frames; the motion it measures on
the unfiltered frames rides on the batch for a later ``stabilize``.
"""

from __future__ import annotations

from streamstyle.errors import InvalidOptionError
from streamstyle.frames import FrameBatch
from streamstyle.stages.base import Param, parse_range
from streamstyle.stages.recursive import RecursiveFilter
from streamstyle.temporal.scenecut import CUT_THRESHOLD

MAX_STRENGTH = 0.95
"""Strongest filter: at 1 the trusted parts of the frame would never change again."""


class Denoise(RecursiveFilter):
    """Average each frame with the previous filtered frame carried along the motion, where the flow is trusted.

    State carries across batches (see :class:`~streamstyle.stages.recursive.RecursiveFilter`).

    Args:
        strength: weight of the carried previous frame where the flow is trusted; 0 turns the
            stage off; at 0.9 a trusted pixel averages about the last 10 frames along its motion.
        cut: scene-cut threshold of :class:`~streamstyle.temporal.scenecut.SceneCuts` (see
            :class:`~streamstyle.stages.stabilize.Stabilize`).

    Raises:
        InvalidOptionError: an option out of range; or, when called, frames some earlier stage
            already changed (the stage filters the input: put it before the network).
    """

    name = "denoise"
    params = (
        Param("strength", parse_range(0.0, MAX_STRENGTH), 0.9, "0 = off, 0.9 = about 10 frames averaged", primary=True),
        Param("cut", parse_range(0.0, 1.0, low_open=True), CUT_THRESHOLD, "scene-cut threshold (0..1)"),
    )

    def __init__(self, strength: float = 0.9, *, cut: float = CUT_THRESHOLD) -> None:
        super().__init__(strength, cut=cut)

    def __call__(self, batch: FrameBatch) -> FrameBatch:
        if self.strength == 0.0:
            return batch
        if batch.source is not None and batch.source is not batch.pixels:
            raise InvalidOptionError("denoise filters the input frames: put it before the stages that change them")
        pixels, motion = self.filter(batch)
        return FrameBatch(pixels, batch.pts, batch.time_base, masks=batch.masks, source=pixels, motion=motion)
