"""Temporal stability: optical flow, backward warping, and the warping error flicker metric.

The warping error is the metric of Lai et al., "Learning Blind Video Temporal Consistency"
(ECCV 2018): each frame ``t-1`` of a video is warped to frame ``t`` with the optical flow of
the *original* video, and the mean squared difference to frame ``t`` over the pixels visible
in both frames is averaged over all consecutive pairs. Pixels are RGB in [0, 1] and the mean
runs over visible pixels and channels, as in their evaluation code, so figures compare with
the paper's. The same computed on the original video itself is the floor: what flow errors,
lighting changes and codec noise leave even in a video without flicker.

Flow is OpenCV's DIS (Kroeger et al. 2016); visibility comes from the forward-backward
consistency check of Sundaram et al. 2010 as used by Ruder et al. 2016 (see :func:`visibility`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from streamstyle.errors import InvalidOptionError
from streamstyle.sources import DecodedFrame, open_source

FlowPreset = Literal["ultrafast", "fast", "medium"]
FLOW_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}
"""DIS optical flow presets by name (speed against accuracy)."""

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
    return cv2.DISOpticalFlow_create(FLOW_PRESETS[preset]).calc(source, target, None)


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


def pair_error(previous: np.ndarray, current: np.ndarray, match: Correspondence) -> float:
    """Mean squared difference between ``current`` and ``previous`` warped onto it, over visible pixels.

    Args:
        previous, current: RGB frames ``(H, W, 3)`` uint8.
        match: the correspondence of the *original* frames.

    Returns:
        The mean over visible pixels and channels, pixels scaled to [0, 1]; 0 when nothing is visible.
    """
    if not match.visible.any():
        return 0.0
    warped = warp(previous.astype(np.float32), match.flow)
    difference = np.square(warped - current.astype(np.float32))[match.visible]
    return float(difference.mean()) / 255.0**2


@dataclass(frozen=True)
class WarpingError:
    """The warping error of a stylised video and its floor.

    Attributes:
        error: mean warping error of the stylised frames (lower is steadier).
        floor: the same for the original frames against themselves.
        pairs: consecutive frame pairs averaged.
        visible: mean fraction of pixels that passed the visibility check.
    """

    error: float
    floor: float
    pairs: int
    visible: float


def frames_warping_error(
    frames: Iterable[tuple[np.ndarray, np.ndarray]], *, preset: FlowPreset = "medium"
) -> WarpingError:
    """Warping error of ``(original, stylised)`` RGB frame pairs ``(H, W, 3)`` uint8, read lazily.

    Flow is computed once per pair of original frames and used for both the stylised frames
    and the floor.

    Raises:
        InvalidOptionError: a stylised frame differs in size from its original, or the sizes change.
    """
    errors, floors, visible = [], [], []
    previous: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    for index, (original, stylised) in enumerate(frames):
        if original.shape != stylised.shape:
            raise InvalidOptionError(
                f"frame {index}: stylised frame is {_size(stylised)}, original is {_size(original)}; "
                "compare videos of the same size"
            )
        if previous is not None and previous[0].shape != original.shape:
            raise InvalidOptionError(
                f"frame {index}: frame size changes from {_size(previous[0])} to {_size(original)}"
            )
        luma = gray(original)
        if previous is not None:
            last_original, last_stylised, last_luma = previous
            match = correspondence(last_luma, luma, preset=preset)
            errors.append(pair_error(last_stylised, stylised, match))
            floors.append(pair_error(last_original, original, match))
            visible.append(float(match.visible.mean()))
        previous = (original, stylised, luma)
    if not errors:
        return WarpingError(0.0, 0.0, 0, 0.0)
    return WarpingError(float(np.mean(errors)), float(np.mean(floors)), len(errors), float(np.mean(visible)))


def warping_error(
    original: str | Path, stylised: str | Path, *, max_frames: int | None = None, preset: FlowPreset = "medium"
) -> WarpingError:
    """Warping error of a stylised video against the original it was made from.

    Args:
        original: the input video.
        stylised: the stylised video, frame for frame the same size and count.
        max_frames: compare only the first frames of both.
        preset: DIS flow preset, one of :data:`FLOW_PRESETS`.

    Raises:
        InvalidOptionError: the videos differ in frame count or size, or ``max_frames`` < 1.
        InputNotFoundError, InvalidMediaError, NoVideoStreamError, DecodeError: a video cannot be read.
    """
    if max_frames is not None and max_frames < 1:
        raise InvalidOptionError(f"max_frames must be at least 1, got {max_frames}")
    with open_source(original) as first, open_source(stylised) as second:
        ours, theirs = _rgb_frames(first.read(), max_frames), _rgb_frames(second.read(), max_frames)
        return frames_warping_error(_paired(ours, theirs, Path(original).name, Path(stylised).name), preset=preset)


def _rgb_frames(items: Iterator[DecodedFrame | object], limit: int | None) -> Iterator[np.ndarray]:
    frames = (item.rgb for item in items if isinstance(item, DecodedFrame))
    return itertools.islice(frames, limit)


def _paired(
    originals: Iterator[np.ndarray], stylised: Iterator[np.ndarray], original_name: str, stylised_name: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    for count, pair in enumerate(itertools.zip_longest(originals, stylised)):
        if pair[0] is None or pair[1] is None:
            longer = originals if pair[1] is None else stylised
            total = count + 1 + sum(1 for _ in longer)
            counts = (total, count) if pair[1] is None else (count, total)
            raise InvalidOptionError(
                f"frame counts differ: {original_name} has {counts[0]} frames, {stylised_name} has {counts[1]}; "
                "compare a stylised video with the original it was made from (or limit both with max_frames)"
            )
        yield pair


def _size(frame: np.ndarray) -> str:
    return f"{frame.shape[1]}x{frame.shape[0]}"
