"""The warping error on synthetic motion whose answer is known, from arrays and from encoded files."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from streamstyle.errors import InvalidOptionError
from streamstyle.temporal.metrics import frames_warping_error, warping_error

SIZE = (96, 64)
"""Frame width and height of the synthetic clips."""


def texture(width: int, height: int, *, seed: int) -> np.ndarray:
    """Smooth random RGB texture ``(height, width, 3)`` uint8 that optical flow can lock onto."""
    noise = np.random.default_rng(seed).random((height // 4, width // 4, 3), dtype=np.float32)
    smooth = cv2.GaussianBlur(cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC), (0, 0), 1.5)
    spread = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return np.rint(spread * 255).astype(np.uint8)


def translating(frames: int, *, step: tuple[int, int] = (2, 1), seed: int = 0) -> list[np.ndarray]:
    """A window sliding over a texture by whole pixels: the content moves by ``-step`` per frame."""
    width, height = SIZE
    canvas = texture(width + frames * step[0], height + frames * step[1], seed=seed)
    return [canvas[i * step[1] : i * step[1] + height, i * step[0] : i * step[0] + width] for i in range(frames)]


def with_noise(frames: Sequence[np.ndarray], sigma: float, *, seed: int) -> list[np.ndarray]:
    """Independent Gaussian noise of ``sigma`` (0..255 scale) added to each frame."""
    rng = np.random.default_rng(seed)
    return [np.clip(np.rint(f + rng.normal(0.0, sigma, f.shape)), 0, 255).astype(np.uint8) for f in frames]


def write_clip(path: Path, frames: Sequence[np.ndarray], *, rate: int = 10) -> Path:
    """Encode frames losslessly (FFV1, RGB) so decoded pixels equal ``frames`` exactly."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "bgr0"
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


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
