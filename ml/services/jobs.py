"""How the ML jobs (training runs, evaluations, bias audits) run: the site's one job runner
(`emo7ion_site.core.jobs.job_run`) with the errors whose message ml writes for a person.

Each job's service has a `<job>_run`/`training_run_start` that records a queued row and, by default,
enqueues its Celery task by name after the transaction commits, and a `<job>_execute` that does the
work on that row through `ml_job_run` (the task calls it; the management commands call it
in-process with `enqueue=False`). The row is the one source of truth: status, progress, error, log
and result. Bad input never raises out of an `_execute`: the row ends `failed` with a message a
person can act on, and the worker carries on.
"""
from __future__ import annotations

from typing import Callable, Iterable

from emo7ion_site.core.exceptions import ApplicationError
from emo7ion_site.core.jobs import job_log, job_run
from ml.engine.errors import EngineError

# Refusals whose message is the whole story: the row shows it, the log needs no traceback.
ML_JOB_ERRORS = (ApplicationError, EngineError)

__all__ = ["ML_JOB_ERRORS", "job_log", "ml_job_run"]


def ml_job_run(job, work: Callable[[], Iterable[str] | None], *, log: Callable[[str], None] | None = None):
    """Run an ML job's work on its row: start, finish, cancel and failure as `job_run` records them."""
    return job_run(job, work, expected=ML_JOB_ERRORS, log=log)
