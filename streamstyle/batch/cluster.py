"""Running a batch's jobs on Ray: one actor per GPU (or per N CPU cores), each job a Ray actor task.

An actor keeps its process, its device and the compiled kernels warm from one file to the next.
A job whose worker dies is retried by Ray on a restarted actor (``max_task_retries``); it never
leaves a partial output, since outputs appear at their path only when complete (a dead
worker's ``.part`` file is swept by the next run on that output). Inputs and outputs are paths
that every node must see.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from streamstyle.batch.jobs import BatchSettings, JobResult, run_job
from streamstyle.batch.plan import Job
from streamstyle.errors import BackendUnavailableError
from streamstyle.filters import FILTER_PATH_VARIABLE

RETRIES = 2
"""How often Ray restarts a dead worker and reruns its job before the job counts as failed."""


class _Worker:
    """A Ray actor: runs jobs with the batch's settings, with ``threads`` CPU threads."""

    def __init__(self, settings: BatchSettings, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)
        self.settings = settings

    def run(self, job: Job) -> JobResult:
        return run_job(job, self.settings)


def run_batch_on_ray(
    jobs: Sequence[Job], settings: BatchSettings, *, address: str | None = None, cpus_per_worker: int = 4
) -> Iterator[JobResult]:
    """Run ``jobs`` on a Ray cluster, yielding each result as it ends (in the order they end).

    Args:
        address: the cluster (``auto``, ``ray://host:10001``); ``None`` joins the one
            ``RAY_ADDRESS`` names, or starts a local instance on this machine.
        cpus_per_worker: CPU cores of each worker where it runs on the CPU.

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
    actors = _start_workers(ray, settings, cpus_per_worker, len(jobs))
    try:
        yield from _dispatch(ray, actors, jobs)
    finally:
        for actor in actors:
            ray.kill(actor, no_restart=True)
        if started_here:
            ray.shutdown()


def _start_workers(ray: Any, settings: BatchSettings, cpus_per_worker: int, jobs: int) -> list[Any]:
    """One actor per GPU, or per ``cpus_per_worker`` cores when running on the CPU; no more than ``jobs``."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    worker = ray.remote(_Worker)
    if gpus and settings.compute.device != "cpu":
        count, options, threads = gpus, {"num_gpus": 1, "num_cpus": 1}, 1
    else:  # never more cores than the largest node has, or no worker could be placed
        nodes = [int(node["Resources"].get("CPU", 0)) for node in ray.nodes() if node["Alive"]]
        cpus = max(1, min(cpus_per_worker, max(nodes, default=1)))
        count, options, threads = sum(n // cpus for n in nodes), {"num_cpus": cpus}, cpus
    options |= {"max_restarts": RETRIES, "max_task_retries": RETRIES}
    return [worker.options(**options).remote(settings, threads) for _ in range(max(1, min(count, jobs)))]


def _dispatch(ray: Any, actors: list[Any], jobs: Sequence[Job]) -> Iterator[JobResult]:
    """Give each idle actor the next job; yield results as they come; a dead actor's job fails."""
    from ray.exceptions import ActorDiedError, RayError

    waiting, idle = deque(jobs), list(actors)
    running: dict[Any, tuple[Any, Job]] = {}
    while waiting or running:
        while idle and waiting:
            actor, job = idle.pop(), waiting.popleft()
            running[actor.run.remote(job)] = (actor, job)
        if not running:  # every actor is gone
            yield from (JobResult(job, "failed", error="no worker left") for job in waiting)
            return
        (ready,), _ = ray.wait(list(running), num_returns=1)
        actor, job = running.pop(ready)
        try:
            result = ray.get(ready)
        except ActorDiedError as exc:
            result = JobResult(job, "failed", error=f"its worker died {RETRIES + 1} times: {exc}")
            actor = None
        except RayError as exc:
            result = JobResult(job, "failed", error=f"unexpected {type(exc).__name__}: {exc}")
        if actor is not None:
            idle.append(actor)
        yield result
