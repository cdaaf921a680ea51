"""Frame and stream-info types, and still images read and written (a leaf: imports nothing of ours but errors)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from streamstyle.errors import InvalidMediaError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"})
"""File name endings that are treated as still images rather than video."""
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg",
                            ".flv", ".wmv", ".3gp", ".ogv"})  # fmt: skip
"""File name endings that a folder or glob given to ``streamstyle batch`` takes as video."""


@dataclass(frozen=True)
class VideoInfo:
    """What a sink needs to know about the video it receives.

    Attributes:
        width, height: stored frame size in pixels (before any display rotation).
        time_base: unit of the frames' ``pts``, in seconds.
        frame_rate: average frame rate, if the container states one.
        frame_count: number of frames the container announces (0 if unknown).
        duration: stream duration in seconds, if known.
        rotation: counter-clockwise display rotation in degrees from the display matrix.
        color: colour tags of the input (``colorspace``, ``color_primaries``, ``color_trc``,
            ``color_range``) as FFmpeg enum values, so the output is tagged the same way.
    """

    width: int
    height: int
    time_base: Fraction
    frame_rate: Fraction | None
    frame_count: int
    duration: float | None
    rotation: int
    color: dict[str, int]

    @property
    def expected_frames(self) -> int | None:
        """The frame count announced, or else duration x frame rate; ``None`` when neither is known."""
        if self.frame_count > 0:
            return self.frame_count
        if self.duration and self.frame_rate:
            return round(self.duration * self.frame_rate)
        return None


@dataclass(frozen=True)
class Frame:
    """One frame on the host, as sources deliver and sinks take it: RGB pixels ``(H, W, 3)`` uint8,
    its timing in the source's time base, and when its input arrived (``time.monotonic()``), for
    latency figures. On the compute device frames travel as a :class:`~streamstyle.frames.FrameBatch`."""

    rgb: np.ndarray
    pts: int
    duration: int | None
    arrived: float = field(default_factory=time.monotonic)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as RGB ``(H, W, 3)`` uint8, turned upright by its EXIF orientation.

    Raises:
        InvalidMediaError: not an image Pillow can read.
    """
    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidMediaError(f"cannot read image {path}: {exc}") from None


def write_image(path: str | Path, rgb: np.ndarray, *, suffix: str | None = None) -> None:
    """Write RGB ``(H, W, 3)`` uint8 as the image type of ``suffix`` (default: ``path``'s), JPEG at quality 95."""
    kind = Image.registered_extensions()[(suffix or Path(path).suffix).lower()]
    Image.fromarray(rgb).save(path, format=kind, quality=95)
