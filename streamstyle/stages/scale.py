"""The scale stage: resize frames, as FFmpeg's ``scale`` filter does."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from streamstyle.errors import InvalidOptionError
from streamstyle.frames import FrameBatch
from streamstyle.stages.base import Param, Stage


def parse_dimension(text: str) -> int:
    """A size in pixels (> 0), or -1 (keep aspect ratio) or -2 (keep aspect, round to even)."""
    value = int(text)
    if value == 0 or value < -2:
        raise ValueError(f"must be a positive size, -1 or -2, got {text}")
    return value


class Scale(Stage):
    """Resize every frame (bilinear, antialiased when shrinking); the output takes the new size.

    Args:
        w, h: target width and height; -1 derives one from the other keeping the aspect
            ratio, -2 does the same and rounds to an even number (for 4:2:0 encoders).
    """

    name = "scale"
    params = (
        Param("w", parse_dimension, -1, "width in pixels, -1/-2 to keep the aspect ratio"),
        Param("h", parse_dimension, -1, "height in pixels, -1/-2 to keep the aspect ratio"),
    )

    def __init__(self, *, w: int = -1, h: int = -1) -> None:
        self.w, self.h = self.check_option("w", w), self.check_option("h", h)
        if self.w < 0 and self.h < 0:
            raise InvalidOptionError("scale: give w or h (or both) as a size in pixels")

    def output_size(self, width: int, height: int) -> tuple[int, int]:
        w = self.w if self.w > 0 else _derive(self.h * width / height, self.w)
        h = self.h if self.h > 0 else _derive(self.w * height / width, self.h)
        return w, h

    @torch.inference_mode()
    def __call__(self, batch: FrameBatch) -> FrameBatch:
        """Resize the pixels, and with them the source frames and masks (motion applies at any size)."""
        width, height = self.output_size(*batch.size)
        if (width, height) == batch.size:
            return batch
        pixels = _resize(batch.pixels, width, height)
        source = batch.source
        if source is not None:
            source = pixels if source is batch.pixels else _resize(source, width, height)
        masks = None if batch.masks is None else _resize(batch.masks, width, height)
        return FrameBatch(pixels, batch.pts, batch.time_base, masks=masks, source=source, motion=batch.motion)


def _resize(frames: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Bilinear resize (antialiased) of uint8 frames or float masks, keeping the dtype."""
    resized = F.interpolate(frames.float(), size=(height, width), mode="bilinear", antialias=True, align_corners=False)
    if frames.dtype == torch.uint8:
        return resized.round().clamp(0, 255).to(torch.uint8)
    return resized.clamp(0, 1).to(frames.dtype)


def _derive(exact: float, mode: int) -> int:
    return max(2, 2 * round(exact / 2)) if mode == -2 else max(1, round(exact))
