"""The stylize stage: a filter's network applied to every frame."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import torch
from torch.nn import functional as F

from streamstyle.compile_thread import in_background
from streamstyle.compiling import (
    CompiledNetwork,
    compile_key,
    expected_compile_seconds,
    expected_speedup,
    parse_compile_mode,
    record_speedup,
    worth_compiling,
)
from streamstyle.errors import FilterError, InvalidOptionError
from streamstyle.filters import Filter, find_filter
from streamstyle.frames import FrameBatch, resize_frames
from streamstyle.models.stylebank import SingleStyleNet, StyleBankNet
from streamstyle.stages.base import Param, RunShape, Stage, parse_bool, parse_range
from streamstyle.stages.masks import composite
from streamstyle.stages.tiling import (
    MEMORY_FRACTION,
    MIN_TILE,
    TilePlan,
    available_memory,
    forward_bytes_per_pixel,
    plan_tiles,
    run_plan,
)

REGIONS = ("all", "foreground", "background")
LIVE_COMPILE_WAIT = 10.0
"""A live run compiles before its first frame when that is expected to take at most this many seconds (a warm
cache: 2-7 s here), else in the background while its frames run eagerly (a cold one: 20-70 s)."""
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
"""BT.601 luma coefficients used by colour preservation."""


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """Luma ``(N, 1, H, W)`` of RGB ``(N, 3, H, W)`` (BT.601 weights, same range as the input)."""
    weights = torch.tensor(LUMA_WEIGHTS, dtype=rgb.dtype, device=rgb.device).view(1, 3, 1, 1)
    return (rgb * weights).sum(dim=1, keepdim=True)


def preserve_color(stylised: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Keep the chroma of ``original`` and take the luma of ``stylised`` (both RGB, same range).

    Replacing Y in YCbCr while keeping Cb and Cr is the same as adding the luma difference
    to each RGB channel.
    """
    return original + (luma(stylised) - luma(original))


def parse_tile(text: str) -> int:
    """``auto`` or ``0`` (by free memory), ``off`` or ``-1`` (never), or a tile side of at least ``MIN_TILE``."""
    value = {"auto": 0, "off": -1}.get(text.lower())
    if value is None:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"must be auto, off or a tile side in pixels, got {text!r}") from None
    if value not in (0, -1) and value < MIN_TILE:
        raise ValueError(f"must be auto (0), off (-1) or a tile side of at least {MIN_TILE}, got {text}")
    return value


def parse_region(text: str) -> str:
    """``all``, ``foreground`` or ``background``."""
    if text not in REGIONS:
        raise ValueError(f"must be one of {', '.join(REGIONS)}, got {text!r}")
    return text


class Stylize(Stage):
    """Run a filter's network on each frame.

    Args:
        style: filter name, filter folder, or a :class:`~streamstyle.filters.Filter`.
        strength: 0 keeps the original, 1 is fully stylised; blends linearly between.
        preserve_color: keep the input's colours, take only luminance from the stylised frame.
        scale: processing scale: the network sees the frame resized by this factor and the
            result is resized back, so the output keeps the frame size (smaller is faster and
            gives larger strokes).
        region: ``all``, or only ``foreground`` (inside the batch's masks) or ``background``;
            the rest keeps the incoming pixels. Needs an earlier ``segment`` or ``mask`` stage.
        bank: for a StyleBank filter, which of its styles (default the first).
        tile: 0 (automatic): frames the network cannot take whole in the free memory run in
            smaller groups, or in overlapping tiles with blended seams (see
            :mod:`streamstyle.stages.tiling`); -1: never tile; N: tile frames larger than N pixels in
            N-pixel tiles.
        compile: ``on``: run the network compiled (:mod:`streamstyle.compiling`, channels_last);
            ``auto``: compile when the run is long enough to pay for it, judged by the eager time
            of the second batch and the speed-up a compile brought before (each compile times
            eager and compiled after it, to record it); inputs of unknown length compile at start,
            and so do live ones when that is expected to be quick (:attr:`live_compile_wait`),
            else in the background, their frames running eagerly (at :attr:`scale`, then at
            :attr:`compiled_scale` if set) until it is done; ``off``: eager. Tiled frames run
            eagerly.
    """

    name = "stylize"
    params = (
        Param("style", str, Param.REQUIRED, "filter name or folder", primary=True),
        Param("strength", parse_range(0.0, 1.0), 1.0, "blend with the original: 0 = original, 1 = fully stylised"),
        Param("preserve_color", parse_bool, False, "keep the input's colours; take only luminance from the style"),
        Param(
            "scale",
            parse_range(0.0, 4.0, low_open=True),
            1.0,
            "processing scale (0 < F <= 4); the output keeps the input size",
        ),
        Param("region", parse_region, "all", "where the style goes: all, foreground (inside the mask) or background"),
        Param("bank", str, "", "a StyleBank filter's style (default its first)"),
        Param("tile", parse_tile, 0, "tile side for large frames; auto (0) by free memory, off (-1) never"),
        Param("compile", parse_compile_mode, "auto", "compiled network: auto (when the run pays for it), on or off"),
    )

    def __init__(
        self,
        style: str | Filter,
        *,
        strength: float = 1.0,
        preserve_color: bool = False,
        scale: float = 1.0,
        region: str = "all",
        bank: str = "",
        tile: int | str = 0,
        compile: str = "auto",
    ) -> None:
        self.filter = style if isinstance(style, Filter) else find_filter(style)
        self.style = self.filter.name if isinstance(style, Filter) else str(style)
        self.strength = self.check_option("strength", strength)
        self.preserve_color = self.check_option("preserve_color", preserve_color)
        self.scale = self.check_option("scale", scale)
        self.region = self.check_option("region", region)
        self.bank = bank
        self.tile = self.check_option("tile", tile)
        self.compile = self.check_option("compile", compile)
        self.compiled_scale: float | None = None
        """A live run's processing scale once its network is compiled (it starts eagerly at :attr:`scale`)."""
        self.live_compile_wait = LIVE_COMPILE_WAIT
        """A live run compiles before its first frame if expected to take at most this many seconds (0: never)."""
        self.model = self.filter.load_model()
        if isinstance(self.model, StyleBankNet):
            if bank and bank not in self.model.styles:
                banks = ", ".join(self.model.styles)
                raise InvalidOptionError(f"stylize: no bank {bank!r} in {self.filter.name!r}; banks: {banks}")
            self.model = SingleStyleNet(self.model, bank or self.model.styles[0])
        elif bank:
            raise InvalidOptionError(f"stylize: filter {self.filter.name!r} is not a StyleBank; it has no banks")
        # inductor caches a graph, not weights: every filter of one architecture shares its compile
        options = {k: v for k, v in self.filter.options.items() if k != "styles"}  # one bank runs, whatever the others
        self._compile_key = f"{self.filter.architecture}{sorted(options.items())}"
        self._dtype = torch.float32
        self._bytes_per_pixel: float | None = None
        self._checked = False
        self._compiled: CompiledNetwork | None = None
        self._compiling: CompiledNetwork | None = None  # compiling in the background; eager until it is done
        self._eager_chosen = self.compile == "off"
        self._expected: int | None = None
        self._live = False
        self._done = 0
        self._eager_batches = 0

    def reads(self) -> list[Path]:
        return [self.filter.weights]

    def to(self, device: torch.device, dtype: torch.dtype) -> Stylize:
        # channels_last: on CUDA, and on the CPU eager (1.1-4x, bench/norm.py) as compiled
        self.model = self.model.to(device=device, dtype=dtype, memory_format=torch.channels_last)
        self._dtype = dtype
        self._bytes_per_pixel = None
        self._compiled = self._compiling = None
        return self

    @property
    def compiled(self) -> CompiledNetwork | None:
        """The compiled network once ``compile`` chose it (``None`` while eager); see its ``failed``."""
        return self._compiled

    def start(self, run: RunShape) -> None:
        """An input of unknown length compiles now, before its frames flow, and a live one too if that is quick,
        else in the background (``auto``, ``on``; see :attr:`compile`)."""
        self._expected, self._live, self._done, self._eager_batches = run.frames, run.live, 0, 0
        if self._compiled is None and (self.compile == "on" or (self.compile == "auto" and self._compiles_at_once)):
            scale = self.compiled_scale if run.live and self.compiled_scale is not None else self.scale
            height, width = max(1, round(run.height * scale)), max(1, round(run.width * scale))
            device = next(self.model.parameters()).device
            warm = torch.zeros(run.batch, 3, height, width, device=device, dtype=self._dtype)
            if self._tile_plan(warm) is None:
                expected = expected_compile_seconds(compile_key(self._compile_key, warm.shape, warm.dtype))
                if run.live and expected > self.live_compile_wait:
                    self._compiling = CompiledNetwork(self.model, self._compile_key)
                    in_background(partial(self._compile, self._compiling, warm))
                else:
                    self._compile_now(warm)

    def _compile_now(self, frames: torch.Tensor) -> CompiledNetwork:
        """Compile for frames like ``frames``, in this thread (see :meth:`_compile`)."""
        compiled = self._compiling = CompiledNetwork(self.model, self._compile_key)
        self._compile(compiled, frames)
        return compiled

    @torch.inference_mode()
    def _compile(self, compiled: CompiledNetwork, warm: torch.Tensor) -> None:
        """Compile for frames like ``warm``; the stage then uses ``compiled``, unless closed or moved meanwhile.

        Eager and compiled are then timed on ``warm`` one after the other, so that they share whatever else the
        machine runs meanwhile (a live run's frames), and the speed-up is recorded.
        """
        if self._compiling is not compiled:
            return
        warm = warm.contiguous(memory_format=torch.channels_last)
        compiled(warm)
        if compiled.failed:
            self.compiled_scale = None  # eager after all: it keeps the scale eager keeps up at
        else:
            eager_seconds = self._eager_seconds(warm)
            compiled_seconds, _ = self._timed(compiled, warm)
            record_speedup(compile_key(self._compile_key, warm.shape, warm.dtype), eager_seconds / compiled_seconds)
        if self._compiling is compiled:  # published after compiled_scale, which __call__ reads after _compiled
            self._compiled, self._compiling = compiled, None

    def close(self) -> None:
        self._compiling = None  # a background compile not yet begun is skipped

    @torch.inference_mode()
    def network_seconds(self, height: int, width: int) -> float:
        """Seconds per frame the eager network takes on ``height x width`` inputs: the second of two runs on one
        random frame. For a probe before the run (:func:`~streamstyle.realtime.fit_scale`), which must not
        compile a graph of its own size."""
        device = next(self.model.parameters()).device
        frames = torch.rand(1, 3, height, width, device=device).mul(255).to(self._dtype)
        return self._eager_seconds(frames.contiguous(memory_format=torch.channels_last))

    def _eager_seconds(self, frames: torch.Tensor) -> float:
        """Seconds per frame of the eager network on ``frames``: the second of two runs (the first pays one-time
        costs at this size)."""
        self.model(frames)
        seconds, _ = self._timed(self.model, frames)
        return seconds

    def expected_speedup(self, height: int, width: int) -> float:
        """How many times as fast as eager the network is expected to run on ``height x width`` inputs: 1 with
        ``compile`` off, else what compiling brought before (:func:`~streamstyle.compiling.expected_speedup`)."""
        if self.compile == "off":
            return 1.0
        return expected_speedup(compile_key(self._compile_key, (1, 3, height, width), self._dtype))

    @property
    def _compiles_at_once(self) -> bool:
        return self._live or self._expected is None

    def _network(self, frames: torch.Tensor, compiled: CompiledNetwork | None) -> torch.Tensor:
        """The network on whole frames: ``compiled``, or eager (timed on the second batch, when ``auto`` decides)."""
        frames = frames.contiguous(memory_format=torch.channels_last)
        if compiled is not None:
            return compiled(frames)
        if self._eager_chosen or self._compiling is not None:  # a live input while it compiles in the background
            return self.model(frames)
        if self.compile == "on" or self._compiles_at_once:  # auto: an input of unknown length pays for it
            return self._compile_now(frames)(frames)
        seconds, stylised = self._timed(self.model, frames)
        self._eager_batches += 1
        if self._eager_batches == 2:  # the first batch pays one-time costs: judge by the second
            left = self._expected - self._done - len(frames)
            key = compile_key(self._compile_key, frames.shape, frames.dtype)
            if worth_compiling(key, frames_left=left, eager_seconds=seconds):
                self._compile_now(frames)
            else:
                self._eager_chosen = True
        return stylised

    @staticmethod
    def _timed(network: Callable[[torch.Tensor], torch.Tensor], frames: torch.Tensor) -> tuple[float, torch.Tensor]:
        """Seconds per frame of ``network`` on ``frames``, and its output."""
        started = time.perf_counter()
        stylised = network(frames)
        if stylised.device.type == "cuda":
            torch.cuda.synchronize(stylised.device)
        return (time.perf_counter() - started) / len(frames), stylised

    @torch.inference_mode()
    def __call__(self, batch: FrameBatch) -> FrameBatch:
        # a region is stylised from the input frames, so a second style does not see the first
        original = (batch.input_pixels if self.region != "all" else batch.pixels).to(self._dtype)
        height, width = original.shape[-2:]
        compiled = self._compiled  # read once: a compile in the background may end during this batch
        scale = self.scale if compiled is None or self.compiled_scale is None or not self._live else self.compiled_scale
        frames = original
        if scale != 1.0:
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            frames = resize_frames(original, size)
        plan = self._tile_plan(frames)
        stylised = self._network(frames, compiled) if plan is None else run_plan(self.model, frames, plan)
        self._done += len(frames)
        if scale != 1.0:
            stylised = F.interpolate(stylised, size=(height, width), mode="bilinear", align_corners=False)
        if not self._checked:  # once: weights that give NaN would write black frames, not fail
            if not bool(torch.isfinite(stylised).all()):
                raise FilterError(f"filter {self.filter.name!r} outputs NaN or inf: its weights are broken")
            self._checked = True
        stylised = stylised.clamp(0, 255)
        if self.preserve_color:
            stylised = preserve_color(stylised, original).clamp(0, 255)
        if self.strength < 1.0:
            stylised = torch.lerp(original, stylised, self.strength)
        if self.region != "all":
            if batch.masks is None:
                raise InvalidOptionError(f"stylize: region={self.region} needs masks from a segment or mask stage")
            inside = batch.masks if self.region == "foreground" else 1 - batch.masks
            stylised = composite(stylised, batch.pixels.to(self._dtype), inside)
        return batch.with_pixels(stylised.round().to(torch.uint8))

    @property
    def needs_masks(self) -> bool:
        return self.region != "all"

    def _tile_plan(self, frames: torch.Tensor) -> TilePlan | None:
        """How to run ``frames`` through the network: ``None`` for whole (see :attr:`tile`)."""
        batch, _, height, width = frames.shape
        if self.tile != 0:
            return TilePlan(chunk=batch, tile=self.tile) if max(height, width) > self.tile > 0 else None
        if self._bytes_per_pixel is None:
            self._bytes_per_pixel = forward_bytes_per_pixel(self.model, device=frames.device, dtype=frames.dtype)
        budget = int(MEMORY_FRACTION * available_memory(frames.device))
        stride = int(getattr(self.model, "stride", 1))
        return plan_tiles(batch, height, width, bytes_per_pixel=self._bytes_per_pixel, budget=budget, stride=stride)
