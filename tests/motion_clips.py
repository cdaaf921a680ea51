"""Synthetic clips with known motion, and a runner of stages over a file, for the temporal tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from streamstyle.io.opening import open_source
from streamstyle.pipeline import Pipeline
from streamstyle.stages import Stage

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


def run(path: Path, stages: list[Stage], *, batch_size: int = 4) -> list[np.ndarray]:
    """Output frames ``(H, W, 3)`` uint8 of ``stages`` over a file, through the real pipeline."""
    with Pipeline(open_source(path), stages, batch_size=batch_size, device="cpu") as pipeline:
        return [frame for batch in pipeline for frame in batch.pixels.permute(0, 2, 3, 1).numpy()]
