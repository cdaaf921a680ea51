"""Cost of the stabilize stage and the flicker (warping error) of plain against stabilised stylisation.

Prints two figures, both measured in one run on this machine:

1. milliseconds per 1280x720 frame of the stabilize stage alone (flow, warp, blend, detail
   restoration; no network), on the first frames of ``juggle_720p.mp4``;
2. a table of warping error (Lai et al. 2018, lower is steadier; the ``original`` row is
   the floor), style loss (unweighted Gram distance to the filter's painting, as
   ``streamstyle evaluate`` measures it, on every 4th frame from the 4th: the first frame has
   nothing to blend with; it should move little), both also relative to plain ``stylize``, and
   milliseconds per frame, for each clip under ``../shared/data/video``: the filter applied
   frame by frame, the same output through ``stabilize``, and each ``--compare`` filter
   applied frame by frame (e.g. the filter fine-tuned with ``--temporal-weight``, and as the
   control the same fine-tuning without it), measured against the ``--style`` filter's painting.

    python bench/temporal.py [--style starry] [--frames 48] [--strength 0.5 --strength 0.8] [--device cpu]
                             [--compare runs/filters/steady ...]
                             [--vgg ../shared/data/weights/vgg19_normalised_conv1-4_fp16.pth]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import platform
import sys
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from streamstyle import FrameBatch, Pipeline, StreamStyleError, Stylize, find_filter, open_source
from streamstyle.sources import DecodedFrame
from streamstyle.stages.stabilize import Stabilize
from streamstyle.temporal import frames_warping_error
from streamstyle.train.gatys import read_image
from streamstyle.train.losses import PerceptualLoss
from streamstyle.train.vgg import load_loss_network

VIDEO_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "video"
SHARED_VGG = VIDEO_DIR.parent / "weights" / "vgg19_normalised_conv1-4_fp16.pth"
CLIPS = ("juggle_720p.mp4", "bedroom_540p.mp4", "carphone_176x144.mp4")


def host_frames(batch_pixels: torch.Tensor) -> list[np.ndarray]:
    return list(batch_pixels.permute(0, 2, 3, 1).contiguous().cpu().numpy())


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    with open_source(path) as source:
        frames = (item.rgb for item in source.read() if isinstance(item, DecodedFrame))
        return list(itertools.islice(frames, count))


def stabilizer_ms_per_frame(path: Path, count: int, batch_size: int) -> float:
    """The stage alone on real 720p frames; its 'stylised' input is the negative of each frame."""
    frames = read_frames(path, count)
    stage = Stabilize(0.5)
    seconds, timed = 0.0, 0
    for start in range(0, len(frames), batch_size):
        source = torch.from_numpy(np.stack(frames[start : start + batch_size])).permute(0, 3, 1, 2)
        pts = torch.arange(start, start + len(source), dtype=torch.int64)
        batch = FrameBatch(pixels=255 - source, pts=pts, time_base=Fraction(1, 24), source=source)
        began = time.perf_counter()
        stage(batch)
        if start > 0:  # the first batch has a frame with nothing to blend with
            seconds += time.perf_counter() - began
            timed += len(source)
    return 1000 * seconds / max(timed, 1)


def stylised_batches(path: Path, style: str, count: int, batch_size: int, device: str) -> Iterator[FrameBatch]:
    """The first ``count`` frames of ``path`` through the filter, in batches, via the pipeline."""
    done = 0
    with (
        Pipeline(open_source(path), [Stylize(style)], batch_size=batch_size, device=device) as run,
        contextlib.closing(iter(run)) as batches,
    ):
        for batch in batches:
            yield batch
            done += len(batch)
            if done >= count:
                return


def clip_rows(
    path: Path,
    style: str,
    strengths: list[float],
    compare: list[str],
    count: int,
    batch_size: int,
    device: str,
    loss: PerceptualLoss,
) -> list[str]:
    originals: list[np.ndarray] = []
    outputs: dict[str, list[np.ndarray]] = {"stylize": []} | {f"stylize,stabilize={s:g}": [] for s in strengths}
    stages = {f"stylize,stabilize={s:g}": Stabilize(s) for s in strengths}
    seconds = dict.fromkeys(outputs, 0.0)
    began = time.perf_counter()
    for batch in stylised_batches(path, style, count, batch_size, device):
        seconds["stylize"] += time.perf_counter() - began
        keep = count - len(originals)
        originals += host_frames(batch.input_pixels)[:keep]
        outputs["stylize"] += host_frames(batch.pixels)[:keep]
        for method, stage in stages.items():
            start = time.perf_counter()
            stabilised = stage(batch).pixels
            seconds[method] += time.perf_counter() - start
            outputs[method] += host_frames(stabilised)[:keep]
        began = time.perf_counter()
    frames = len(originals)
    network_ms = 1000 * seconds["stylize"] / frames
    frame_ms = {method: network_ms + (1000 * spent / frames if method != "stylize" else 0.0)
                for method, spent in seconds.items()}  # fmt: skip
    for other in compare:
        method = f"stylize {Path(other).name}"
        outputs[method], began = [], time.perf_counter()
        for batch in stylised_batches(path, other, count, batch_size, device):
            outputs[method] += host_frames(batch.pixels)[: count - len(outputs[method])]
        frame_ms[method] = 1000 * (time.perf_counter() - began) / frames
    floor = frames_warping_error(zip(originals, originals, strict=True))
    rows = [f"{path.name:<22} {'original (floor)':<26} {floor.error:>13.6f} {'-':>7} {'-':>10} {'-':>7} {'-':>9}"]
    plain_error = plain_style = 0.0
    for method, stylised in outputs.items():
        error = frames_warping_error(zip(originals, stylised, strict=True)).error
        style = mean_style_loss(stylised, loss)
        if method == "stylize":
            plain_error, plain_style = error, style
        rows.append(
            f"{path.name:<22} {method:<26} {error:>13.6f} {change(error, plain_error):>7} "
            f"{style:>10.4g} {change(style, plain_style):>7} {frame_ms[method]:>9.1f}"
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


def style_loss_for(style: str, vgg: Path) -> PerceptualLoss:
    """The filter's style target on the loss network, at the size the filter was trained with."""
    item = find_filter(style)
    if item.style_image is None:
        raise SystemExit(f"filter {style!r} has no style image to measure style loss against")
    size = int(item.recipe.get("style_size", 512))
    return PerceptualLoss(load_loss_network(vgg), read_image(item.style_image, size))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--style", default="starry", help="filter name or folder (default: starry)")
    parser.add_argument("--frames", type=int, default=48, help="first N frames of each clip (default: 48)")
    parser.add_argument("--strength", type=float, action="append", help="stabilize strength (repeatable)")
    parser.add_argument("--compare", action="append", default=[], help="another filter, frame by frame (repeatable)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--vgg", type=Path, default=SHARED_VGG, help="loss network for the style loss column")
    args = parser.parse_args()
    strengths = args.strength or [0.5, 0.8]
    if not VIDEO_DIR.is_dir():
        print(f"skipped: no clips at {VIDEO_DIR}")
        return 0
    try:
        find_filter(args.style)
    except StreamStyleError as exc:
        print(f"error: {exc} (give one with --style NAME or --style path/to/filter)", file=sys.stderr)
        return 1
    torch.set_grad_enabled(False)
    print(f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, {args.device}")
    cost = stabilizer_ms_per_frame(VIDEO_DIR / CLIPS[0], 24, args.batch_size)
    print(f"stabilize alone at 1280x720: {cost:.1f} ms/frame\n")
    print(f"first {args.frames} frames, filter {args.style!r}; ms/frame includes decode and the network")
    loss = style_loss_for(args.style, args.vgg)
    print(f"style loss: unweighted Gram distance on {loss.network.name}")
    header = f"{'clip':<22} {'method':<26} {'warping error':>13} {'change':>7} {'style loss':>10} {'change':>7}"
    print(f"{header} {'ms/frame':>9}")
    try:
        for name in CLIPS:
            rows = clip_rows(
                VIDEO_DIR / name, args.style, strengths, args.compare, args.frames, args.batch_size, args.device, loss
            )
            for row in rows:
                print(row, flush=True)
    except StreamStyleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
