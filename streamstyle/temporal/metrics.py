"""The temporal warping error: how much a stylised video flickers (reads videos, so apart from the flow primitives).

The warping error is the metric of Lai et al., "Learning Blind Video Temporal Consistency"
(ECCV 2018): each frame ``t-1`` of a video is warped to frame ``t`` with the optical flow of
the *original* video, and the mean squared difference to frame ``t`` over the pixels visible
in both frames is averaged over all consecutive pairs. Pixels are RGB in [0, 1] and the mean
runs over visible pixels and channels, as in their evaluation code, so figures compare with
the paper's. The same computed on the original video itself is the floor: what flow errors,
lighting changes and codec noise leave even in a video without flicker.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamstyle.errors import InvalidOptionError
from streamstyle.io import Frame, open_source
from streamstyle.temporal.flow import Correspondence, FlowPreset, correspondence, gray, warp


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
        InvalidOptionError: a stylised frame differs in size from its original, the sizes change,
            or there are fewer than two frames.
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
        raise InvalidOptionError("the warping error needs at least two frames: it compares consecutive ones")
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


def _rgb_frames(items: Iterator[Frame | object], limit: int | None) -> Iterator[np.ndarray]:
    frames = (item.rgb for item in items if isinstance(item, Frame))
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
