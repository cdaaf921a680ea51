"""Optical flow, backward warping and visibility, and :class:`Motion` (a leaf: imports nothing of ours but errors).

Flow is OpenCV's DIS (Kroeger et al. 2016); visibility comes from the forward-backward
consistency check of Sundaram et al. 2010 as used by Ruder et al. 2016 (see :func:`visibility`).
The flicker metric built on these is in :mod:`streamstyle.temporal.metrics`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from streamstyle.errors import InvalidOptionError

FlowPreset = Literal["ultrafast", "fast", "medium"]
FLOW_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
"""DIS optical flow presets by name (speed against accuracy)."""
MIN_FLOW_SIDE = 16
"""Frames with a side under this are edge-extended to it for DIS, which refuses sides under 12 px."""

CONSISTENCY_RELATIVE = 0.01
"""Forward-backward check: allowed squared mismatch relative to the squared flow lengths."""
CONSISTENCY_ABSOLUTE = 0.5
"""Forward-backward check: allowed squared mismatch in pixels^2 at the flow's resolution."""


def gray(rgb: np.ndarray) -> np.ndarray:
    """Luma of an RGB frame, as DIS takes it.

    Shape: ``(H, W, 3)`` uint8 -> ``(H, W)`` uint8.
    """
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def optical_flow(source: np.ndarray, target: np.ndarray, *, preset: FlowPreset = "medium") -> np.ndarray:
    """Dense flow from ``source`` to ``target``: pixel ``(x, y)`` of source is at ``(x, y) + flow[y, x]`` in target.

    Args:
        source, target: grey frames ``(H, W)`` uint8 of the same size.
        preset: DIS preset, one of :data:`FLOW_PRESETS`.

    Returns:
        Flow ``(H, W, 2)`` float32, ``(dx, dy)`` in pixels.

    Raises:
        InvalidOptionError: unknown preset.
    """
    if preset not in FLOW_PRESETS:
        raise InvalidOptionError(f"unknown flow preset {preset!r}; use one of: {', '.join(FLOW_PRESETS)}")
    height, width = source.shape
    grow_y, grow_x = max(0, MIN_FLOW_SIDE - height), max(0, MIN_FLOW_SIDE - width)
    if grow_y or grow_x:  # DIS refuses tiny frames: extend the edges, measure, crop back
        source, target = (cv2.copyMakeBorder(f, 0, grow_y, 0, grow_x, cv2.BORDER_REPLICATE) for f in (source, target))
    flow = cv2.DISOpticalFlow_create(FLOW_PRESETS[preset]).calc(source, target, None)
    return np.ascontiguousarray(flow[:height, :width])


def sample_positions(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Absolute sampling coordinates ``x + dx`` and ``y + dy`` of a flow, as :func:`cv2.remap` takes them.

    Shape: ``(H, W, 2)`` -> two ``(H, W)`` float32.
    """
    height, width = flow.shape[:2]
    dx, dy = cv2.split(flow)
    return dx + np.arange(width, dtype=np.float32), dy + np.arange(height, dtype=np.float32)[:, None]


def resize_flow(flow: np.ndarray, width: int, height: int) -> np.ndarray:
    """A flow computed on shrunk frames, brought to ``width x height`` (bilinear; vectors scaled too).

    Shape: ``(h, w, 2)`` -> ``(height, width, 2)`` float32.
    """
    resized = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.multiply(resized, (width / flow.shape[1], height / flow.shape[0], 0.0, 0.0))


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Backward warp: ``out[y, x] = image[(x, y) + flow[y, x]]``, bilinear, edges replicated.

    Args:
        image: ``(H, W)`` or ``(H, W, C)``, uint8 or float32.
        flow: ``(H, W, 2)`` float32 from the output grid into ``image``.

    Returns:
        The warped image, same shape and dtype as ``image``.
    """
    xs, ys = sample_positions(flow)
    return cv2.remap(image, xs, ys, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def visibility(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Pixels of the current frame whose backward flow is trusted.

    ``backward`` maps current -> previous, ``forward`` previous -> current. Following a
    pixel back and forth should return it home, so with ``w_b`` the backward flow at ``x``
    and ``w_f`` the forward flow at ``x + w_b``, a pixel is marked occluded (or its flow
    unreliable) when ``|w_b + w_f|^2 > 0.01 (|w_b|^2 + |w_f|^2) + 0.5`` (Sundaram et al. 2010,
    Ruder et al. 2016), and also when ``x + w_b`` falls outside the previous frame.

    Returns:
        ``(H, W)`` bool, True where visible in both frames.
    """
    bx, by = cv2.split(backward)
    fx, fy = cv2.split(warp(forward, backward))
    mismatch = np.square(bx + fx) + np.square(by + fy)
    lengths = bx * bx + by * by + fx * fx + fy * fy
    consistent = mismatch <= CONSISTENCY_RELATIVE * lengths + CONSISTENCY_ABSOLUTE
    xs, ys = sample_positions(backward)
    height, width = backward.shape[:2]
    inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    return consistent & inside


@dataclass(frozen=True)
class Correspondence:
    """Where each pixel of the current frame was in the previous one, and whether to trust it.

    Attributes:
        flow: backward flow ``(H, W, 2)`` float32, current -> previous, for :func:`warp`.
        visible: ``(H, W)`` bool, see :func:`visibility`.
    """

    flow: np.ndarray
    visible: np.ndarray


def correspondence(previous: np.ndarray, current: np.ndarray, *, preset: FlowPreset = "medium") -> Correspondence:
    """Backward flow and visibility between two consecutive grey frames ``(H, W)`` uint8."""
    backward = optical_flow(current, previous, preset=preset)
    forward = optical_flow(previous, current, preset=preset)
    return Correspondence(backward, visibility(backward, forward))


@dataclass(frozen=True)
class Motion:
    """How one frame came from the frame before it.

    Attributes:
        match: backward flow and visibility at the flow's resolution (see :data:`FLOW_SIDE`).
    """

    match: Correspondence

    def carry(self, previous: np.ndarray) -> np.ndarray:
        """An image of the previous frame moved onto this one (bicubic, edges replicated).

        Bicubic rather than bilinear: an image carried over many frames is resampled each
        time, and bilinear blurs it a little more every frame.

        Shape: ``(H, W, C)`` float32 -> ``(H, W, C)`` float32.
        """
        height, width = previous.shape[:2]
        xs, ys = sample_positions(resize_flow(self.match.flow, width, height))
        return cv2.remap(previous, xs, ys, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)

    def trust(self, width: int, height: int) -> np.ndarray:
        """Where the flow passed the visibility check, as ``(H, W)`` float32 in [0, 1] (soft where it was upsampled)."""
        return cv2.resize(self.match.visible.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
