"""How the ML jobs (training and tuning runs, evaluations, bias audits) run: the site's one job
runner (`emo7ion_site.core.jobs.job_run`) with the errors whose message ml writes for a person.

Each job's service has a `<job>_run`/`<job>_start` that records a queued row and, by default,
enqueues its Celery task by name after the transaction commits, and a `<job>_execute` that does the
work on that row through `ml_job_run` (the task calls it; the management commands call it
in-process with `enqueue=False`). The row is the one source of truth: status, progress, error, log
and result. Bad input never raises out of an `_execute`: the row ends `failed` with a message a
person can act on, and the worker carries on.
"""
from __future__ import annotations

from typing import Callable, Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from emo7ion_site.core.exceptions import ApplicationError
from emo7ion_site.core.jobs import JobStatus, job_log, job_run
from ml.engine.errors import EngineError

# Refusals whose message is the whole story: the row shows it, the log needs no traceback.
ML_JOB_ERRORS = (ApplicationError, EngineError)

# A running job whose last heartbeat (an epoch's end) is older than this is taken for dead (its
# worker was lost) when its task is delivered again. Longer than any epoch.
STALE_AFTER_S = 30 * 60

__all__ = ["ML_JOB_ERRORS", "STALE_AFTER_S", "alive_elsewhere", "job_cancel", "job_log", "ml_job_run"]


def ml_job_run(job, work: Callable[[], Iterable[str] | None], *, log: Callable[[str], None] | None = None):
    """Run an ML job's work on its row: start, finish, cancel and failure as `job_run` records them."""
    return job_run(job, work, expected=ML_JOB_ERRORS, log=log)


def alive_elsewhere(job) -> bool:
    """True when another worker runs this job right now (the broker redelivered a task that is
    still running): it is running and its heartbeat is fresh."""
    stale_after = getattr(settings, "EMO7ION_TRAINING_STALE_AFTER", STALE_AFTER_S)
    return bool(job.status == JobStatus.RUNNING and job.heartbeat_at
                and (timezone.now() - job.heartbeat_at).total_seconds() < stale_after)


def job_cancel(job, *, by=None, stop_at_once: tuple[str, ...] = (JobStatus.QUEUED,)):
    """Cancel a job that checks `cancel_requested` between epochs: one in `stop_at_once` (queued, or
    a paused training run) is cancelled at once; a running one is asked to stop after its epoch."""
    who = f" by {by}" if by else ""
    with transaction.atomic():
        job = type(job).objects.select_for_update().get(pk=job.pk)
        if job.status in stop_at_once:
            when = "before it started" if job.status == JobStatus.QUEUED else f"while {job.status}"
            job.status, job.finished_at = JobStatus.CANCELLED, timezone.now()
            job_log(job, f"cancelled {when}{who}")
        elif job.status == JobStatus.RUNNING:
            job.cancel_requested = True
            job_log(job, f"cancel requested{who}; stopping after the current epoch")
        job.save(update_fields=["status", "finished_at", "cancel_requested", "log"])
    return job
