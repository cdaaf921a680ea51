"""Running a batch's jobs, one after the other in this process, each one like the one-file command.

Resumable: an output already at its path is complete (outputs appear there only when finished,
see :mod:`streamstyle.io.output_path`), so it is skipped unless ``overwrite``. A job that fails
is reported in its :class:`JobResult` and the others go on. A job stopped by Ctrl-C is discarded
(a partial file at the output path would pass for complete on the next run) and stops the batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

from streamstyle.batch.plan import Job
from streamstyle.errors import StreamStyleError
from streamstyle.files import ComputeOptions, OutputOptions, stylize_file
from streamstyle.graph import build_graph

Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class BatchSettings:
    """What every job of a batch shares (plain data, so it travels to cluster workers).

    Attributes:
        graph: the stages as a graph string (see :func:`~streamstyle.graph.format_graph`).
        stability: as ``stylize_file``'s.
        sink, compute: how outputs are written and the stages run; ``sink.overwrite`` redoes
            outputs that exist.
    """

    graph: str
    stability: float = 0.0
    sink: OutputOptions = field(default_factory=OutputOptions)
    compute: ComputeOptions = field(default_factory=ComputeOptions)


@dataclass(frozen=True)
class JobResult:
    """How one job ended: ``done`` (with its frames and time), ``skipped`` (complete before) or ``failed``."""

    job: Job
    status: Status
    frames: int = 0
    seconds: float = 0.0
    error: str = ""

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def run_job(job: Job, settings: BatchSettings, on_frames: Callable[[int], None] | None = None) -> JobResult:
    """Stylise one input into its output; errors of the input become a ``failed`` result.

    Raises:
        KeyboardInterrupt: Ctrl-C; the output of this job is removed.
    """
    if job.output.exists() and not settings.sink.overwrite:
        return JobResult(job, "skipped")
    started = time.perf_counter()
    try:
        job.output.parent.mkdir(parents=True, exist_ok=True)
        summary = stylize_file(
            job.input, job.output, stages=build_graph(settings.graph), stability=settings.stability,
            sink=settings.sink, compute=settings.compute, on_frames=on_frames,
        )  # fmt: skip
    except StreamStyleError as exc:
        return JobResult(job, "failed", error=str(exc))
    except OSError as exc:
        return JobResult(job, "failed", error=f"{exc.strerror or exc}: {exc.filename or job.output}")
    except Exception as exc:  # a bug shows on this input; the batch goes on
        return JobResult(job, "failed", error=f"unexpected {type(exc).__name__}: {exc}")
    if summary.interrupted:
        job.output.unlink(missing_ok=True)
        raise KeyboardInterrupt
    return JobResult(job, "done", summary.frames, time.perf_counter() - started)


def run_batch(
    jobs: Sequence[Job], settings: BatchSettings, *, on_frames: Callable[[int], None] | None = None
) -> Iterator[JobResult]:
    """Run ``jobs`` one after the other in this process, yielding each result as it ends.

    Raises:
        KeyboardInterrupt: Ctrl-C; the job in progress is discarded, those yielded before stay.
    """
    for job in jobs:
        yield run_job(job, settings, on_frames)
