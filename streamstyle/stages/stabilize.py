"""The stabilize stage: less flicker by blending each stylised frame with the previous output.

Per-frame stylisation flickers: small changes between input frames (noise, light, motion)
change the network's strokes. This stage follows the motion of the *original* frames with
optical flow, warps the previous output onto the current frame, and blends it into the
current stylised frame where the flow passes the forward-backward check (Ruder et al. 2016
use the same check as a training loss; here it runs at inference, with no retraining). The
output thus follows the original motion, as the warping error in :mod:`streamstyle.temporal.metrics`
measures. History is dropped at scene cuts (:class:`~streamstyle.temporal.scenecut.SceneCuts`).

A plain blend softens the strokes: bilinear warping blurs a little more on every frame, and
averaging two unaligned stroke patterns lowers their contrast, which moves the style (Gram)
statistics far more than the flicker it removes. So the previous output is warped bicubically,
and after the blend each detail band (Gaussian differences at :data:`DETAIL_SIGMAS`) whose
local energy fell below that of the current stylised frame is scaled back up to it
(:func:`restore_detail`). Even so, averaging changes the strokes' higher-order statistics, which
the style (Gram) loss sees: on the real clips a blend of 0.5 moves it by up to 13%. So
``--stability`` leans first on :class:`~streamstyle.stages.denoise.Denoise` before the network,
whose output frames stay the network's own, and adds a lighter blend here
(:func:`stability_stages`).

Flow follows the frames before stylisation (:attr:`~streamstyle.frames.FrameBatch.input_pixels`);
it comes from the batch when an earlier stage measured it (:mod:`streamstyle.temporal.tracker`), such as
the :class:`~streamstyle.stages.denoise.Denoise` stage that ``--stability`` puts before the network.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from streamstyle.errors import InvalidOptionError
from streamstyle.frames import FrameBatch
from streamstyle.stages.base import Param, parse_range
from streamstyle.stages.denoise import Denoise
from streamstyle.stages.recursive import RecursiveFilter
from streamstyle.temporal.scenecut import CUT_THRESHOLD

DETAIL_SIGMAS = (1.0, 2.0, 4.0)
"""Gaussian sigmas (pixels) bounding the detail bands whose local energy is restored; coarser is blended only."""

DETAIL_HEADROOM = 1.5
"""Most local energy a detail band may keep, relative to the current stylised frame's."""

MAX_GAIN = 2.0
"""Largest factor a detail band is scaled up by, so a band the blend has nearly flattened is not blown up."""


class Stabilize(RecursiveFilter):
    """Blend each stylised frame with the previous output warped along the original motion, keeping its detail.

    State carries across batches (see :class:`~streamstyle.stages.recursive.RecursiveFilter`).

    Args:
        strength: weight of the warped previous output where the flow is trusted; 0 turns
            the stage off, 1 keeps strokes fixed to the moving content (only uncovered areas
            take new strokes).
        cut: scene-cut threshold of :class:`~streamstyle.temporal.scenecut.SceneCuts`: when the mean
            absolute difference of consecutive grey thumbnails (in [0, 1]) exceeds it, history
            is dropped; 1 never cuts. Unused when an earlier stage measured the motion.
    """

    name = "stabilize"
    params = (
        Param("strength", parse_range(0.0, 1.0), 0.5, "0 = off, 1 = strokes follow the content fully", primary=True),
        Param("cut", parse_range(0.0, 1.0, low_open=True), CUT_THRESHOLD, "scene-cut threshold (0..1)"),
    )

    def __init__(self, strength: float = 0.5, *, cut: float = CUT_THRESHOLD) -> None:
        super().__init__(strength, cut=cut)

    def __call__(self, batch: FrameBatch) -> FrameBatch:
        if self.strength == 0.0:
            return batch
        pixels, motion = self.filter(batch)
        return batch.with_motion(motion).with_pixels(pixels)

    def finish(self, blended: np.ndarray, current: np.ndarray) -> np.ndarray:
        """The blend with its detail restored, rounded as the output frame is."""
        return np.clip(np.rint(restore_detail(blended, current)), 0, 255)


def stability_stages(stability: float) -> tuple[Denoise, Stabilize]:
    """The stages ``--stability`` puts before and after the network, from one strength in [0, 1].

    The input filter does most of the work at little cost in style, so it rises first, to
    ``denoise=0.9`` at 0.5; the output blend, which costs style as it grows, rises all along,
    to ``stabilize=0.6`` at 1 (README, Flicker, for what each level measured).

    Raises:
        InvalidOptionError: ``stability`` outside [0, 1].
    """
    if not 0.0 <= stability <= 1.0:
        raise InvalidOptionError(f"stability must be in [0, 1], got {stability}")
    return Denoise(round(min(0.9, 1.8 * stability), 3)), Stabilize(round(0.6 * stability, 3))


def restore_detail(blended: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Bring the local energy of each detail band of ``blended`` back to that of ``reference``.

    Both images are split into the bands between successive Gaussian blurs at
    :data:`DETAIL_SIGMAS`. In each band the energy (squared, summed over channels) is averaged
    locally with a Gaussian of the band's sigma, and the band of ``blended`` is scaled so that
    its energy lies between 1 and :data:`DETAIL_HEADROOM` times the reference's: detail lost to
    blending comes back, and detail the blend carries over from earlier frames may exceed the
    current frame's a little but cannot grow from frame to frame. The factor is at most
    :data:`MAX_GAIN`. The coarsest blur of ``blended`` is kept unchanged.

    Shape: ``(H, W, 3)`` float32 (0..255) twice -> ``(H, W, 3)`` float32, not clipped.
    """
    restored = np.zeros_like(blended)
    blurred_by = 0.0
    for sigma in DETAIL_SIGMAS:
        step = math.sqrt(sigma**2 - blurred_by**2)  # Gaussian blurs compose with added variances
        blended_low, reference_low = _blur(blended, step), _blur(reference, step)
        band, reference_band = blended - blended_low, reference - reference_low
        energy, reference_energy = _energy(band, sigma) + 1.0, _energy(reference_band, sigma) + 1.0
        target = np.clip(energy, reference_energy, DETAIL_HEADROOM * reference_energy)
        restored += band * np.minimum(np.sqrt(target / energy), MAX_GAIN)[..., None]
        blended, reference, blurred_by = blended_low, reference_low, sigma
    return restored + blended


def _blur(image: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _energy(band: np.ndarray, sigma: float) -> np.ndarray:
    """Squares summed over the channels and averaged locally: ``(H, W, 3)`` -> ``(H, W)`` float32."""
    return _blur(cv2.transform(cv2.multiply(band, band), np.ones((1, 3), np.float32)), sigma)
