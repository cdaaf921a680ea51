"""Cost of the stability stages and the flicker (warping error) of plain against stabilised stylisation.

Prints two figures, both measured in one run on this machine:

1. milliseconds per 1280x720 frame of the stages ``--stability 0.5`` adds (``denoise`` before
   the network, ``stabilize`` after it, one optical flow shared), without the network, on the
   first frames of ``juggle_720p.mp4``;
2. a table of warping error (Lai et al. 2018, lower is steadier; the ``original`` row is
   the floor), style loss (unweighted Gram distance to the filter's painting, as
   ``streamstyle evaluate`` measures it, on every 4th frame from the 4th: the first frame has
   nothing to blend with; it should move little), both also relative to plain ``stylize``, and
   milliseconds per frame (decode, stages and network) for each clip under ``../shared/data/video``:
   the filter applied frame by frame, the same with each ``--stability`` level, each ``--graph``
   (e.g. ``denoise=0.9,stylize=starry`` to see one stage alone), and each ``--compare`` filter
   applied frame by frame (e.g. the filter fine-tuned with ``--temporal-weight``, and as the
   control the same fine-tuning without it), measured against the ``--style`` filter's painting.

    python bench/temporal.py [--style starry] [--frames 48] [--stability 0.5 --stability 1] [--device cpu]
                             [--graph denoise=0.9,stylize=starry ...] [--compare runs/filters/steady ...]
                             [--vgg ../shared/data/weights/vgg19_normalised_conv1-4_fp16.pth]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import platform
import sys
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from streamstyle import FrameBatch, Pipeline, Stage, StreamStyleError, Stylize, build_graph, find_filter, open_source
from streamstyle.frames import to_host
from streamstyle.io.media import Frame
from streamstyle.stages.stabilize import stability_stages
from streamstyle.temporal.metrics import frames_warping_error
from streamstyle.train.evaluate import filter_loss
from streamstyle.train.losses import PerceptualLoss

VIDEO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
SHARED_VGG = VIDEO_DIR.parent / "weights" / "vgg19_normalised_conv1-4_fp16.pth"
CLIPS = ("juggle_720p.mp4", "bedroom_540p.mp4", "carphone_176x144.mp4", "fox.mp4")


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    with open_source(path) as source:
        frames = (item.rgb for item in source.read() if isinstance(item, Frame))
        return list(itertools.islice(frames, count))


def stability_ms_per_frame(path: Path, count: int, batch_size: int) -> float:
    """The stages of ``--stability 0.5`` on real 720p frames, the negative of each frame standing in for the network."""
    frames = read_frames(path, count)
    denoise, stabilize = stability_stages(0.5)
    seconds, timed = 0.0, 0
    for start in range(0, len(frames), batch_size):
        pixels = torch.from_numpy(np.stack(frames[start : start + batch_size])).permute(0, 3, 1, 2)
        pts = torch.arange(start, start + len(pixels), dtype=torch.int64)
        began = time.perf_counter()
        batch = denoise(FrameBatch(pixels=pixels, pts=pts, time_base=Fraction(1, 24), source=pixels))
        stabilize(batch.with_pixels(255 - batch.pixels))
        if start > 0:  # the first batch has a frame with nothing to blend with
            seconds += time.perf_counter() - began
            timed += len(pixels)
    return 1000 * seconds / max(timed, 1)


def run_frames(path: Path, stages: Sequence[Stage], count: int, batch_size: int, device: str) -> tuple[list, float]:
    """The first ``count`` output frames of ``stages`` over ``path``, and the wall ms per frame after the first batch.

    The first batch is left out of the time: it pays for loading the network and starting the pipeline.
    """
    outputs: list[np.ndarray] = []
    with (
        Pipeline(open_source(path), list(stages), batch_size=batch_size, device=device) as run,
        contextlib.closing(iter(run)) as batches,
    ):
        for batch in batches:
            if not outputs:
                began, first = time.perf_counter(), len(batch)
            outputs += list(to_host(batch.pixels))[: count - len(outputs)]
            if len(outputs) >= count:
                break
    return outputs, 1000 * (time.perf_counter() - began) / max(len(outputs) - first, 1)


def methods_for(style: str, stabilities: list[float], graphs: list[str], compare: list[str]) -> dict[str, list[Stage]]:
    """The stages of each row, by the row's label."""
    methods: dict[str, list[Stage]] = {"stylize": [Stylize(style)]}
    for stability in stabilities:
        denoise, stabilize = stability_stages(stability)
        methods[f"--stability {stability:g}"] = [denoise, Stylize(style), stabilize]
    for graph in graphs:
        methods[graph] = build_graph(graph)
    for other in compare:
        methods[f"stylize {Path(other).name}"] = [Stylize(other)]
    return methods


def clip_rows(
    path: Path, methods: dict[str, list[Stage]], count: int, batch_size: int, device: str, loss: PerceptualLoss
) -> list[str]:
    originals = read_frames(path, count)
    floor = frames_warping_error(zip(originals, originals, strict=True))
    rows = [f"{path.name:<22} {'original (floor)':<34} {floor.error:>13.6f} {'-':>7} {'-':>10} {'-':>7} {'-':>9}"]
    plain_error = plain_style = 0.0
    for method, stages in methods.items():
        stylised, frame_ms = run_frames(path, stages, count, batch_size, device)
        error = frames_warping_error(zip(originals, stylised, strict=True)).error
        style = mean_style_loss(stylised, loss)
        if method == "stylize":
            plain_error, plain_style = error, style
        rows.append(
            f"{path.name:<22} {method:<34} {error:>13.6f} {change(error, plain_error):>7} "
            f"{style:>10.4g} {change(style, plain_style):>7} {frame_ms:>9.1f}"
        )
    return rows


def change(value: float, reference: float) -> str:
    """``value`` relative to ``reference`` as a signed percentage."""
    return f"{100 * (value / reference - 1):+.0f}%" if reference else "-"


def mean_style_loss(frames: list[np.ndarray], loss: PerceptualLoss) -> float:
    """Mean style distance (as `streamstyle evaluate` reports) over every 4th frame from the 4th (or the last)."""
    values = []
    for frame in frames[3::4] or frames[-1:]:
        image = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
        features = loss.network(image, loss.network.style_layers)
        values.append(float(loss.style_distance(features)))
    return float(np.mean(values))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="starry", help="filter name or folder (default: starry)")
    parser.add_argument("--frames", type=int, default=48, help="first N frames of each clip (default: 48)")
    parser.add_argument("--stability", type=float, action="append", help="--stability level (repeatable)")
    parser.add_argument("--graph", action="append", default=[], help="another method as a graph string (repeatable)")
    parser.add_argument("--compare", action="append", default=[], help="another filter, frame by frame (repeatable)")
    parser.add_argument("--clip", action="append", choices=CLIPS, help="only these clips (repeatable)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vgg", type=Path, default=SHARED_VGG, help="loss network for the style loss column")
    args = parser.parse_args()
    if not VIDEO_DIR.is_dir():
        print(f"skipped: no clips at {VIDEO_DIR}")
        return 0
    try:
        loss = filter_loss(find_filter(args.style), args.vgg, torch.device("cpu"))
        methods = methods_for(args.style, args.stability or [0.5, 1.0], args.graph, args.compare)
    except StreamStyleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    torch.set_grad_enabled(False)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, {args.device}")
    cost = stability_ms_per_frame(VIDEO_DIR / CLIPS[0], 24, args.batch_size)
    print(f"--stability 0.5 stages alone at 1280x720: {cost:.1f} ms/frame\n")
    print(f"first {args.frames} frames, filter {args.style!r}; ms/frame: wall time, decode to output")
    print(f"style loss: unweighted Gram distance on {loss.network.name}")
    header = f"{'clip':<22} {'method':<34} {'warping error':>13} {'change':>7} {'style loss':>10} {'change':>7}"
    print(f"{header} {'ms/frame':>9}")
    try:
        for name in args.clip or CLIPS:
            for row in clip_rows(VIDEO_DIR / name, methods, args.frames, args.batch_size, args.device, loss):
                print(row, flush=True)
    except StreamStyleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
