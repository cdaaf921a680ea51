"""Many inputs, one output each: locally one after the other, or on a Ray cluster.

:func:`plan_jobs` maps inputs (files, folders, globs) to outputs under one folder;
:func:`run_batch` runs them in this process and :func:`run_batch_on_ray` on Ray (the optional
extra ``streamstyle[ray]``), both resumable and going on past a failed input. Long videos can
be cut into pieces that run in parallel and are joined by remuxing (:mod:`~streamstyle.batch.pieces`).
"""

from streamstyle.batch.cluster import run_batch_on_ray
from streamstyle.batch.jobs import JobResult, run_batch, run_job
from streamstyle.batch.plan import BatchSettings, Job, plan_jobs

__all__ = ["BatchSettings", "Job", "JobResult", "plan_jobs", "run_batch", "run_batch_on_ray", "run_job"]
