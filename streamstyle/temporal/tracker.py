"""Motion between consecutive frames of a stream, computed once and shared by the stages that need it.

The temporal stages (:class:`~streamstyle.stages.denoise.Denoise` before the network,
:class:`~streamstyle.stages.stabilize.Stabilize` after it) each carry an image of the previous
frame onto the current one along the motion of the original video. :class:`MotionTracker`
measures that motion per frame: DIS optical flow both ways on the grey frames, shrunk to at most
:data:`FLOW_SIDE`, with the forward-backward check of :func:`~streamstyle.temporal.flow.visibility`;
history is dropped at scene cuts. The first stage to measure it attaches it to the batch
(:attr:`~streamstyle.frames.FrameBatch.motion`), as ffmpeg exports motion vectors as frame side
data, and later stages reuse it: the flow is the costly part of either stage.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from streamstyle.frames import FrameBatch, to_host
from streamstyle.temporal.flow import FlowPreset, Motion, correspondence, gray
from streamstyle.temporal.scenecut import CUT_THRESHOLD, SceneCuts

FLOW_PRESET: FlowPreset = "medium"
"""DIS preset of the flow (``fast`` misplaces strokes enough to undo much of the stabiliser's gain)."""

FLOW_SIDE = 1280
"""Flow is computed on frames shrunk to at most this many pixels on the long side, then upsampled.

At 640 the upsampled flow misplaces strokes by a pixel or so on 720p frames, which costs about
half the flicker reduction there; 1280 costs 0.2 s more per 720p frame on one CPU thread.
"""


class MotionTracker:
    """Measures the motion of each frame from the one before, over a stream of frames given in order.

    State (the last grey frame, the scene-cut detector) carries across calls, so use one
    instance per video, or call :meth:`reset` between videos.

    Args:
        cut: scene-cut threshold of :class:`~streamstyle.temporal.scenecut.SceneCuts`; 1 never cuts.

    Attributes:
        cuts: scene cuts seen so far.
    """

    def __init__(self, cut: float = CUT_THRESHOLD) -> None:
        self._scene_cuts = SceneCuts(cut)
        self._previous: np.ndarray | None = None
        self.cuts = 0

    def reset(self) -> None:
        """Forget the last frame, so the next one has no motion."""
        self._previous = None
        self._scene_cuts.reset()

    def __call__(self, pixels: torch.Tensor) -> tuple[Motion | None, ...]:
        """The motion of each uint8 frame of ``(N, 3, H, W)``; ``None`` for a first frame, a cut or a new size."""
        cuts = self._scene_cuts(pixels)
        motions = []
        for frame, cut in zip(to_host(pixels), cuts, strict=True):
            luma = _shrink(gray(frame))
            previous, self._previous = self._previous, luma
            self.cuts += cut
            if cut or previous is None or previous.shape != luma.shape:
                motions.append(None)
            else:
                motions.append(Motion(correspondence(previous, luma, preset=FLOW_PRESET)))
        return tuple(motions)


def measured_motion(batch: FrameBatch, tracker: MotionTracker) -> tuple[Motion | None, ...]:
    """The motion of the batch's input frames: as an earlier stage measured it, else measured now by ``tracker``."""
    return batch.motion if batch.motion is not None else tracker(batch.input_pixels)


def _shrink(luma: np.ndarray) -> np.ndarray:
    """Grey frame shrunk (area average) to at most :data:`FLOW_SIDE` on the long side."""
    height, width = luma.shape
    factor = FLOW_SIDE / max(height, width)
    if factor >= 1.0:
        return luma
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
