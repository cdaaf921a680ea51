"""Frames too large for memory: run a network over overlapping tiles and blend the seams.

A tile's input window reaches ``margin`` pixels past the part of its output that is kept, so
what the tile cannot see (the zero or reflection padding at its cut edges) falls in the part
that is thrown away. Neighbouring kept parts overlap by ``overlap`` pixels and are cross-faded
there with complementary raised-cosine ramps (the weights sum to one everywhere). Tile origins
are multiples of the network's stride, so every strided layer samples the same grid as it does
on the whole frame.

InstanceNorm layers normalise with per-image statistics, which a tile alone gets wrong, so every
InstanceNorm here normalises each tile with the statistics of the whole frame, measured exactly
layer by layer before the output pass: pass ``k`` runs every tile up to the ``k``-th
InstanceNorm (the ones before it already fixed to whole-frame statistics), merges that layer's
input statistics over the part of the frame each tile owns, and stops the tile there. For a
network with ``L`` InstanceNorm layers this costs the sum of ``L`` forward prefixes: 6.4 full
passes of ``johnson_in`` in FLOPs, 7.4 with the output pass; measured on the CPU, 5.6x the
untiled time (1920x1080, tiles of 768). Cheaper statistics were measured against the untiled
``starry`` output and rejected: those of the frame downscaled to 1 MP give 26.7 dB PSNR at
1920x1080, downscaled to one tile 21.5 dB (``chicago.jpg``, tiles of 192), and passes that
re-measure all layers at once from such an estimate diverge (5.2 dB after one pass, 12.5 after
two). With whole-frame statistics, BatchNorm (eval mode) or no normalisation, the tiled output
equals the untiled one up to float rounding for a ``margin`` of at least the network's
receptive-field radius (57 pixels for ``johnson``); for ``starry`` the default 32 gives 59-70
dB on 320x240 to 712x474 photos in tiles of 160-256 and 73.4 dB at 1920x1080 in tiles of 768.

While :func:`tiled_forward` runs, the network's InstanceNorm modules have their ``forward``
replaced, so the network must not be used from another thread meanwhile.

:func:`plan_tiles` decides from the free memory whether a batch runs whole, in smaller
groups of frames, or tiled; :func:`run_plan` carries the plan out.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import torch
from torch import nn

from streamstyle.errors import OutOfMemoryError

DEFAULT_OVERLAP = 32
"""Width in pixels of the band where neighbouring tiles are cross-faded."""
DEFAULT_MARGIN = 32
"""Context in pixels each tile sees past the output it keeps (its output there is dropped)."""
MIN_TILE = 2 * (DEFAULT_OVERLAP + DEFAULT_MARGIN) + 4
"""Smallest tile side with the default overlap and margin, for networks of stride 4 (all of
:mod:`streamstyle.models`)."""
MEMORY_FRACTION = 0.5
"""Share of the free memory one forward pass may plan to use (frames in flight, the encoder,
other processes and allocator fragmentation take the rest)."""
ACTIVATION_SAFETY = 3.0
"""Peak memory of a forward pass over the memory of its widest layer (input plus output of the
largest leaf module). Measured in fp32 on the CPU (peak RSS growth of a 960x540 forward): 1.9x
for ``johnson_in`` (``starry``), 2.3x ``depsep_nn_bil``, 2.6x ``stylebank``, 2.8x ``johnson``."""
FRAME_BYTES_PER_PIXEL = 64
"""Memory per frame pixel that the tiled path needs beside the tile's activations: about five
float32 RGB frames (the stage's input, the network's input and output, blending and the
stage's steps after the network)."""
PROBE_SIZE = 64
"""Side in pixels of the frame :func:`forward_bytes_per_pixel` runs through the network."""


@dataclass(frozen=True)
class TilePlan:
    """How to run a batch that does not fit in memory whole.

    Attributes:
        chunk: frames per forward pass (the batch is split into groups of this many).
        tile: tile side in pixels, or ``None`` to run whole frames.
        overlap: cross-fade band between neighbouring tiles, pixels.
        margin: context past each tile's kept output, pixels.
    """

    chunk: int
    tile: int | None = None
    overlap: int = DEFAULT_OVERLAP
    margin: int = DEFAULT_MARGIN


def available_memory(device: torch.device) -> int:
    """Bytes that can be allocated on ``device`` now.

    CUDA: free device memory plus what PyTorch's allocator holds cached but unused. CPU:
    ``MemAvailable`` of ``/proc/meminfo``, else the free physical pages (``os.sysconf``).
    """
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def forward_bytes_per_pixel(model: nn.Module, *, device: torch.device, dtype: torch.dtype) -> float:
    """Estimated peak memory of one forward pass of ``model``, bytes per input pixel.

    :data:`ACTIVATION_SAFETY` times the widest layer (input plus output of a leaf module),
    measured by running one ``PROBE_SIZE`` square frame with forward hooks on every leaf module.
    """
    widest = 0

    def measure(module: nn.Module, inputs: tuple[object, ...], output: object) -> None:
        nonlocal widest
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        widest = max(widest, sum(t.numel() * t.element_size() for t in tensors))

    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    handles = [leaf.register_forward_hook(measure) for leaf in leaves]
    try:
        with torch.inference_mode():
            model(torch.zeros(1, 3, PROBE_SIZE, PROBE_SIZE, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
    return ACTIVATION_SAFETY * widest / PROBE_SIZE**2


def plan_tiles(
    batch: int,
    height: int,
    width: int,
    *,
    bytes_per_pixel: float,
    budget: int,
    stride: int = 4,
    overlap: int = DEFAULT_OVERLAP,
    margin: int = DEFAULT_MARGIN,
) -> TilePlan | None:
    """Choose how to run ``batch`` frames of ``height x width`` within ``budget`` bytes.

    The whole batch when it fits; else the most frames per pass that fit; else one frame at a
    time in the largest square tiles that fit (a multiple of ``stride``), after
    :data:`FRAME_BYTES_PER_PIXEL` for the whole-frame buffers of the tiled path.

    Args:
        bytes_per_pixel: peak bytes of one forward pass per input pixel
            (:func:`forward_bytes_per_pixel`).
        budget: bytes one forward pass may use (e.g. ``MEMORY_FRACTION * available_memory(...)``).

    Returns:
        ``None`` when the batch fits whole, else a :class:`TilePlan`.

    Raises:
        OutOfMemoryError: not even the smallest tile (``2 * (overlap + margin) + stride``) fits.
    """
    pixels = height * width
    frames_fitting = int(budget // (bytes_per_pixel * pixels))
    if frames_fitting >= batch:
        return None
    if frames_fitting >= 1:
        return TilePlan(chunk=frames_fitting)
    tile_budget = budget - pixels * FRAME_BYTES_PER_PIXEL
    side = math.isqrt(max(0, int(tile_budget / bytes_per_pixel))) // stride * stride
    smallest = 2 * (_aligned(overlap, stride) + _aligned(margin, stride)) + stride
    if side < smallest:
        raise OutOfMemoryError(
            f"a {width}x{height} frame needs tiles of at least {smallest} px, which do not fit in {budget:,} bytes"
        )
    return TilePlan(chunk=1, tile=side, overlap=overlap, margin=margin)


def run_plan(model: nn.Module, frames: torch.Tensor, plan: TilePlan) -> torch.Tensor:
    """``model(frames)`` in groups of ``plan.chunk`` frames, each tiled if ``plan.tile`` is set.

    Shape:
        ``(N, 3, H, W)`` -> the model's output for it, ``(N, 3, H, W)``.
    """
    outputs = []
    for group in frames.split(plan.chunk):
        if plan.tile is None:
            outputs.append(model(group))
        else:
            outputs.append(tiled_forward(model, group, tile=plan.tile, overlap=plan.overlap, margin=plan.margin))
    return outputs[0] if len(outputs) == 1 else torch.cat(outputs)


@torch.inference_mode()
def tiled_forward(
    model: nn.Module,
    frames: torch.Tensor,
    *,
    tile: int,
    overlap: int = DEFAULT_OVERLAP,
    margin: int = DEFAULT_MARGIN,
) -> torch.Tensor:
    """Run an image-to-image ``model`` over overlapping tiles of ``frames`` and blend the seams.

    Args:
        model: maps ``(N, 3, h, w)`` to ``(N, C, h, w)``; its ``stride`` attribute (default 1)
            aligns the tiles; InstanceNorm2d layers (without running statistics) get the
            whole frame's statistics (each such module must be called once per forward).
        frames: ``(N, 3, H, W)``.
        tile: largest tile side the network sees, pixels.
        overlap: width of the cross-faded band between neighbouring tiles (rounded up to the stride).
        margin: context past the kept output at a tile's inner edges (rounded up to the stride).

    Returns:
        The blended output, the shape and dtype ``model`` gives for the whole frame.

    Raises:
        ValueError: ``tile`` too small for ``overlap`` and ``margin``
            (it must be at least ``2 * (overlap + margin) + stride``).
    """
    stride = int(getattr(model, "stride", 1))
    min_size = int(getattr(model, "min_size", 1))
    overlap, margin = _aligned(overlap, stride), _aligned(margin, stride)
    if tile < 2 * (overlap + margin) + stride:
        raise ValueError(f"tile {tile} is smaller than 2 * (overlap {overlap} + margin {margin}) + stride {stride}")
    height, width = frames.shape[-2:]
    rows = _spans(height, tile, overlap, margin, stride)
    cols = _spans(width, tile, overlap, margin, stride)
    if len(rows) == len(cols) == 1:
        return model(frames)
    tiles = [(row, col) for row in rows for col in cols]
    output: torch.Tensor | None = None
    with _FrameNorms(model) as norms:
        while norms.measuring():
            for row, col in tiles:
                norms.owned = (row.owned(height, stride, min_size), col.owned(width, stride, min_size))
                with suppress(_Measured):
                    model(frames[..., row.start : row.stop, col.start : col.stop])
        norms.freeze()
        for row, col in tiles:
            result = model(frames[..., row.start : row.stop, col.start : col.stop])
            if output is None:
                output = result.new_zeros(*result.shape[:2], height, width)
            kept = result[..., row.keep.start - row.start : row.keep.stop - row.start, :]
            kept = kept[..., col.keep.start - col.start : col.keep.stop - col.start]
            output[..., row.keep, col.keep] += kept * (row.weights(kept)[:, None] * col.weights(kept)[None, :])
    assert output is not None  # there are several tiles
    return output


@dataclass(frozen=True)
class _Span:
    """One tile along one axis: the window the network sees and the part of it that is kept."""

    start: int
    stop: int
    keep: slice
    fade_in: int  # cross-fade width at the start of ``keep`` (0 at the frame's edge)
    fade_out: int  # and at its end
    own: slice  # the frame positions whose statistics this tile contributes

    def weights(self, like: torch.Tensor) -> torch.Tensor:
        """Blending weight of every kept position: raised-cosine ramps over the fades, 1 between."""
        length = self.keep.stop - self.keep.start
        weight = torch.ones(length, dtype=like.dtype, device=like.device)
        if self.fade_in:
            weight[: self.fade_in] = _ramp(self.fade_in, like)
        if self.fade_out:
            weight[length - self.fade_out :] = _ramp(self.fade_out, like).flip(0)
        return weight

    def owned(self, length: int, stride: int, min_size: int) -> tuple[int, int, int]:
        """``(start, stop, window)``: the owned part relative to the window, and the window's size,
        both after the network pads the window (the last tile also owns the frame's padding)."""
        window = _padded(self.stop - self.start, stride, min_size)
        stop = self.own.stop - self.start if self.own.stop < length else window
        return self.own.start - self.start, stop, window


def _ramp(length: int, like: torch.Tensor) -> torch.Tensor:
    """Raised cosine from 0 to 1 at pixel centres; ``ramp + ramp.flip(0) == 1``."""
    t = (torch.arange(length, dtype=torch.float64) + 0.5) / length
    return (0.5 - 0.5 * torch.cos(math.pi * t)).to(dtype=like.dtype, device=like.device)


def _aligned(value: int, stride: int) -> int:
    return -(-value // stride) * stride


def _padded(length: int, stride: int, min_size: int) -> int:
    """Length after the network's own padding to its stride (``models.padding.pad_to_stride``)."""
    return max(_aligned(length, stride), min_size)


def _spans(length: int, tile: int, overlap: int, margin: int, stride: int) -> list[_Span]:
    """Tiles along an axis of ``length``: kept parts ``step + overlap`` long, ``step`` apart.

    The step is the same for all tiles (a multiple of ``stride``, at least ``overlap``), so a
    position lies in at most two kept parts and their cross-fades are complementary.
    """
    if length <= tile:
        return [_Span(0, length, slice(0, length), 0, 0, slice(0, length))]
    largest = (tile - overlap - 2 * margin) // stride * stride
    count = -(-(length - overlap) // largest)
    step = max(_aligned(-(-(length - overlap) // count), stride), overlap)
    count = -(-(length - overlap) // step)
    spans = []
    for index in range(count):
        keep_start, keep_stop = index * step, min(length, (index + 1) * step + overlap)
        spans.append(
            _Span(
                start=max(0, keep_start - margin),
                stop=min(length, keep_stop + margin),
                keep=slice(keep_start, keep_stop),
                fade_in=overlap if index > 0 else 0,
                fade_out=overlap if index < count - 1 else 0,
                own=slice(keep_start, keep_stop if index == count - 1 else (index + 1) * step),
            )
        )
    return spans


class _Measured(Exception):
    """Raised inside a forward pass once the layer being measured has seen its input."""


class _FrameNorms:
    """Whole-frame statistics for the InstanceNorm2d layers of a model, applied to its tiles.

    A context manager: inside it the layers' ``forward`` is replaced (an instance attribute
    shadows the method), on exit restored. Statistics are per frame and channel, ``(N, C)``,
    kept in float64; each tile's part is reduced in float32 and the parts are merged exactly
    (Chan et al.'s pairwise update).
    """

    def __init__(self, model: nn.Module) -> None:
        self.layers = [m for m in model.modules() if isinstance(m, nn.InstanceNorm2d) and not m.track_running_stats]
        self.stats: dict[nn.Module, _Moments] = {}
        self.owned: tuple[tuple[int, int, int], tuple[int, int, int]] = ((0, 0, 0), (0, 0, 0))
        self._passes = 0
        self._target: nn.Module | None = None  # the layer the current pass measures, once reached
        self._collected: _Moments | None = None

    def __enter__(self) -> _FrameNorms:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._restore()

    def measuring(self) -> bool:
        """Store the last measuring pass's result and start the next; ``False`` when all are measured.

        During a pass the layers already measured normalise with whole-frame statistics; the
        first one not yet measured that a forward reaches merges the statistics of its input
        over the :attr:`owned` part of the tile and raises :class:`_Measured`.
        """
        if self._passes:
            if self._target is None or self._collected is None:  # the pass reached no unmeasured layer
                return False
            self.stats[self._target] = self._collected
        self._passes += 1
        self._target, self._collected = None, None
        if len(self.stats) == len(self.layers):
            return False
        for module in self.layers:
            self._swap(module, self._normalise if module in self.stats else self._measure)
        return True

    def freeze(self) -> None:
        """From now on every InstanceNorm layer normalises with the stored statistics."""
        for module in self.layers:
            self._swap(module, self._normalise)

    def _measure(self, module: nn.Module, x: torch.Tensor) -> NoReturn:
        if self._target is None:
            self._target = module
        elif module is not self._target:
            raise RuntimeError("the layers of the network are not reached in the same order for every tile")
        (top, bottom, window_h), (left, right, window_w) = self.owned
        height, width = x.shape[-2:]
        part = x[..., top * height // window_h : bottom * height // window_h, :]
        moments = _Moments.of(part[..., left * width // window_w : right * width // window_w])
        self._collected = moments if self._collected is None else self._collected.merge(moments)
        raise _Measured

    def _normalise(self, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        assert isinstance(module, nn.InstanceNorm2d)
        moments = self.stats[module]
        scale = (moments.var + module.eps).rsqrt()
        if module.weight is not None:
            scale = scale * module.weight.double()
        shift = -moments.mean * scale
        if module.bias is not None:
            shift = shift + module.bias.double()
        shape = (*scale.shape, 1, 1)
        return torch.addcmul(shift.to(x.dtype).view(shape), x, scale.to(x.dtype).view(shape))

    @staticmethod
    def _swap(module: nn.Module, forward: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> None:
        module.forward = lambda x: forward(module, x)  # type: ignore[method-assign]

    def _restore(self) -> None:
        for module in self.layers:
            vars(module).pop("forward", None)


@dataclass(frozen=True)
class _Moments:
    """Count, mean and (biased) variance per frame and channel, ``(N, C)`` float64."""

    count: int
    mean: torch.Tensor
    var: torch.Tensor

    @classmethod
    def of(cls, x: torch.Tensor) -> _Moments:
        """Moments of ``(N, C, h, w)`` over ``h x w``."""
        var, mean = torch.var_mean(x.float(), dim=(2, 3), correction=0)
        return cls(x.shape[-2] * x.shape[-1], mean.double(), var.double())

    def merge(self, other: _Moments) -> _Moments:
        """Moments of both parts together."""
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * (other.count / count)
        squares = self.var * self.count + other.var * other.count + delta.square() * (self.count * other.count / count)
        return _Moments(count, mean, squares / count)
