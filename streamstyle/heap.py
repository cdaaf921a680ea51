"""The process's heap: keep freed memory for the next frame instead of returning it to the system.

glibc serves large blocks (a frame's activations: 15 MB at 640x360, 59 MB at 1280x720 in bf16)
with ``mmap`` and unmaps them when freed, so every layer of every frame faults its output's pages
in afresh, zero-filled by the kernel. Served from the heap and kept there, they are reused warm:
the ``starry`` network in bf16 on 2 Xeon cores ran 2.07x as fast at 1280x720 (191,372 page faults
a frame before, none after) and 1.13x at 640x360, for 14-34 MB more peak memory
(``bench/heap.py``). A process-wide setting, so the command line turns it on (and the batch
workers, processes of their own); a program embedding the library may call
:func:`keep_freed_memory` itself.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
TRIM_THRESHOLD_BYTES = 1 << 30
"""Free memory at the top of the heap beyond this goes back to the system."""


def keep_freed_memory() -> bool:
    """Serve every allocation from glibc's heap and keep up to 1 GiB of freed memory; whether it took effect.

    Only glibc has these settings: elsewhere (macOS, Windows, musl) nothing changes.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
