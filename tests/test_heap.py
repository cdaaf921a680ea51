"""Freed memory is kept for the next frame: a network's activations stop faulting pages in afresh every frame."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

PROBE = """
import resource, sys, torch
from streamstyle.heap import keep_freed_memory
from streamstyle.models.johnson import JohnsonIN
kept = keep_freed_memory() if sys.argv[1] == "keep" else False
model = JohnsonIN(residual_blocks=1).eval().to(dtype=torch.bfloat16, memory_format=torch.channels_last)
frame = torch.rand(1, 3, 720, 1280).mul(255).bfloat16().contiguous(memory_format=torch.channels_last)
faults = []
with torch.inference_mode():
    for _ in range(4):  # the first layer's output alone is 59 MB, above glibc's largest heap-served block
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        model(frame)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(kept, min(faults[1:]))
"""


def page_faults_per_frame(mode: str) -> tuple[bool, int]:
    """Whether freed memory was kept, and the fewest page faults of a frame after the first."""
    result = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    kept, faults = result.stdout.split()
    return kept == "True", int(faults)


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc settings only"
)
def test_frames_after_the_first_reuse_freed_memory() -> None:
    _, by_default = page_faults_per_frame("default")
    kept, keeping = page_faults_per_frame("keep")
    assert kept, "keep_freed_memory took effect"
    assert by_default > 10_000, "by default glibc unmaps large freed blocks: each frame faults its pages in again"
    assert keeping < by_default / 10, (keeping, by_default)
