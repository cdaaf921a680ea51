"""File-to-file and model-only frames per second against the naive per-frame loop.

The same as ``streamstyle bench`` (see :mod:`streamstyle.benchmark`), kept here with the other
benchmark scripts; every option passes through:

    python bench/throughput.py                                  # CPU: 640x360 and 1280x720
    python bench/throughput.py --device cuda --frames 600       # all four sizes, fp32/fp16/bf16
"""

from __future__ import annotations

import sys

from streamstyle.cli import main

if __name__ == "__main__":
    main(["bench", *sys.argv[1:]])
