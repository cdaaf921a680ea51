"""Running a batch's jobs, one after the other in this process, each one like the one-file command.

Resumable: an output already at its path is complete (outputs appear there only when finished,
see :mod:`streamstyle.io.output_path`), so it is skipped unless ``overwrite``; so is a finished
piece of a split job. A job that fails is reported in its :class:`JobResult` and the others go
on. A job stopped by Ctrl-C is discarded (a partial file at the output path would pass for
complete on the next run) and stops the batch.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

from streamstyle.batch.pieces import Piece, join_pieces, keep_matching_pieces, pieces_folder, run_piece, split_job
from streamstyle.batch.plan import BatchSettings, Job
from streamstyle.errors import StreamStyleError
from streamstyle.files import stylize_file
from streamstyle.graph import build_graph

Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class JobResult:
    """How a job (or a piece of it) ended: ``done`` (its frames and time), ``skipped`` (complete before), ``failed``."""

    job: Job
    status: Status
    frames: int = 0
    seconds: float = 0.0
    error: str = ""
    pieces: int = 1

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def pieces_of(job: Job, settings: BatchSettings, split: float | None = None) -> list[Piece]:
    """What there is to run of ``job``: none when its output is complete, else its pieces.

    A single piece (the whole file, with its audio) unless ``split`` seconds cut it in several.
    Pieces an earlier run finished are kept for this one if they match it (see
    :func:`~streamstyle.batch.pieces.keep_matching_pieces`).
    """
    if job.output.exists() and not settings.sink.overwrite:
        shutil.rmtree(pieces_folder(job.output), ignore_errors=True)  # a run stopped right after its join
        return []
    pieces = split_job(job, split, settings.graph) if split else [Piece(job, 0, 1)]
    keep_matching_pieces(pieces, settings)
    return pieces


def run_piece_of(piece: Piece, settings: BatchSettings, on_frames: Callable[[int], None] | None = None) -> JobResult:
    """Run one piece of a job (the whole job when it has one piece); errors become a ``failed`` result.

    Raises:
        KeyboardInterrupt: Ctrl-C; what this piece wrote is removed.
    """
    job = piece.job
    if piece.count > 1:
        return _attempt(job, lambda: run_piece(piece, settings, on_frames), about=f"{piece.label}: ")

    def whole() -> int:
        summary = stylize_file(
            job.input, job.output, stages=build_graph(settings.graph), stability=settings.stability,
            sink=settings.sink, compute=settings.compute, on_frames=on_frames,
        )  # fmt: skip
        if summary.interrupted:
            job.output.unlink(missing_ok=True)
            raise KeyboardInterrupt
        return summary.frames

    return _attempt(job, whole)


def finish_job(
    pieces: Sequence[Piece], results: Sequence[JobResult], settings: BatchSettings, seconds: float
) -> JobResult:
    """A job's result from its pieces' results: the first failure, or done (joining the pieces of a split job)."""
    job = pieces[0].job
    failed = next((result for result in results if result.status == "failed"), None)
    if failed is not None:
        return failed
    frames = sum(result.frames for result in results)
    if len(pieces) > 1:

        def join() -> int:
            join_pieces(pieces, format=settings.sink.format, overwrite=settings.sink.overwrite)
            return frames

        joined = _attempt(job, join)
        if joined.status == "failed":
            return joined
    return JobResult(job, "done", frames, seconds, pieces=len(pieces))


def run_job(
    job: Job, settings: BatchSettings, on_frames: Callable[[int], None] | None = None, *, split: float | None = None
) -> JobResult:
    """Stylise one input into its output, in pieces of ``split`` seconds one after the other if given.

    Raises:
        KeyboardInterrupt: Ctrl-C; the output of this job is removed (finished pieces are kept).
    """
    pieces = pieces_of(job, settings, split)
    if not pieces:
        return JobResult(job, "skipped")
    started = time.perf_counter()
    results: list[JobResult] = []
    for piece in pieces:
        results.append(run_piece_of(piece, settings, on_frames))
        if results[-1].status == "failed":
            break
    return finish_job(pieces, results, settings, time.perf_counter() - started)


def run_batch(
    jobs: Sequence[Job],
    settings: BatchSettings,
    *,
    on_frames: Callable[[int], None] | None = None,
    split: float | None = None,
) -> Iterator[JobResult]:
    """Run ``jobs`` one after the other in this process, yielding each result as it ends.

    Raises:
        KeyboardInterrupt: Ctrl-C; the job in progress is discarded, those yielded before stay.
    """
    for job in jobs:
        yield run_job(job, settings, on_frames, split=split)


def _attempt(job: Job, work: Callable[[], int], *, about: str = "") -> JobResult:
    """Run ``work`` (returning frames) for ``job``; errors of the input or output become a ``failed`` result
    (its message starting with ``about``)."""
    started = time.perf_counter()
    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        frames = work()
    except StreamStyleError as exc:
        return JobResult(job, "failed", error=f"{about}{exc}")
    except OSError as exc:
        return JobResult(job, "failed", error=f"{about}{exc.strerror or exc}: {exc.filename or job.output}")
    except Exception as exc:  # a bug shows on this input; the batch goes on
        return JobResult(job, "failed", error=f"{about}unexpected {type(exc).__name__}: {exc}")
    return JobResult(job, "done", frames, time.perf_counter() - started)
