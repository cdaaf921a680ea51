"""The stabilize stage: less flicker by blending each stylised frame with the previous output.

Per-frame stylisation flickers: small changes between input frames (noise, light, motion)
change the network's strokes. This stage follows the motion of the *original* frames with
optical flow, warps the previous output onto the current frame, and blends it into the
current stylised frame where the flow passes the forward-backward check (Ruder et al. 2016
use the same check as a training loss; here it runs at inference, with no retraining). The
output thus follows the original motion, as the warping error in :mod:`streamstyle.temporal`
measures. History is dropped at scene cuts (:class:`~streamstyle.scenecut.SceneCuts`).

A plain blend softens the strokes: bilinear warping blurs a little more on every frame, and
averaging two unaligned stroke patterns lowers their contrast, which moves the style (Gram)
statistics far more than the flicker it removes. So the previous output is warped bicubically,
and after the blend each detail band (Gaussian differences at :data:`DETAIL_SIGMAS`) whose
local energy fell below that of the current stylised frame is scaled back up to it
(:func:`restore_detail`).

Flow needs the frames before stylisation: the stage reads them from
:attr:`~streamstyle.frames.FrameBatch.input_pixels` (the frames as they entered the graph).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import torch

from streamstyle.frames import FrameBatch
from streamstyle.scenecut import CUT_THRESHOLD, SceneCuts
from streamstyle.stages.base import Param, Stage, parse_range
from streamstyle.temporal import FlowPreset, correspondence, gray, resize_flow, sample_positions

FLOW_PRESET: FlowPreset = "medium"
"""DIS preset of the flow (``fast`` misplaces strokes enough to undo much of the blend's gain)."""

FLOW_SIDE = 1280
"""Flow is computed on frames shrunk to at most this many pixels on the long side, then upsampled.

At 640 the upsampled flow misplaces strokes by a pixel or so on 720p frames, which costs about
half the flicker reduction there; 1280 costs 0.2 s more per 720p frame on one CPU thread.
"""

DETAIL_SIGMAS = (1.0, 2.0, 4.0)
"""Gaussian sigmas (pixels) bounding the detail bands whose local energy is restored; coarser is blended only."""

DETAIL_HEADROOM = 1.5
"""Most local energy a detail band may keep, relative to the current stylised frame's."""

MAX_GAIN = 2.0
"""Largest factor a detail band is scaled up by, so a band the blend has nearly flattened is not blown up."""


class Stabilize(Stage):
    """Blend each stylised frame with the previous output warped along the original motion, keeping its detail.

    State (the previous original and output) carries across batches, so use one instance
    per video, or call :meth:`reset` between videos.

    Args:
        strength: weight of the warped previous output where the flow is trusted; 0 turns
            the stage off, 1 keeps strokes fixed to the moving content (only uncovered areas
            take new strokes).
        cut: scene-cut threshold of :class:`~streamstyle.scenecut.SceneCuts`: when the mean
            absolute difference of consecutive grey thumbnails (in [0, 1]) exceeds it, history
            is dropped; 1 never cuts.

    Attributes:
        cuts: scene cuts seen so far.
    """

    name = "stabilize"
    params = (
        Param("strength", parse_range(0.0, 1.0), 0.5, "0 = off, 1 = strokes follow the content fully", primary=True),
        Param("cut", parse_range(0.0, 1.0, low_open=True), CUT_THRESHOLD, "scene-cut threshold (0..1)"),
    )

    def __init__(self, strength: float = 0.5, *, cut: float = CUT_THRESHOLD) -> None:
        self.strength = self.check_option("strength", strength)
        self.cut = self.check_option("cut", cut)
        self.cuts = 0
        self._scene_cuts = SceneCuts(self.cut)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame, so the next frame passes unchanged."""
        self._previous_luma: np.ndarray | None = None
        self._previous_output: np.ndarray | None = None
        self._scene_cuts.reset()

    @torch.inference_mode()
    def __call__(self, batch: FrameBatch) -> FrameBatch:
        if self.strength == 0.0:
            return batch
        cuts = self._scene_cuts(batch.input_pixels)
        frames = zip(_to_host(batch.input_pixels), _to_host(batch.pixels), cuts, strict=True)
        outputs = np.stack([self._step(original, stylised, cut) for original, stylised, cut in frames])
        return batch.with_pixels(torch.from_numpy(outputs).permute(0, 3, 1, 2).to(batch.pixels.device))

    def _step(self, original: np.ndarray, stylised: np.ndarray, cut: bool) -> np.ndarray:
        """Stabilise one frame; ``original`` and ``stylised`` are ``(H, W, 3)`` uint8."""
        luma = _shrink(gray(original))
        previous_luma, previous_output = self._previous_luma, self._previous_output
        output = stylised
        if cut:
            self.cuts += 1
        elif previous_luma is not None and previous_output is not None and previous_output.shape == stylised.shape:
            output = self._blend(previous_luma, luma, previous_output, stylised)
        self._previous_luma, self._previous_output = luma, output
        return output

    def _blend(
        self, previous_luma: np.ndarray, luma: np.ndarray, previous_output: np.ndarray, stylised: np.ndarray
    ) -> np.ndarray:
        match = correspondence(previous_luma, luma, preset=FLOW_PRESET)
        height, width = stylised.shape[:2]
        xs, ys = sample_positions(resize_flow(match.flow, width, height))
        warped = cv2.remap(previous_output, xs, ys, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        trust = cv2.resize(match.visible.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
        weight = self.strength * trust
        current = stylised.astype(np.float32)
        blended = cv2.blendLinear(warped.astype(np.float32), current, weight, 1.0 - weight)
        return np.clip(np.rint(restore_detail(blended, current)), 0, 255).astype(np.uint8)


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


def _shrink(luma: np.ndarray) -> np.ndarray:
    """Grey frame shrunk (area average) to at most :data:`FLOW_SIDE` on the long side."""
    height, width = luma.shape
    factor = FLOW_SIDE / max(height, width)
    if factor >= 1.0:
        return luma
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(luma, size, interpolation=cv2.INTER_AREA)


def _to_host(pixels: torch.Tensor) -> np.ndarray:
    """``(N, 3, H, W)`` uint8 on any device -> ``(N, H, W, 3)`` uint8 numpy."""
    return pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy()
