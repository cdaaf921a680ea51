"""Device and precision policy: where the networks run and in which arithmetic.

``auto`` picks CUDA when present, else the CPU; on CUDA the networks run in fp16, on a CPU with
native bf16 (AVX512-BF16 or AMX-BF16) in bf16, else in fp32. Training uses the same rule with
bf16 autocast (fp16 would need loss scaling).
"""

from __future__ import annotations

import functools
import platform
import re
from pathlib import Path
from typing import Literal

import torch

from streamstyle.errors import DeviceError, InvalidOptionError

DeviceName = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
PRECISIONS: dict[str, torch.dtype] = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


BF16_FLAGS = ("amx_bf16", "avx512_bf16")
"""``/proc/cpuinfo`` flags of native bf16 arithmetic."""


@functools.cache
def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def _bf16_flags() -> list[str]:
    return [flag for flag in BF16_FLAGS if re.search(rf"\b{flag}\b", _cpuinfo())]


def cpu_has_native_bf16() -> bool:
    """Whether the CPU has bf16 arithmetic (x86 AVX512-BF16 or AMX-BF16), from ``/proc/cpuinfo``.

    Without it (or off Linux) bf16 is emulated and slower than fp32, so ``auto`` keeps fp32.
    """
    return bool(_bf16_flags())


def cpu_name() -> str:
    """The CPU's model name (``AMD EPYC``, ``Intel(R) Xeon(R) ...``), with its bf16 support, for records."""
    model = re.search(r"^model name\s*:\s*(.+)$", _cpuinfo(), re.M)
    name = model.group(1).strip() if model else platform.processor() or platform.machine()
    flags = _bf16_flags()
    return f"{name} ({', '.join(flags)})" if flags else name


def resolve_device(device: str) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; ``cuda[:N]`` must be available.

    Raises:
        InvalidOptionError: not a device name streamstyle knows.
        DeviceError: CUDA asked for but not available.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise InvalidOptionError(f"unknown device {device!r}; use one of: {', '.join(DEVICES)}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceError("CUDA was asked for but no CUDA device is available; use --device cpu or auto")
    return torch.device(device)


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """``auto`` is fp16 on CUDA, bf16 on a CPU that computes it natively, else fp32; or one of :data:`PRECISIONS`.

    On a CPU with AVX512-BF16, bf16 ran johnson_in 2.5-2.8x as fast as fp32 (640x360 and 1280x720,
    2 cores), at 55 dB PSNR against fp32's output (``streamstyle bench``).

    Raises:
        InvalidOptionError: not a precision streamstyle knows.
    """
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else torch.float32
    if precision not in PRECISIONS:
        raise InvalidOptionError(f"unknown precision {precision!r}; use auto, {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def training_precision(precision: str, device: torch.device) -> torch.dtype:
    """The autocast dtype of training: ``auto`` is bf16 on CUDA and on a CPU with native bf16, else fp32.

    Raises:
        InvalidOptionError: not ``auto``, ``fp32`` or ``bf16``.
    """
    if precision == "auto":
        return torch.bfloat16 if device.type == "cuda" or cpu_has_native_bf16() else torch.float32
    if precision not in ("fp32", "bf16"):
        raise InvalidOptionError(f"unknown training precision {precision!r}; use auto, fp32 or bf16")
    return PRECISIONS[precision]
