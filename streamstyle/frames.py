"""FrameBatch: the unit of work that flows between stages."""

from __future__ import annotations

from dataclasses import dataclass, replace
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch.nn import functional as F

if TYPE_CHECKING:
    from streamstyle.temporal.flow import Motion


@dataclass(frozen=True)
class FrameBatch:
    """A batch of video frames on the compute device, with their timing.

    Attributes:
        pixels: RGB frames, ``uint8`` of shape ``(N, 3, H, W)``, on any device.
        pts: presentation timestamps, ``int64`` of shape ``(N,)`` on the CPU, in ``time_base``.
        time_base: the unit of ``pts`` in seconds.
        masks: optional soft region masks, float of shape ``(N, 1, H, W)`` in [0, 1] on the
            device of ``pixels``; 1 marks the region a region-aware stage works on.
        source: optional, the frames as they entered the graph (uint8, same shape as
            ``pixels``), so a stage can look at the input after earlier stages changed the
            pixels (region stylisation, flow); dropped when a stage changes the size.
        motion: optional, for each frame its motion from the frame before (``None`` for the
            first frame and at scene cuts), measured on the input frames by the first temporal
            stage and reused by later ones (see :mod:`streamstyle.temporal.tracker`); dropped with ``source``
            (a resize by :class:`~streamstyle.stages.Scale` keeps it: motion applies at any size).
    """

    pixels: torch.Tensor
    pts: torch.Tensor
    time_base: Fraction
    masks: torch.Tensor | None = None
    source: torch.Tensor | None = None
    motion: tuple[Motion | None, ...] | None = None

    def __post_init__(self) -> None:
        p = self.pixels
        if p.dtype != torch.uint8 or p.ndim != 4 or p.shape[1] != 3:
            raise ValueError(f"pixels must be uint8 (N, 3, H, W), got {p.dtype} {tuple(p.shape)}")
        if self.pts.dtype != torch.int64 or self.pts.shape != (p.shape[0],) or self.pts.device.type != "cpu":
            raise ValueError(
                f"pts must be int64 ({p.shape[0]},) on the CPU, "
                f"got {self.pts.dtype} {tuple(self.pts.shape)} on {self.pts.device}"
            )
        if not isinstance(self.time_base, Fraction) or self.time_base <= 0:
            raise ValueError(f"time_base must be a positive Fraction, got {self.time_base!r}")
        m = self.masks
        if m is not None and (
            not m.is_floating_point() or m.shape != (p.shape[0], 1, *p.shape[2:]) or m.device != p.device
        ):
            raise ValueError(
                f"masks must be float (N, 1, H, W) = {(p.shape[0], 1, *p.shape[2:])} on {p.device}, "
                f"got {m.dtype} {tuple(m.shape)} on {m.device}"
            )

        if self.source is not None and (self.source.shape != p.shape or self.source.dtype != torch.uint8):
            got = f"{self.source.dtype} {tuple(self.source.shape)}"
            raise ValueError(f"source must be uint8 {tuple(p.shape)}, got {got}")
        if self.motion is not None and len(self.motion) != p.shape[0]:
            raise ValueError(f"motion must have one entry per frame ({p.shape[0]}), got {len(self.motion)}")

    def __len__(self) -> int:
        return self.pixels.shape[0]

    @property
    def size(self) -> tuple[int, int]:
        """Frame size as ``(width, height)``."""
        return self.pixels.shape[3], self.pixels.shape[2]

    def with_pixels(self, pixels: torch.Tensor) -> FrameBatch:
        """The same frames and timing with new pixels (masks, source and motion dropped if the size changes)."""
        if pixels.shape[2:] == self.pixels.shape[2:]:
            return replace(self, pixels=pixels)
        return replace(self, pixels=pixels, masks=None, source=None, motion=None)

    def with_masks(self, masks: torch.Tensor) -> FrameBatch:
        """The same batch with new region masks."""
        return replace(self, masks=masks)

    def with_motion(self, motion: tuple[Motion | None, ...]) -> FrameBatch:
        """The same batch with the motion of its input frames."""
        return replace(self, motion=motion)

    @property
    def input_pixels(self) -> torch.Tensor:
        """``source`` if known, else ``pixels``."""
        return self.source if self.source is not None else self.pixels

    def __repr__(self) -> str:
        masks = "none" if self.masks is None else f"{tuple(self.masks.shape)}"
        return (
            f"FrameBatch(n={len(self)}, size={self.size[0]}x{self.size[1]}, device={self.pixels.device}, "
            f"pts={self.pts[:1].tolist()}..{self.pts[-1:].tolist()}, time_base={self.time_base}, masks={masks}, "
            f"source={'yes' if self.source is not None else 'no'}, motion={'yes' if self.motion is not None else 'no'})"
        )


def resize_frames(frames: torch.Tensor, size: tuple[int, int], *, antialias: bool = True) -> torch.Tensor:
    """Bilinear resize of float frames ``(N, C, H, W)`` to ``size`` (height, width), in their dtype.

    Computed in fp32: antialiased resizing has no bf16 kernel on the CPU.
    """
    resized = F.interpolate(frames.float(), size=size, mode="bilinear", antialias=antialias, align_corners=False)
    return resized.to(frames.dtype)


def to_host(pixels: torch.Tensor) -> np.ndarray:
    """Frames as numpy images: ``(N, 3, H, W)`` uint8 on any device -> ``(N, H, W, 3)`` uint8."""
    return pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy()
