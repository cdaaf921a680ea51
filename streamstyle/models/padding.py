"""Padding to a network's stride, so any frame size goes in and the same size comes out."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def pad_to_stride(x: torch.Tensor, stride: int, min_size: int) -> torch.Tensor:
    """Pad ``x`` at the bottom/right to a multiple of ``stride`` that is at least ``min_size``.

    Reflection padding where the frame is large enough, replication for tiny frames (reflection
    cannot pad more than the frame's own size).
    """
    height, width = x.shape[-2:]
    pad_h = max(-height % stride, min_size - height)
    pad_w = max(-width % stride, min_size - width)
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
