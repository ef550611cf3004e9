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
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from emo7ion_site.core.exceptions import ApplicationError
from emo7ion_site.core.jobs import (JobStatus, WatchdogReport, enqueue_on_commit, job_log, job_run, silent_for,
                                    task_id, tries_reason)
from ml.engine.errors import EngineError
from ml.models import BiasAudit, Evaluation, TrainingRun, TuningRun

# Refusals whose message is the whole story: the row shows it, the log needs no traceback.
ML_JOB_ERRORS = (ApplicationError, EngineError)

# A running job whose last heartbeat (an epoch's end) is older than this is taken for dead (its
# worker was lost) when its task is delivered again. Longer than any epoch.
STALE_AFTER_S = 30 * 60

# Each ML job: its task (on the `training` queue, acknowledged when a worker takes it: a run of hours
# never waits on the broker's visibility timeout; the watchdog below is its liveness), the kind in its task
# id, and what its worker was doing, for a person.
ML_JOB_TASKS = {
    "ml.tasks.run_training": (TrainingRun, "ml:training", "training"),
    "ml.tasks.run_tuning": (TuningRun, "ml:tuning", "searching hyper-parameters"),
    "ml.tasks.run_evaluation": (Evaluation, "ml:evaluation", "evaluating the model"),
    "ml.tasks.run_bias_audit": (BiasAudit, "ml:bias_audit", "auditing the model for bias"),
}

__all__ = ["ML_JOB_ERRORS", "ML_JOB_TASKS", "STALE_AFTER_S", "alive_elsewhere", "job_cancel", "job_log",
           "ml_job_run", "ml_job_task_id", "ml_jobs_watch"]


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


def ml_job_task_id(job) -> str:
    """The deterministic id of a job's task: `ml:training:12`, or `ml:training:12:resume:30` for the piece
    of a training run that continues after epoch 30 (as `training._enqueue` names it)."""
    kind = next(kind for model, kind, _ in ML_JOB_TASKS.values() if isinstance(job, model))
    piece = ("resume", len(job.history)) if isinstance(job, TrainingRun) and job.history else ()
    return task_id(kind, job.pk, *piece)


def _silence_allowed(model) -> float:
    # Training and tuning beat after every epoch; evaluations and bias audits only when they start, so
    # only their time limit says their worker is gone.
    if model in (TrainingRun, TuningRun):
        return getattr(settings, "EMO7ION_TRAINING_STALE_AFTER", STALE_AFTER_S)
    return max(settings.CELERY_TASK_TIME_LIMIT, settings.EMO7ION_WATCHDOG_STALE_AFTER_S)


def ml_jobs_watch(*, report: WatchdogReport, in_flight: set[str] | None, now=None) -> None:
    """The watchdog's pass over the ML jobs (analysis.services.watchdog has the analyses): a running job
    silent for longer than its allowance lost its worker, and is queued and sent again (a training run
    resumes from its checkpoint) or, after EMO7ION_WATCHDOG_MAX_ATTEMPTS tries, failed with the reason; a
    queued job whose message the broker does not hold (`in_flight`; None: unknown) is sent again."""
    now = now or timezone.now()
    max_attempts = max(1, settings.EMO7ION_WATCHDOG_MAX_ATTEMPTS)
    for task_name, (model, kind, doing) in ML_JOB_TASKS.items():
        if in_flight is not None:  # before the running ones: a job queued again below is not lost
            for job in model.objects.filter(status=JobStatus.QUEUED):
                task = ml_job_task_id(job)
                if task not in in_flight and silent_for(job.created_at, job.heartbeat_at, now=now) > \
                        settings.EMO7ION_WATCHDOG_STALE_AFTER_S:
                    enqueue_on_commit(task_name, args=[job.pk], task_id=task)
                    report.sent(task, lost=True)
        allowed = _silence_allowed(model)
        for job in model.objects.filter(status=JobStatus.RUNNING):
            if silent_for(job.heartbeat_at, job.started_at, now=now) <= allowed:
                continue
            same_try = model.objects.filter(pk=job.pk, status=JobStatus.RUNNING, heartbeat_at=job.heartbeat_at)
            tries = job.restarts + 1
            if tries >= max_attempts:
                reason = tries_reason(doing, tries)
                if same_try.update(status=JobStatus.FAILED, error=reason, finished_at=now,
                                   log=Concat(F("log"), Value(f"watchdog: {reason}\n"))):
                    report.failed.append(f"{kind}:{job.pk}")
            elif same_try.update(status=JobStatus.QUEUED, restarts=F("restarts") + 1, log=Concat(
                    F("log"), Value(f"watchdog: its worker stopped; handed to a worker again (try {tries + 1})\n"))):
                enqueue_on_commit(task_name, args=[job.pk], task_id=ml_job_task_id(job))
                report.sent(ml_job_task_id(job), lost=False)
