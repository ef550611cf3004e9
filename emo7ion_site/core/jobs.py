"""The one vocabulary of long-running work: status values, the fields every job row has, and the
one runner that starts, finishes and fails a job.

Analyses, training runs, tuning runs, evaluations and bias audits are all jobs (Label Studio's
ModelRun, CVAT's job meta): one status row is the source of truth for queued/running/finished,
progress 0-1, a human-readable error and timestamps. Nothing here imports an app: each app passes
in what is its own (the work, the errors whose message is already written for a person).
"""
from __future__ import annotations

import logging
import math
import traceback
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from .exceptions import ApplicationError

logger = logging.getLogger(__name__)


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATUSES = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED)

# A job's log keeps its newest lines: enough to read what happened, never an unbounded column.
LOG_MAX_CHARS = 200_000
ERROR_MAX_CHARS = 5000
TRACEBACK_MAX_CHARS = 4000


class Job(models.Model):
    """Abstract base of every job row."""

    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress = models.FloatField(default=0.0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Liveness: a running job's worker touches `heartbeat_at` while it works (when it starts, and then as
    # often as the job can: a segment's progress, a training epoch). The watchdog (analysis.services.watchdog)
    # takes a job whose heartbeat went silent for its worker's death, hands it to a worker again (`restarts`
    # counts how often) and, after EMO7ION_WATCHDOG_MAX_ATTEMPTS tries, fails it with a reason.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    restarts = models.IntegerField(default=0, help_text="times the watchdog gave it to a worker again")

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED_STATUSES


def task_id(kind: str, object_id: int, *parts) -> str:
    """A deterministic Celery task id (CVAT's request ids): `analysis:12:segment:3`. Enqueuing the same
    work twice gives the same id, so a duplicate is visible in the broker and harmless to run."""
    return ":".join(str(p) for p in (kind, object_id, *parts))


def silent_for(*moments, now=None) -> float:
    """Seconds since the latest of `moments` (heartbeats, start times; None ones are ignored): how long a
    job has given no sign of life. Infinite when there is none."""
    latest = max((m for m in moments if m is not None), default=None)
    return math.inf if latest is None else ((now or timezone.now()) - latest).total_seconds()


@dataclass
class WatchdogReport:
    """What one watchdog pass did, by task id (or `kind:id` for what it failed)."""

    broker_inspected: bool  # False: the broker cannot say which messages it holds, so none is known lost
    restarted: list[str] = field(default_factory=list)  # sent again: their worker stopped
    resent: list[str] = field(default_factory=list)     # sent again: the broker lost their message
    failed: list[str] = field(default_factory=list)     # failed: their worker stopped on every try

    def sent(self, task_id: str, *, lost: bool) -> None:
        (self.resent if lost else self.restarted).append(task_id)

    def as_dict(self) -> dict:
        return asdict(self)


def tries_reason(doing: str, tries: int) -> str:
    """What a job's row says when its worker stopped on every try (the watchdog gave up on it)."""
    return (f"A worker stopped while {doing}; tried {tries} times. The worker may have run out of memory or "
            "crashed on this input: an administrator can read why in the worker's log.")


def enqueue_on_commit(task_name: str, *, args: list, task_id: str) -> None:
    """Send the task registered as `task_name` once the surrounding transaction commits, so the
    worker never looks for a row that is not there yet. By name: a service never imports its app's
    tasks module, and grep finds every sender of a task by the task's name."""
    def send() -> None:
        from celery import current_app

        if current_app.conf.task_always_eager:
            # send_task ignores eager mode; run the registered task in-process as .delay() would.
            current_app.loader.import_default_modules()
            current_app.tasks[task_name].apply_async(args=args, task_id=task_id)
        else:
            current_app.send_task(task_name, args=args, task_id=task_id)
    transaction.on_commit(send)


# --- The runner ---------------------------------------------------------------------------------


class JobCancelled(Exception):
    """Raised by a job's work when it stopped because someone asked it to: the job ends cancelled."""


class JobPaused(Exception):
    """Raised by a job's work when it stopped at its budget with everything needed to go on (a training
    run's checkpoint): the job is left `status` (its model's paused state), neither finished nor failed,
    in one write, so nobody ever sees it cancelled on the way."""

    def __init__(self, status: str = "paused"):
        super().__init__(status)
        self.status = status


def _log_fields(job) -> list[str]:
    return ["log"] if hasattr(job, "log") else []


def job_log(job, line: str) -> None:
    """One timestamped line in the job's log column (when the row has one) and the process log.
    The caller saves the row."""
    if hasattr(job, "log"):
        stamp = timezone.now().strftime("%H:%M:%S")
        job.log = (job.log + f"[{stamp}] {line}\n")[-LOG_MAX_CHARS:]
    logger.info("%s %s: %s", type(job).__name__, job.pk, line)


def job_start(job) -> bool:
    """Mark a job running; False when it already finished (a redelivered task) or was cancelled."""
    job.refresh_from_db()
    if job.status in FINISHED_STATUSES:
        return False
    job.status, job.started_at, job.error = JobStatus.RUNNING, job.started_at or timezone.now(), ""
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "started_at", "error", "heartbeat_at", *_log_fields(job)])
    return True


def job_finish(job, status: str, *, error: str = "", fields: Iterable[str] = ()) -> None:
    """Record how a job ended, with the fields its work set (saved in the same write)."""
    job.status, job.error, job.finished_at = status, error[:ERROR_MAX_CHARS], timezone.now()
    if status == JobStatus.SUCCEEDED:
        job.progress = 1.0
    job.save(update_fields=["status", "error", "finished_at", "progress", *fields, *_log_fields(job)])


def failure_message(exc: BaseException, *, expected: tuple[type[BaseException], ...] = (ApplicationError,)) -> str:
    """What a failed job's row says. `expected` errors, and the OS's and Python's value errors, carry
    a message written for a person; anything else is named as unexpected, with the log to read."""
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return "Stopped: the job ran past its time limit"
    if isinstance(exc, (*expected, ValueError, OSError)):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__}: {exc}); see the log"


def job_run(job, work: Callable[[], Iterable[str] | None], *,
            expected: tuple[type[BaseException], ...] = (ApplicationError,),
            log: Callable[[str], None] | None = None):
    """Start `job`, run `work()` and record how it ended; returns the job.

    `work` returns the names of the fields it set (saved with the succeeded status), or raises
    `JobCancelled` to end the job cancelled, or `JobPaused` to leave it paused. Any other error ends it failed with `failure_message`;
    an unexpected one also leaves its traceback in the log. Whatever happens, the row says so and
    the worker carries on: only KeyboardInterrupt and SystemExit go through. A job that already
    finished (a redelivered task) is left alone.
    """
    say = log or (lambda line: job_log(job, line))
    if not job_start(job):
        return job
    try:
        fields = work()
    except JobCancelled:
        job_finish(job, JobStatus.CANCELLED)
    except JobPaused as paused:
        job.status, job.error, job.finished_at = paused.status, "", None
        job.save(update_fields=["status", "error", "finished_at", *_log_fields(job)])
    except BaseException as exc:  # noqa: BLE001 - the row must say what happened, whatever it was
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        message = failure_message(exc, expected=expected)
        say("failed: " + message)
        if not isinstance(exc, expected):
            logger.debug("%s %s failed", type(job).__name__, job.pk, exc_info=True)
            if hasattr(job, "log"):
                job.log += traceback.format_exc()[-TRACEBACK_MAX_CHARS:]
        job_finish(job, JobStatus.FAILED, error=message)
    else:
        job_finish(job, JobStatus.SUCCEEDED, fields=tuple(fields or ()))
    return job
