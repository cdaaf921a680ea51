"""Compiled networks: ``torch.compile`` (inductor) with static shapes, a warm on-disk cache, eager when it fails.

A compiled network gets one graph per frame size (``dynamic=False``; a new size compiles
anew, which is what inductor on the CPU handles reliably). Inductor's cache lives in the
user's cache folder (:func:`cache_folder`), so a later run of the same network and size
starts in a fraction of the first compile. How long compiling took, and how much faster the
compiled network ran than eager, are recorded per network and size, so ``auto`` can weigh the
next compile against the time it saves (:func:`worth_compiling`). Compiling is a speed-up,
never a new way to fail: any error falls back to the eager network with one warning. A live
run does not wait for its compiles: :mod:`streamstyle.compile_thread` runs them in the background.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, get_args

import torch
from torch import nn

log = logging.getLogger(__name__)

CompileMode = Literal["auto", "on", "off"]
COMPILE_MODES: tuple[str, ...] = get_args(CompileMode)
COLD_COMPILE_SECONDS = 20.0
"""What a first compile is assumed to cost when none was recorded: johnson_in at 640x360 in bf16 took 21 s with
an empty cache on 2 idle Xeon cores (a warm cache: 2.7 s)."""
WARM_SHARE = 0.15
"""A compile with the cache that a first compile left, as a share of that first one (2.7 s against 21 s above)."""
ASSUMED_SPEEDUP = 1.3
"""Compiled against eager where none was measured yet. Model only on 2 Xeon cores in bf16, eager with channels_last
GroupNorm: johnson_in 1.07-1.13x, stylebank and starry_light 1.7-2.2x (``streamstyle bench``)."""


def cache_folder() -> Path:
    """``$XDG_CACHE_HOME/streamstyle`` (``~/.cache/streamstyle``): inductor's cache and the compile-time record."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "streamstyle"


def parse_compile_mode(text: str) -> str:
    """``auto``, ``on`` or ``off``."""
    if text not in COMPILE_MODES:
        raise ValueError(f"must be one of {', '.join(COMPILE_MODES)}, got {text!r}")
    return text


def use_cache_folder() -> None:
    """Put inductor's on-disk cache in :func:`cache_folder` unless the user chose a folder.

    Importing ``torch._dynamo`` already sets ``TORCHINDUCTOR_CACHE_DIR`` to torch's default (a folder in
    ``/tmp``, lost on reboot), so that value counts as unchosen; inductor's memoised paths are cleared.
    """
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    from torch._inductor.utils import clear_caches

    chosen = os.environ.get("TORCHINDUCTOR_CACHE_DIR")
    if chosen is None or os.path.abspath(chosen) == os.path.abspath(default_cache_dir()):
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_folder() / "inductor")
        clear_caches()


def worth_compiling(key: str, *, frames_left: int, eager_seconds: float) -> bool:
    """Whether compiling pays for itself: the eager time it saves on ``frames_left`` frames of ``eager_seconds``
    each, at the speed-up measured for ``key`` (see :func:`compile_key`) or :data:`ASSUMED_SPEEDUP`, exceeds the
    compile time recorded for it, or a cold compile's."""
    speedup = expected_speedup(key)
    saved = frames_left * eager_seconds * (1 - 1 / speedup) if speedup > 1 else 0.0
    return saved > expected_compile_seconds(key)


def expected_compile_seconds(key: str) -> float:
    """What the next compile of ``key`` is expected to take: as recorded (see :func:`_record_seconds`), else a
    cold compile's :data:`COLD_COMPILE_SECONDS`."""
    return _read_record(SECONDS).get(key, COLD_COMPILE_SECONDS)


def expected_speedup(key: str) -> float:
    """How many times as fast as eager the compiled network of ``key`` (see :func:`compile_key`) is expected to run.

    The speed-up recorded for ``key``, else the one recorded for the same network, batch and dtype at the nearest
    frame size (by pixels), else :data:`ASSUMED_SPEEDUP`.
    """
    network, shape, dtype = key.rsplit(":", 2)
    batch, pixels = _batch_and_pixels(shape)
    nearest: tuple[float, float] | None = None  # (distance in log pixels, speed-up)
    for other, speedup in _read_record(SPEEDUPS).items():
        other_network, other_shape, other_dtype = other.rsplit(":", 2)
        other_batch, other_pixels = _batch_and_pixels(other_shape)
        if (other_network, other_batch, other_dtype) == (network, batch, dtype):
            distance = abs(math.log(other_pixels / pixels))
            if nearest is None or distance < nearest[0]:
                nearest = (distance, speedup)
    return ASSUMED_SPEEDUP if nearest is None else nearest[1]


def _batch_and_pixels(shape: str) -> tuple[int, int]:
    """``(N, H * W)`` of a shape written ``NxCxHxW``."""
    batch, _, height, width = (int(value) for value in shape.split("x"))
    return batch, height * width


def record_speedup(key: str, speedup: float) -> None:
    """Remember how many times as fast as eager the compiled network of ``key`` ran (for :func:`worth_compiling`)."""
    _write_record(SPEEDUPS, key, round(speedup, 3))


class CompiledNetwork:
    """``network`` compiled on first call, one graph per input shape; eager again after any compile failure.

    Args:
        network: the eager network (kept, for the fallback).
        key: names the network's graph in the compile-time record (architecture and options: inductor's
            cache holds graphs, so filters of one architecture share a compile).
    """

    def __init__(self, network: nn.Module, key: str) -> None:
        self.network = network
        self.key = key
        self.failed = False
        self.compile_seconds: dict[tuple[int, ...], float] = {}
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None

    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if self.failed:
            return self.network(frames)
        shape = tuple(frames.shape)
        started = time.perf_counter()
        try:
            if self._compiled is None:
                use_cache_folder()
                logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)  # "No CUDA runtime" noise
                self._compiled = torch.compile(self.network, dynamic=False)
            result = self._compiled(frames)
        except Exception as exc:  # inductor raises many kinds (no compiler, unsupported op, ...)
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning("compiling the network failed (%s); running it uncompiled", first_line[:200])
            self.failed = True
            return self.network(frames)
        if shape not in self.compile_seconds:
            self.compile_seconds[shape] = time.perf_counter() - started
            _record_seconds(compile_key(self.key, shape, frames.dtype), self.compile_seconds[shape])
        return result


def compile_key(network_key: str, shape: Sequence[int], dtype: torch.dtype) -> str:
    """The compile records' key of a network on frames of this shape and type."""
    return f"{network_key}:{'x'.join(map(str, shape))}:{dtype}"


SECONDS = "compile_seconds.json"
SPEEDUPS = "compile_speedups.json"


def _read_record(name: str) -> dict[str, float]:
    try:
        return {str(k): float(v) for k, v in json.loads((cache_folder() / name).read_text()).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def _write_record(name: str, key: str, value: float) -> None:
    """Set ``key`` in the record ``name`` (best effort: a cache that cannot be written is no error)."""
    path = cache_folder() / name
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(_read_record(name) | {key: value}, indent=0, sort_keys=True))
        os.replace(temporary, path)
    except OSError:
        pass


def _record_seconds(key: str, seconds: float) -> None:
    """Remember what the next compile of ``key`` will cost.

    After a first compile the cache holds the graph, so the next one costs a warm compile: estimated from the first
    by :data:`WARM_SHARE`, and measured once it happens.
    """
    first = key not in _read_record(SECONDS)
    _write_record(SECONDS, key, round(seconds * WARM_SHARE if first else seconds, 2))
