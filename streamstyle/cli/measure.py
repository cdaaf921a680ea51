"""``streamstyle bench`` and ``evaluate-video``: speed and flicker figures."""

from __future__ import annotations

import os
import sys
from typing import Any

import click
import torch
from tqdm import tqdm

from streamstyle.benchmark import LIGHTEST, SIZES, Figures, run_benchmark
from streamstyle.cli.params import _parse_list, _parse_sizes
from streamstyle.device import PRECISIONS, cpu_name, resolve_device, resolve_precision
from streamstyle.errors import InvalidOptionError
from streamstyle.filters import list_filters
from streamstyle.models import ARCHITECTURES
from streamstyle.pipeline import STEPS
from streamstyle.temporal.metrics import warping_error


@click.command("evaluate-video")
@click.argument("original", metavar="ORIGINAL")
@click.argument("stylised", metavar="STYLISED")
@click.option("--max-frames", type=click.IntRange(min=1), help="Compare only the first N frames.")
def evaluate_video(original: str, stylised: str, max_frames: int | None) -> None:
    """Flicker of STYLISED against ORIGINAL: the warping error (Lai et al. 2018); lower is steadier.

    The floor is the same measure on ORIGINAL itself: what flow errors and noise leave.
    """
    result = warping_error(original, stylised, max_frames=max_frames)
    click.echo(f"warping error  {result.error:.5f}")
    click.echo(f"floor          {result.floor:.5f} (the original against itself)")
    click.echo(f"frame pairs    {result.pairs} ({result.visible:.0%} of pixels visible on average)")


@click.command()
@click.option(
    "--networks", callback=_parse_list, default=f"johnson_in,{LIGHTEST}", show_default=True,
    help=f"Comma-separated architectures (of: {', '.join(sorted(ARCHITECTURES))}) or installed filter names "
    "(e.g. starry_light).",
)  # fmt: skip
@click.option(
    "--sizes", callback=_parse_sizes,
    help="Comma-separated WxH (default all of 640x360 ... 3840x2160 on CUDA, the first two on the CPU).",
)  # fmt: skip
@click.option(
    "--precisions", callback=_parse_list,
    help=f"Comma-separated, of {', '.join(PRECISIONS)} (default fp32,fp16,bf16 on CUDA, fp32,bf16 on the CPU).",
)  # fmt: skip
@click.option(
    "--frames", type=click.IntRange(min=1), help="Frames per measurement (default 300 on CUDA, 10 on the CPU)."
)
@click.option("--rounds", type=click.IntRange(min=1), default=1, show_default=True, help="Median of this many runs.")
@click.option("--model-only", is_flag=True, help="Only the network, no file to file.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Frames per batch (default 1 on CPU, 4 on CUDA).")
@click.option(
    "--compile/--no-compile", default=True, show_default=True,
    help="Also measure each network compiled (model only), next to eager.",
)  # fmt: skip
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda[:N].")
def bench(
    networks: list[str],
    sizes: list[tuple[int, int]] | None,
    precisions: list[str] | None,
    frames: int | None,
    model_only: bool,
    device: str,
    **options: Any,
) -> None:
    """Frames per second of the networks alone and file to file, next to the naive per-frame loop.

    \b
    A network is an architecture or an installed filter's name (--networks starry_light).
    Weights come from an installed filter of each network where there is one (so the PSNR of
    each precision against fp32 means something), else they are random; speed does not depend
    on them. File to file is a generated H.264 clip with AAC audio to H.264 with the audio kept.
    The naive loop (pytorch/examples style: one frame at a time, fp32, numpy <-> tensor on the
    host) runs alternately in the same process. The ms/frame columns are the time each step of
    the engine was busy; the largest sets the pace.
    """
    target = resolve_device(device)
    cuda = target.type == "cuda"
    sizes = sizes or list(SIZES if cuda else SIZES[:2])
    precisions = precisions or (["fp32", "fp16", "bf16"] if cuda else ["fp32", "bf16"])
    for precision in precisions:
        resolve_precision(precision, target)
    unknown = sorted(set(networks) - set(ARCHITECTURES) - {item.name for item in list_filters()})
    if unknown:
        known = ", ".join(sorted(ARCHITECTURES))
        raise InvalidOptionError(f"unknown network {unknown[0]!r}; use {known} or an installed filter's name")
    name = _device_name(target)
    click.echo(f"# {name}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads; batch "
               f"{options['batch_size'] or (4 if cuda else 1)}")  # fmt: skip
    click.echo("# e/c % peak: eager's and the compiled network's model-only fps x GFLOPs per frame against the "
               "matmul peak (2048x2048), median over 5 slices each timed right after a peak; peak: their median "
               "GFLOP/s")  # fmt: skip
    steps = " ".join(f"{step:>8}" for step in STEPS)
    click.echo(f"{'network':<14}{'weights':<8}{'size':>10} {'prec':>5} {'model fps':>10} {'PSNR':>7} "
               f"{'compiled':>9} {'compile s':>9} {'c/e PSNR':>8} {'e % peak':>8} {'c % peak':>8} {'peak':>7} "
               f"{'file fps':>9} {'naive fps':>10} {'file/naive':>10}  ms/frame:{steps}  slowest")  # fmt: skip
    total = len(networks) * len(sizes) * len(precisions)
    with tqdm(total=total, unit="line", disable=not sys.stderr.isatty(), dynamic_ncols=True) as progress:
        for figures in run_benchmark(
            networks=networks, sizes=sizes, precisions=precisions, frames=frames or (300 if cuda else 10),
            files=not model_only, device=str(target), on_step=progress.set_description, **options,
        ):  # fmt: skip
            progress.update(1)
            progress.write(_bench_line(figures))


def _bench_line(row: Figures) -> str:
    def number(value: float | None, width: int) -> str:
        return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"

    def percent(share: float | None) -> str:
        return number(share * 100 if share is not None else None, 8)

    busy = " ".join(number(row.busy[step] * 1000 if row.busy else None, 8) for step in STEPS)
    ratio = f"{row.speedup:.2f}x" if row.speedup else "-"
    return (
        f"{row.network:<14}{row.weights:<8}{row.width:>5}x{row.height:<4} {row.precision:>5} "
        f"{number(row.model_fps, 10)} {number(row.psnr, 7)} {number(row.compiled_fps, 9)} "
        f"{number(row.compile_seconds, 9)} {number(row.compiled_psnr, 8)} "
        f"{percent(row.eager_share)} {percent(row.compiled_share)} "
        f"{row.peak_gflops or 0:>7.0f} "
        f"{number(row.engine_fps, 9)} {number(row.naive_fps, 10)} "
        f"{ratio:>10}           {busy}  {row.bottleneck or '-'}"
    )


def _device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {cpu_name()}, {os.cpu_count()} cores"
