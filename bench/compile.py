"""The README's main command with ``--compile off`` against ``auto`` and ``on`` with a cold and a warm cache.

Runs ``streamstyle samples/sample.mp4 --style starry`` as a user types it (the console script),
``--rounds`` times in the order: off; auto with an empty cache folder (nothing recorded, so it
weighs the clip against a cold compile); on with an empty cache folder (what a cold compile
costs); auto and on again with the cache that run left (warm). ``--before DIR`` first runs the
command of another checkout of the project (``python -m streamstyle`` from ``DIR``, with its
defaults and an empty cache folder), to compare with an earlier commit, even one older than
``--compile``. It prints the median wall time of each and the ratios, then the
model-only figures of ``streamstyle bench`` for johnson_in at 640x360 (eager, compiled, compile
time, PSNR, share of the matmul peak).

    python bench/compile.py              # 1 round
    python bench/compile.py --rounds 3 --before ../streamstyle-v0.1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMAND = ["streamstyle", "samples/sample.mp4", "--style", "starry", "-q", "-y"]


def timed(args: list[str], cache: Path, out: Path, checkout: Path | None = None) -> float:
    """Wall seconds of the main command writing ``out`` with its caches under ``cache`` (of ``checkout`` if given)."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache)}
    env.pop("TORCHINDUCTOR_CACHE_DIR", None)
    command = COMMAND
    if checkout is not None:
        env["PYTHONPATH"] = str(checkout)
        command = [sys.executable, "-m", "streamstyle", *COMMAND[1:]]
    started = time.perf_counter()
    subprocess.run([*command, "-o", str(out), *args], cwd=checkout or ROOT, env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--before", type=Path, help="another checkout of the project, run first (its defaults)")
    args = parser.parse_args()
    # label: (--compile, cache folder); the cold "on" run fills the folder that the warm runs reuse
    runs = {"off": ("off", "off"), "auto, cold cache": ("auto", "auto"), "on, cold cache": ("on", "shared"),
            "auto, warm cache": ("auto", "shared"), "on, warm cache": ("on", "shared")}  # fmt: skip
    seconds: dict[str, list[float]] = {label: [] for label in (["before"] if args.before else []) + list(runs)}
    with tempfile.TemporaryDirectory(prefix="streamstyle-compile-") as scratch:
        work = Path(scratch)
        for round_index in range(args.rounds):
            if args.before:
                before = args.before.resolve()
                cache_folder = work / f"round{round_index}" / "before"
                seconds["before"].append(timed([], cache_folder, work / "out.mp4", before))
            for label, (mode, folder) in runs.items():
                cache_folder = work / f"round{round_index}" / folder
                seconds[label].append(timed(["--compile", mode], cache_folder, work / "out.mp4"))
    off = statistics.median(seconds["off"])
    print(f"# {' '.join(COMMAND)}; median of {args.rounds} round(s), the runs of a round in turn")
    if args.before:
        print(f"# before: {args.before} with its defaults")
    for label, times in seconds.items():
        middle = statistics.median(times)
        spread = f"{min(times):.1f}-{max(times):.1f}"
        print(f"{label:<18} {middle:7.1f} s ({spread})  {off / middle:5.2f}x as fast as --compile off")
    subprocess.run(
        ["streamstyle", "bench", "--networks", "johnson_in", "--sizes", "640x360", "--precisions", "fp32,bf16",
         "--model-only", "--frames", "10"],
        cwd=ROOT, check=True,
    )  # fmt: skip


if __name__ == "__main__":
    main()
