"""The warping error on synthetic motion whose answer is known, from arrays and from encoded files."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from motion_clips import translating, with_noise, write_clip

from streamstyle.errors import InvalidOptionError
from streamstyle.temporal.metrics import frames_warping_error, warping_error

INVERT = (255 - np.arange(256)).astype(np.uint8)
"""A fixed pointwise colour map: the same for every frame, so it adds no flicker."""


def test_original_against_itself_is_the_floor_and_near_zero() -> None:
    frames = translating(8)
    result = frames_warping_error(zip(frames, frames, strict=True))
    assert result.pairs == 7
    assert result.error == result.floor < 1e-4
    assert result.visible > 0.85  # only the strip entering the frame is uncovered


def test_consistent_colour_map_has_no_flicker() -> None:
    frames = translating(8)
    result = frames_warping_error((f, cv2.LUT(f, INVERT)) for f in frames)
    assert result.error < 1e-4


def test_flickering_stylisation_scores_clearly_higher() -> None:
    frames = translating(8)
    result = frames_warping_error(zip(frames, with_noise(frames, 8.0, seed=1), strict=True))
    # independent noise of sigma s in both frames of a pair: expected error about 2 (s / 255)^2 = 0.002
    assert 0.001 < result.error < 0.004
    assert result.error > 50 * result.floor


def test_files_give_the_same_figures_as_arrays(tmp_path: Path) -> None:
    frames = translating(8)
    flicker = with_noise(frames, 8.0, seed=1)
    original = write_clip(tmp_path / "original.mkv", frames)
    stylised = write_clip(tmp_path / "stylised.mkv", flicker)
    assert warping_error(original, stylised) == frames_warping_error(zip(frames, flicker, strict=True))
    assert warping_error(original, stylised, max_frames=3).pairs == 2


def test_mismatched_frame_counts_are_refused_with_both_counts(tmp_path: Path) -> None:
    frames = translating(8)
    original = write_clip(tmp_path / "original.mkv", frames)
    short = write_clip(tmp_path / "short.mkv", frames[:6])
    with pytest.raises(InvalidOptionError, match=r"original\.mkv has 8 frames, short\.mkv has 6"):
        warping_error(original, short)
    with pytest.raises(InvalidOptionError, match=r"short\.mkv has 6 frames, original\.mkv has 8"):
        warping_error(short, original)
    assert warping_error(original, short, max_frames=6).pairs == 5


def test_mismatched_sizes_are_refused(tmp_path: Path) -> None:
    frames = translating(4)
    original = write_clip(tmp_path / "original.mkv", frames)
    cropped = write_clip(tmp_path / "cropped.mkv", [f[:, :-2].copy() for f in frames])
    with pytest.raises(InvalidOptionError, match="stylised frame is 94x64, original is 96x64"):
        warping_error(original, cropped)


def test_max_frames_must_be_positive(tmp_path: Path) -> None:
    original = write_clip(tmp_path / "original.mkv", translating(2))
    with pytest.raises(InvalidOptionError, match="max_frames"):
        warping_error(original, original, max_frames=0)


def test_one_frame_is_refused_rather_than_scored_perfect() -> None:
    frame = translating(1)[0]
    with pytest.raises(InvalidOptionError, match="at least two frames"):
        frames_warping_error([(frame, frame)])
