"""Scene-cut detection: consecutive frames whose small grey thumbnails differ a lot.

One detector serves every stage that keeps history across frames (mask smoothing in
:mod:`streamstyle.stages.masks`, the :class:`~streamstyle.stages.stabilize.Stabilize` stage): at a cut,
that history belongs to another shot and is dropped.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from streamstyle.errors import InvalidOptionError

THUMBNAIL_WIDTH = 64
"""Width in pixels of the grey thumbnails compared; the height keeps the aspect ratio."""

CUT_THRESHOLD = 0.1
"""Mean absolute difference of consecutive thumbnails (pixels in [0, 1]) above which a new shot starts.

Measured on the clips under ``../shared/data/video``: consecutive frames of one shot differ by
0.005-0.06, frames of different clips by 0.19 or more (median 0.28). The same threshold serves
mask smoothing and stabilisation: a missed cut blends in another shot, a false one only
restarts the history for a frame.
"""


def thumbnails(pixels: torch.Tensor) -> torch.Tensor:
    """Grey thumbnails (mean of RGB, area-averaged) of uint8 RGB frames.

    Shape: ``(N, 3, H, W)`` uint8 -> ``(N, 1, h, 64)`` float in [0, 1], on the frames' device.
    """
    grey = pixels.float().mean(dim=1, keepdim=True) / 255
    height = max(1, round(pixels.shape[2] * THUMBNAIL_WIDTH / pixels.shape[3]))
    return F.interpolate(grey, size=(height, THUMBNAIL_WIDTH), mode="area")


class SceneCuts:
    """Flags the frames that start a new shot, over a stream of frames given in order.

    State (the last frame's thumbnail) carries across calls, so use one instance per video,
    or call :meth:`reset` between videos.

    Args:
        threshold: mean absolute thumbnail difference above which a frame starts a new shot,
            in (0, 1]; 1 never cuts.

    Raises:
        InvalidOptionError: ``threshold`` outside (0, 1].
    """

    def __init__(self, threshold: float = CUT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise InvalidOptionError(f"scene-cut threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self._previous: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the last frame, so the next one is not compared with anything."""
        self._previous = None

    def __call__(self, pixels: torch.Tensor) -> list[bool]:
        """For each frame of uint8 ``(N, 3, H, W)``: whether a cut lies between it and the frame before.

        The first frame after construction or :meth:`reset` has no frame before and is not a
        cut; a change of frame size is one.
        """
        cuts = []
        for thumb in thumbnails(pixels):
            previous, self._previous = self._previous, thumb
            if previous is None:
                cuts.append(False)
            elif previous.shape != thumb.shape:
                cuts.append(True)
            else:
                cuts.append((thumb - previous).abs().mean().item() > self.threshold)
        return cuts
