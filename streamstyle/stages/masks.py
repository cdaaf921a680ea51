"""Soft region masks: feathering, temporal smoothing with scene-cut reset, compositing.

Masks are float ``(N, 1, H, W)`` in [0, 1] on the compute device; 1 marks the region.
"""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from streamstyle.temporal.scenecut import SceneCuts


def feather(masks: torch.Tensor, pixels: float) -> torch.Tensor:
    """Soften mask edges with a Gaussian blur of about ``pixels`` width (sigma = pixels / 2)."""
    if pixels <= 0:
        return masks
    sigma = pixels / 2
    radius = max(1, math.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, device=masks.device, dtype=masks.dtype)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    kernel = kernel / kernel.sum()
    padded = F.pad(masks, (radius, radius, radius, radius), mode="replicate")
    blurred = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(blurred, kernel.view(1, 1, -1, 1))


class TemporalSmoother:
    """Exponential moving average of masks over frames, reset at scene cuts.

    ``m_t = smooth * m_{t-1} + (1 - smooth) * raw_t``; at a cut (or the first frame) ``m_t = raw_t``.
    Cuts are found by :class:`~streamstyle.temporal.scenecut.SceneCuts` at its default threshold.
    """

    def __init__(self, smooth: float) -> None:
        self.smooth = smooth
        self._mask: torch.Tensor | None = None
        self._cuts = SceneCuts()

    def __call__(self, raw: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
        """Smooth masks ``(N, 1, h, w)`` of frames ``pixels`` (uint8 ``(N, 3, H, W)``), in order."""
        out = []
        for mask, cut in zip(raw, self._cuts(pixels), strict=True):
            if self._mask is None or cut or self._mask.shape != mask.shape or self.smooth == 0:
                self._mask = mask
            else:
                self._mask = self.smooth * self._mask + (1 - self.smooth) * mask
            out.append(self._mask)
        return torch.stack(out)


def composite(inside: torch.Tensor, outside: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``inside`` where the mask is 1, ``outside`` where it is 0, blended in between (float frames)."""
    return torch.lerp(outside, inside, masks.to(inside.dtype))
