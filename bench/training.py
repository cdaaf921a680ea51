"""Training speed on this machine: s/step of ``streamstyle train``'s step, fp32 against bf16, at 128 and 256 px crops.

    python bench/training.py [--steps 4] [--rounds 3] [--profile]

Each configuration is a real :class:`~streamstyle.train.trainer.Trainer` (johnson_in, batch 4,
VGG-19 to relu4_4, the bundled filters' recipe) on ../shared/data's BSDS500 photos and the
Starry Night. The configurations take turns, ``--steps`` steps each per round, and the median
over the rounds is printed, so a change in the machine's load hits them alike. bf16 is the
trainer's bf16 path (autocast and channels_last); fp32 its fp32 path. ``--profile`` also prints
where one bf16 step's time goes at each crop size (the operators' self CPU time), which is what
explains why a 256 crop costs more than 4x a 128 one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

from streamstyle.device import cpu_name
from streamstyle.train.trainer import TrainConfig, Trainer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CONFIGS = [("fp32", 128), ("bf16", 128), ("fp32", 256), ("bf16", 256)]


def trainer(precision: str, crop: int, work: Path) -> Trainer:
    config = TrainConfig(
        (DATA / "styles" / "starry_night.jpg",), DATA / "content" / "bsds500" / "train", f"{precision}_{crop}",
        crop=crop, style_size=384, vgg=DATA / "weights" / "vgg19_normalised.pth", work=work, output=work,
        precision=precision, device="cpu",
    )  # fmt: skip
    return Trainer(config)


def timed(run: Trainer, steps: int) -> float:
    started = time.perf_counter()
    for _ in range(steps):
        run.train_step()
        run.step += 1
    return (time.perf_counter() - started) / steps


def op_times(run: Trainer) -> dict[str, float]:
    """Self CPU seconds per operator in one step."""
    with profile(activities=[ProfilerActivity.CPU]) as trace:
        run.train_step()
    return {event.key: event.self_cpu_time_total / 1e6 for event in trace.key_averages()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3, help="steps per configuration per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if not (DATA / "weights" / "vgg19_normalised.pth").is_file():
        raise SystemExit(f"needs the VGG-19 and photos of {DATA}")
    print(f"# {cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as folder:
        runs = {config: trainer(*config, Path(folder)) for config in CONFIGS}
        for run in runs.values():
            timed(run, 1)  # warm-up: allocations, oneDNN kernels
        times: dict[tuple[str, int], list[float]] = {config: [] for config in CONFIGS}
        for _ in range(args.rounds):
            for config, run in runs.items():
                times[config].append(timed(run, args.steps))
        print(f"{'crop':>5} {'fp32 s/step':>12} {'bf16 s/step':>12} {'bf16 gain':>10}")
        median = {config: statistics.median(values) for config, values in times.items()}
        for crop in (128, 256):
            fp32, bf16 = median["fp32", crop], median["bf16", crop]
            print(f"{crop:>5} {fp32:>12.3f} {bf16:>12.3f} {fp32 / bf16:>9.2f}x")
        for precision in ("fp32", "bf16"):
            ratio = median[precision, 256] / median[precision, 128]
            print(f"# {precision}: a 256 step costs {ratio:.2f}x a 128 step (4x the pixels)")
        if args.profile:
            small, large = op_times(runs["bf16", 128]), op_times(runs["bf16", 256])
            print(f"# one bf16 step by operator (self CPU s): {'128':>7} {'256':>7} {'ratio':>6}")
            for name in sorted(large, key=large.get, reverse=True)[:12]:
                print(f"{name[:40]:<40} {small.get(name, 0):>7.3f} {large[name]:>7.3f} "
                      f"{large[name] / max(small.get(name, 0), 1e-9):>6.1f}")  # fmt: skip
            print(f"{'total':<40} {sum(small.values()):>7.3f} {sum(large.values()):>7.3f} "
                  f"{sum(large.values()) / sum(small.values()):>6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
