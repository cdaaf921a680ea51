"""Running a batch's jobs on Ray: one actor per GPU (or per N CPU cores), each file or piece of a file a Ray actor task.

An actor keeps its process, its device and the filters' checked weights from one task to the next
(each task builds its stages again; compiled graphs then come from inductor's caches).
Long files are cut into pieces (:mod:`streamstyle.batch.pieces`) that run on several actors at
once; this process joins a file's pieces when the last one is done. A task whose worker dies is
retried by Ray on a restarted actor (``max_task_retries``); it never leaves a partial output,
since outputs and pieces appear at their path only when complete (a dead worker's ``.part``
file is swept by the next run on that output). Inputs and outputs are paths that every node
(and this process) must see.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from streamstyle.batch.jobs import JobResult, finish_job, pieces_of, run_piece_of
from streamstyle.batch.pieces import Piece, auto_piece_seconds
from streamstyle.batch.plan import BatchSettings, Job
from streamstyle.errors import BackendUnavailableError
from streamstyle.filters import FILTER_PATH_VARIABLE
from streamstyle.heap import keep_freed_memory

RETRIES = 2
"""How often Ray restarts a dead worker and reruns its job before the job counts as failed."""


class _Worker:
    """A Ray actor: runs files and pieces with the batch's settings, with ``threads`` CPU threads."""

    def __init__(self, settings: BatchSettings, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        keep_freed_memory()  # the actor's process is its own: frames reuse freed memory, as on the command line
        self.settings = settings

    def run(self, piece: Piece) -> JobResult:
        return run_piece_of(piece, self.settings)


def run_batch_on_ray(
    jobs: Sequence[Job],
    settings: BatchSettings,
    *,
    address: str | None = None,
    cpus_per_worker: int = 4,
    split: float | Literal["auto"] | None = "auto",
    on_frames: Callable[[int], None] | None = None,
) -> Iterator[JobResult]:
    """Run ``jobs`` on a Ray cluster, yielding each result as it ends (in the order they end).

    Args:
        address: the cluster (``auto``, ``ray://host:10001``); ``None`` joins the one
            ``RAY_ADDRESS`` names, or starts a local instance on this machine.
        cpus_per_worker: CPU cores of each worker where it runs on the CPU.
        split: cut files into pieces of about this many seconds; ``auto`` (see
            :func:`~streamstyle.batch.pieces.auto_piece_seconds`) or ``None`` (whole files).
        on_frames: called with the frames of each task as it ends.

    Raises:
        BackendUnavailableError: Ray is not installed.
        KeyboardInterrupt: Ctrl-C; the workers are stopped, the jobs in progress leave no output.
    """
    try:
        import ray
    except ImportError:
        raise BackendUnavailableError("--ray needs Ray: pip install 'streamstyle[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        variables = {name: os.environ[name] for name in (FILTER_PATH_VARIABLE,) if name in os.environ}
        ray.init(
            address=address, runtime_env={"env_vars": variables}, include_dashboard=False, log_to_driver=False,
            logging_level=logging.ERROR,
        )  # fmt: skip
    count, options, threads = _worker_shape(ray, settings, cpus_per_worker)
    seconds = auto_piece_seconds([job.input for job in jobs], count) if split == "auto" else split
    plan = [(job, pieces_of(job, settings, seconds)) for job in jobs]
    tasks = sum(len(pieces) for _, pieces in plan)
    worker = ray.remote(_Worker).options(**options, max_restarts=RETRIES, max_task_retries=RETRIES)
    actors = [worker.remote(settings, threads) for _ in range(max(1, min(count, tasks)))]
    try:
        yield from _dispatch(ray, actors, plan, settings, on_frames)
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if started_here:
            ray.shutdown()


def _worker_shape(ray: Any, settings: BatchSettings, cpus_per_worker: int) -> tuple[int, dict[str, int], int]:
    """How many actors fit, their Ray resources and CPU threads: one per GPU, else one per ``cpus_per_worker`` cores."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    if gpus and settings.compute.device != "cpu":
        return gpus, {"num_gpus": 1, "num_cpus": 1}, 1
    nodes = [int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]]
    cpus = max(1, min(cpus_per_worker, max(nodes, default=1)))  # more than the largest node could never be placed
    return max(1, sum(n // cpus for n in nodes)), {"num_cpus": cpus}, cpus


def _dispatch(
    ray: Any,
    actors: list[Any],
    plan: Sequence[tuple[Job, list[Piece]]],
    settings: BatchSettings,
    on_frames: Callable[[int], None] | None,
) -> Iterator[JobResult]:
    """Give each idle actor the next piece; yield a file's result when its last piece ends (joined if split).

    A file with nothing to run (complete before) is ``skipped``; a dead actor's piece fails its file.
    """
    from ray.exceptions import ActorDiedError, RayError

    jobs = {job: pieces for job, pieces in plan if pieces}
    yield from (JobResult(job, "skipped") for job, pieces in plan if not pieces)
    waiting, idle = deque(piece for pieces in jobs.values() for piece in pieces), list(actors)
    running: dict[Any, tuple[Any, Piece]] = {}
    ended: dict[Job, list[JobResult]] = {job: [] for job in jobs}
    started: dict[Job, float] = {}
    while waiting or running:
        while idle and waiting:
            actor, piece = idle.pop(), waiting.popleft()
            started.setdefault(piece.job, time.perf_counter())
            running[actor.run.remote(piece)] = (actor, piece)
        if not running:  # every actor is gone
            for job in dict.fromkeys(piece.job for piece in waiting):
                yield JobResult(job, "failed", error="no worker left")
            return
        (ready,), _ = ray.wait(list(running), num_returns=1)
        actor, piece = running.pop(ready)
        try:
            result = ray.get(ready)
        except ActorDiedError as exc:
            result = JobResult(piece.job, "failed", error=f"its worker died {RETRIES + 1} times: {exc}")
            actor = None
        except RayError as exc:
            result = JobResult(piece.job, "failed", error=f"unexpected {type(exc).__name__}: {exc}")
        if actor is not None:
            idle.append(actor)
        if on_frames is not None:
            on_frames(result.frames)
        if piece.job not in ended:  # its file failed already
            continue
        ended[piece.job].append(result)
        if result.status == "failed":  # the file fails with its first failed piece; its others are not run
            del ended[piece.job]
            waiting = deque(other for other in waiting if other.job != piece.job)
            yield result
        elif len(ended[piece.job]) == len(jobs[piece.job]):
            seconds = time.perf_counter() - started[piece.job]
            yield finish_job(jobs[piece.job], ended.pop(piece.job), settings, seconds)
