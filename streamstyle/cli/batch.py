"""``streamstyle batch``: many inputs to one output folder, here or on a Ray cluster."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import click
from tqdm import tqdm

from streamstyle.batch import BatchSettings, JobResult, plan_jobs, run_batch, run_batch_on_ray
from streamstyle.cli.app import EXIT_INTERRUPTED
from streamstyle.cli.params import SplitParam, encoding_options
from streamstyle.cli.stylize import chosen_stages, compute_options, style_options
from streamstyle.errors import BatchFailedError
from streamstyle.files import ComputeOptions, OutputOptions, default_output_path
from streamstyle.graph import build_graph, format_graph


@click.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("-o", "--output-dir", required=True, help="Folder for the outputs (created if missing).")
@style_options
@compute_options
@encoding_options
@click.option("-y", "--overwrite", is_flag=True, help="Redo outputs that exist (without it they are skipped).")
@click.option(
    "--ray", "ray_address", is_flag=False, flag_value="", default=None, metavar="[ADDRESS]",
    help="Run on Ray: alone, a local instance (or the cluster RAY_ADDRESS names); auto on a cluster node; "
    "or ray://HOST:10001. Inputs and outputs must be on paths every node sees.",
)  # fmt: skip
@click.option(
    "--cpus-per-worker", type=click.IntRange(min=1), default=4, show_default=True,
    help="With --ray on CPUs: cores per worker (one worker per GPU where there are GPUs).",
)  # fmt: skip
@click.option(
    "--split", type=SplitParam(), default="auto", show_default=True, metavar="auto|off|SECONDS",
    help="Cut long videos at key frames into pieces of about SECONDS, stylised in parallel and joined without "
    "re-encoding. auto: with --ray and several workers, pieces of a quarter of each worker's share (30 s at least); "
    "without --ray, off. A SECONDS split without --ray runs the pieces one after the other (resumable piece by piece).",
)  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="No progress bars or summary table.")
def batch(
    inputs: tuple[str, ...], output_dir: str, stability: float, overwrite: bool, ray_address: str | None,
    cpus_per_worker: int, split: float | Literal["auto"] | None, quiet: bool, **options: Any,
) -> None:  # fmt: skip
    """Stylise every INPUT (files, folders, globs) into OUTPUT_DIR, one output each.

    \b
    Folders are searched for videos and images; their layout is kept below OUTPUT_DIR. Outputs
    are named as `streamstyle INPUT` names them (INPUT_STEM.STYLE.mp4). Outputs that exist are
    skipped, so running the same command again resumes; a failed input is reported and the
    others go on (exit 20 if any failed).
    """
    chosen = chosen_stages(options)
    stages = build_graph(chosen) if isinstance(chosen, str) else chosen
    jobs = plan_jobs(inputs, output_dir, lambda file: default_output_path(file, stages).name)
    settings = BatchSettings(
        format_graph(stages), stability,
        OutputOptions(codec=options["codec"], crf=options["crf"], preset=options["preset"], overwrite=overwrite),
        ComputeOptions(batch_size=options["batch_size"], device=options["device"], precision=options["precision"]),
    )  # fmt: skip
    bars = not quiet and sys.stderr.isatty()
    files = tqdm(total=len(jobs), unit="file", desc="files", disable=not bars, position=0)
    frames = tqdm(unit="frame", desc="frames", disable=not bars, position=1)
    if ray_address is None:
        piece_seconds = None if split == "auto" else split
        results: Iterator[JobResult] = run_batch(jobs, settings, on_frames=frames.update, split=piece_seconds)
    else:
        results = run_batch_on_ray(
            jobs, settings, address=ray_address or None, cpus_per_worker=cpus_per_worker, split=split,
            on_frames=frames.update,
        )  # fmt: skip
    ended: list[JobResult] = []
    try:
        for result in results:
            ended.append(result)
            files.update()
    except KeyboardInterrupt:
        results.close()
        interrupted = True
    else:
        interrupted = False
    finally:
        files.close()
        frames.close()
    if interrupted:
        click.echo(f"interrupted: {_count(ended, 'done')} done; run the same command again to resume", err=True)
        raise SystemExit(EXIT_INTERRUPTED)
    if not quiet:
        click.echo(_table(ended, Path(output_dir).absolute()))
    failed = [result for result in ended if result.status == "failed"]
    for result in failed:
        click.echo(f"failed: {result.job.input}: {result.error}", err=True)
    if failed:
        raise BatchFailedError(f"{len(failed)} of {len(jobs)} inputs failed (the others are done)")


def _count(results: list[JobResult], status: str) -> int:
    return sum(1 for result in results if result.status == status)


def _table(results: list[JobResult], out: Path) -> str:
    """The summary: output file, frames, fps, result; a line of totals."""
    rows = [("file", "frames", "fps", "result")]
    for result in results:
        name = str(result.job.output.relative_to(out))
        fps = f"{result.fps:.2f}" if result.status == "done" else "-"
        status = f"done ({result.pieces} pieces)" if result.pieces > 1 else result.status
        rows.append((name, str(result.frames) if result.status == "done" else "-", fps, status))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = []
    for row in rows:
        cells = zip(row, widths, strict=True)
        lines.append("  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(cells)))
    totals = ", ".join(f"{_count(results, s)} {s}" for s in ("done", "skipped", "failed"))
    return "\n".join([*lines, totals])
