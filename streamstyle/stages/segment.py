"""Region stages: ``segment`` (DeepLabV3 / LR-ASPP masks) and ``mask`` (masks from a file).

Both attach soft masks to the batch (``FrameBatch.masks``); region-aware stages such as
``stylize=...:region=background`` use them.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from streamstyle.frames import FrameBatch, resize_frames
from streamstyle.io.media import Frame
from streamstyle.io.opening import files_read, open_source
from streamstyle.stages.base import Param, Stage, decay_frames, parse_range
from streamstyle.stages.masks import TemporalSmoother, feather
from streamstyle.stages.segmenters import SEGMENTERS, load_segmenter


def parse_classes(text: str) -> tuple[str, ...]:
    """Class names joined by ``+`` (``person+dog``)."""
    classes = tuple(name.strip() for name in text.split("+"))
    if not all(classes):
        raise ValueError(f"expected class names joined by '+', got {text!r}")
    return classes


def parse_segmenter(text: str) -> str:
    if text not in SEGMENTERS:
        raise ValueError(f"unknown segmenter {text!r}; use one of: {', '.join(SEGMENTERS)}")
    return text


def parse_every(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(f"must be at least 1, got {text}")
    return value


def parse_size(text: str) -> int:
    value = int(text)
    if not 64 <= value <= 4096:
        raise ValueError(f"must be in [64, 4096] pixels, got {text}")
    return value


class Segment(Stage):
    """Soft masks of the chosen classes from a torchvision segmentation network.

    The network runs on frames resized to ``size`` pixels on the short side; its class
    probabilities are smoothed over time at that size, upsampled to the frame and feathered.

    Args:
        classes: class names from the network's categories (``person`` ...), joined by ``+``.
        model: ``deeplabv3_mobilenet_v3_large`` (default, fast), ``deeplabv3_resnet50``,
            ``deeplabv3_resnet101`` or ``lraspp_mobilenet_v3_large``.
        size: short side in pixels the network sees (520 as torchvision's recipe).
        feather: width in pixels of the soft edge (Gaussian, sigma = feather / 2).
        smooth: temporal smoothing, 0 (none) to 0.95: weight of the previous mask (reset at cuts).
        every: run the network on every N-th frame only and reuse its mask in between.
        weights: a ``.pth`` file, or empty for torchvision's (hub cache / download), or ``random``.
    """

    name = "segment"
    params = (
        Param("classes", parse_classes, ("person",), "class names joined by '+'", primary=True),
        Param("model", parse_segmenter, "deeplabv3_mobilenet_v3_large", "segmentation network"),
        Param("size", parse_size, 520, "short side the network sees, in pixels"),
        Param("feather", parse_range(0.0, 256.0), 0.0, "soft edge width in pixels"),
        Param("smooth", parse_range(0.0, 0.95), 0.0, "temporal smoothing of the mask"),
        Param("every", parse_every, 1, "run the network every N frames"),
        Param("weights", str, "", "weights file, empty for torchvision's, or 'random'"),
    )
    produces_masks = True

    def __init__(
        self,
        classes: str | tuple[str, ...] = ("person",),
        *,
        model: str = "deeplabv3_mobilenet_v3_large",
        size: int = 520,
        feather: float = 0.0,
        smooth: float = 0.0,
        every: int = 1,
        weights: str | Path = "",
    ) -> None:
        self.classes = self.check_option("classes", "+".join(classes) if isinstance(classes, tuple) else classes)
        self.model = self.check_option("model", model)
        self.size = self.check_option("size", size)
        self.feather = self.check_option("feather", feather)
        self.smooth = self.check_option("smooth", smooth)
        self.every = self.check_option("every", every)
        self.weights = str(weights)
        self.segmenter = load_segmenter(self.model, weights=self.weights or None)
        self._indices = self.segmenter.class_indices(self.classes)
        self._smoother = TemporalSmoother(self.smooth)
        self._frame_index = 0
        self._last_raw: torch.Tensor | None = None
        self._dtype = torch.float32
        self._mean = torch.tensor(self.segmenter.mean).view(1, 3, 1, 1)
        self._std = torch.tensor(self.segmenter.std).view(1, 3, 1, 1)

    @property
    def memory_frames(self) -> int:
        return decay_frames(self.smooth) + self.every - 1

    def to(self, device: torch.device, dtype: torch.dtype) -> Segment:
        # channels_last: 1.2-1.9x on the CPU (bench/segment.py); compiling measured slower than that, so it stays eager
        self.segmenter.model.to(device=device, dtype=dtype, memory_format=torch.channels_last)
        self._mean, self._std = self._mean.to(device, dtype), self._std.to(device, dtype)
        self._dtype = dtype
        return self

    @torch.inference_mode()
    def __call__(self, batch: FrameBatch) -> FrameBatch:
        due = [i for i in range(len(batch)) if (self._frame_index + i) % self.every == 0]
        self._frame_index += len(batch)
        fresh = iter(self._probabilities(batch.input_pixels[due]) if due else ())
        masks = []
        for i in range(len(batch)):
            if i in due:
                self._last_raw = next(fresh)
            masks.append(self._last_raw)
        smoothed = self._smoother(torch.stack(masks), batch.input_pixels)  # type: ignore[arg-type]
        full = F.interpolate(smoothed, size=batch.pixels.shape[-2:], mode="bilinear", align_corners=False)
        return batch.with_masks(feather(full, self.feather).clamp(0, 1).float())

    def _probabilities(self, pixels: torch.Tensor) -> torch.Tensor:
        """Summed softmax probability of the chosen classes, at the network's size: ``(n, 1, h, w)``."""
        height, width = pixels.shape[-2:]
        scale = self.size / min(height, width)
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        frames = resize_frames(pixels.float() / 255, size, antialias=scale < 1).to(self._dtype)
        frames = frames.contiguous(memory_format=torch.channels_last)
        logits = self.segmenter.model((frames - self._mean) / self._std)["out"]
        return logits.float().softmax(dim=1)[:, self._indices].sum(dim=1, keepdim=True)


class MaskFile(Stage):
    """Masks from a file: a mask video (frame by frame, the last one held) or a still image.

    Grey level is the weight: white (255) is inside the region, black outside. Masks are
    resized to the frame size.

    Args:
        path: the mask video or image.
    """

    name = "mask"
    params = (Param("path", str, Param.REQUIRED, "mask video or image (white = region)", primary=True),)
    produces_masks = True
    splittable = False  # its frames are read from the mask's start

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._source = open_source(self.path)
        greys = (_grey(item) for item in self._source.read() if isinstance(item, Frame))
        self._current = next(greys)  # a source always has a first frame
        self._greys = itertools.chain([self._current], greys)
        self._device = torch.device("cpu")

    def to(self, device: torch.device, dtype: torch.dtype) -> MaskFile:
        self._device = device
        return self

    def close(self) -> None:
        self._source.close()

    def reads(self) -> list[Path]:
        return files_read(self.path)

    def _next_mask(self) -> np.ndarray:
        self._current = next(self._greys, self._current)
        return self._current

    @torch.inference_mode()
    def __call__(self, batch: FrameBatch) -> FrameBatch:
        grey = torch.from_numpy(np.stack([self._next_mask() for _ in range(len(batch))]))[:, None]
        masks = F.interpolate(grey.to(self._device), size=batch.pixels.shape[-2:], mode="bilinear", align_corners=False)
        return batch.with_masks(masks.clamp(0, 1))


def _grey(frame: Frame) -> np.ndarray:
    return frame.rgb.mean(axis=2, dtype=np.float32) / 255
