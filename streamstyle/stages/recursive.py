"""RecursiveFilter: a stage that blends each frame with its own previous result carried along the motion.

The shared half of :class:`~streamstyle.stages.denoise.Denoise` (on the input frames) and
:class:`~streamstyle.stages.stabilize.Stabilize` (on the stylised frames): the motion of the
batch (measured here, or by an earlier stage), the previous result as state across batches,
and the blend where the flow is trusted. A subclass says what becomes of the blend.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from streamstyle.frames import FrameBatch, to_host
from streamstyle.stages.base import Stage, decay_frames
from streamstyle.temporal.flow import Motion
from streamstyle.temporal.scenecut import CUT_THRESHOLD
from streamstyle.temporal.tracker import MotionTracker, measured_motion


class RecursiveFilter(Stage):
    """Each frame blended with the previous result carried along the motion, by ``strength`` where trusted.

    State (the previous result, and the motion tracker) carries across batches, so use one
    instance per video, or call :meth:`reset` between videos. Subclasses declare ``strength``
    and ``cut`` params.

    Attributes:
        tracker: measures the motion when no earlier stage did; ``tracker.cuts`` counts scene cuts.
    """

    def __init__(self, strength: float, *, cut: float = CUT_THRESHOLD) -> None:
        self.strength = self.check_option("strength", strength)
        self.cut = self.check_option("cut", cut)
        self.tracker = MotionTracker(self.cut)
        self._previous: np.ndarray | None = None

    @property
    def memory_frames(self) -> int:
        return decay_frames(self.strength)

    def reset(self) -> None:
        """Forget the previous frame, so the next frame passes unchanged."""
        self._previous = None
        self.tracker.reset()

    def finish(self, blended: np.ndarray, current: np.ndarray) -> np.ndarray:
        """The result of one frame from its blend; this is also what the next frame is blended with.

        Shape: ``(H, W, 3)`` float32 twice -> ``(H, W, 3)`` float32. By default, the blend itself.
        """
        return blended

    @torch.inference_mode()
    def filter(self, batch: FrameBatch) -> tuple[torch.Tensor, tuple[Motion | None, ...]]:
        """The filtered pixels of the batch (uint8, on its device) and the motion they followed."""
        motion = measured_motion(batch, self.tracker)
        frames = zip(to_host(batch.pixels), motion, strict=True)
        filtered = np.stack([self._step(frame, frame_motion) for frame, frame_motion in frames])
        return torch.from_numpy(filtered).permute(0, 3, 1, 2).to(batch.pixels.device), motion

    def _step(self, frame: np.ndarray, motion: Motion | None) -> np.ndarray:
        """Filter one ``(H, W, 3)`` uint8 frame; the unrounded result is carried to the next."""
        current = frame.astype(np.float32)
        previous, result = self._previous, current
        if motion is not None and previous is not None and previous.shape == current.shape:
            weight = self.strength * motion.trust(current.shape[1], current.shape[0])
            result = self.finish(cv2.blendLinear(motion.carry(previous), current, weight, 1.0 - weight), current)
        self._previous = result
        return np.clip(np.rint(result), 0, 255).astype(np.uint8)
