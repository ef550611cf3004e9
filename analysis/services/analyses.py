"""Analyses as jobs: create (and enqueue), cancel, fail; and the failure handling every step shares.

An analysis is a fan-out job: many segment workers may end it at once, so it changes status only
with a conditional UPDATE (queued/running -> cancelled/failed), never by saving a row read earlier,
and a finished analysis stays as it is.
"""
from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Callable, TypeVar

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from emo7ion_site.core.jobs import ERROR_MAX_CHARS, JobStatus, enqueue_on_commit, task_id
from ml import registry
from ml.engine.detectors import DETECTOR_NAMES
from ml.engine.errors import EngineError
from ml.runtime import default_detector_name

from .. import media
from ..models import Analysis, Footage
from ..signals import analysis_finished

log = logging.getLogger(__name__)

MAX_SAMPLE_FPS = 30.0
MIN_SAMPLE_FPS = 0.05
UNFINISHED = (JobStatus.QUEUED, JobStatus.RUNNING)

# Explicit limits per step (the tasks' soft limits; the hard one is a minute later). A 60 s segment of a
# dense crowd at 2 fps is 120 frames and some 20,000 faces: about a minute on two cores. The soft limit
# raises inside the step (the analysis is marked failed with a message); the hard limit kills a stuck
# OpenCV call. The watchdog knows a finalize that started longer ago than its hard limit is dead.
SEGMENT_SOFT_LIMIT_S = 20 * 60
PLAN_SOFT_LIMIT_S = 5 * 60
FINALIZE_SOFT_LIMIT_S = 15 * 60
HARD_LIMIT_MARGIN_S = 60


class StorageUnavailable(Exception):
    """The footage could not be read from storage just now (an outage, a timeout), unlike a file that is
    missing: worth another try later (the segment task retries it, EMO7ION_STORAGE_READ_TRIES)."""

T = TypeVar("T")


def validate_detector(detector: str | None) -> str:
    """The detector's canonical name (the site's default when none is given), or a ValidationError."""
    name = (detector or default_detector_name()).strip().lower()
    if name not in DETECTOR_NAMES:
        raise ValidationError({"detector": f"Unknown face detector {detector!r}; choose one of: "
                                           f"{', '.join(DETECTOR_NAMES)}."})
    if name == "yunet" and not (settings.EMO7ION_YUNET_MODEL and Path(settings.EMO7ION_YUNET_MODEL).is_file()):
        raise ValidationError({"detector": "The yunet detector is not installed on this server "
                                           "(EMO7ION_YUNET_MODEL); use haar, or ask an administrator."})
    return name


def validate_sample_fps(sample_fps) -> float:
    """Frames per second to analyse (the site's default when none is given), or a ValidationError."""
    value = settings.EMO7ION_DEFAULT_SAMPLE_FPS if sample_fps in (None, "") else sample_fps
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValidationError({"sample_fps": "The sample rate must be a number of frames per second."})
    if not math.isfinite(value) or not (MIN_SAMPLE_FPS <= value <= MAX_SAMPLE_FPS):
        raise ValidationError({"sample_fps": f"The sample rate must be between {MIN_SAMPLE_FPS:g} and "
                                             f"{MAX_SAMPLE_FPS:g} frames per second."})
    return value


def analysis_plan_enqueue(*, analysis_id: int) -> None:
    """Hand the analysis to a worker once the transaction commits (task id `analysis:<id>:plan`)."""
    enqueue_on_commit("analysis.tasks.start_analysis", args=[analysis_id],
                      task_id=task_id("analysis", analysis_id, "plan"))


def analysis_create(*, footage: Footage, created_by, model_version=None, detector: str | None = None,
                    sample_fps: float | None = None, enqueue: bool = True) -> Analysis:
    """Record a queued analysis and, once the transaction commits, hand it to a worker.

    `enqueue=False` is for the command line, which runs the same steps in-process."""
    if footage.status != Footage.Status.READY:
        raise ValidationError("Only footage that is ready can be analysed"
                              + (f" (this one was rejected: {footage.rejection_reason})"
                                 if footage.status == Footage.Status.REJECTED else "."))
    if footage.file_deleted_at or not footage.file:
        raise ValidationError("The raw file of this footage has been deleted, so it cannot be analysed again.")
    if model_version is None:
        model_version = registry.active_model_version()
        if model_version is None:
            raise ValidationError("No emotion model is active yet. An administrator must register one "
                                  "(the shipped default model is missing from ml/default_model/).")
    analysis = Analysis.objects.create(
        footage=footage, model_version=model_version, detector=validate_detector(detector),
        sample_fps=validate_sample_fps(sample_fps), created_by=created_by, status=JobStatus.QUEUED)
    if enqueue:
        analysis_plan_enqueue(analysis_id=analysis.pk)
    return analysis


def analysis_cancel(*, analysis: Analysis, by) -> bool:
    """Stop a queued or running analysis. Running segments notice between batches. Returns
    False when it had already finished (then nothing changes)."""
    who = getattr(by, "get_username", lambda: "")() or "someone"
    changed = Analysis.objects.filter(pk=analysis.pk, status__in=UNFINISHED).update(
        status=JobStatus.CANCELLED, error=f"Cancelled by {who}.", finished_at=timezone.now())
    analysis.refresh_from_db()
    return bool(changed)


def analysis_fail(*, analysis: Analysis | None = None, analysis_id: int | None = None, reason: str) -> bool:
    """Mark failed unless it already ended, and announce it after commit. Returns whether it changed."""
    analysis_id = analysis.pk if analysis is not None else analysis_id
    changed = Analysis.objects.filter(pk=analysis_id, status__in=UNFINISHED).update(
        status=JobStatus.FAILED, error=reason[:ERROR_MAX_CHARS], finished_at=timezone.now())
    if changed:
        log.warning("Analysis %s failed: %s", analysis_id, reason)
        announce_finished(analysis_id)
    return bool(changed)


def announce_finished(analysis_id: int) -> None:
    """Send `analysis_finished` (webhooks listen) once the transaction that ended it commits."""
    def send():
        analysis = (Analysis.objects.select_related("footage__project__organisation", "model_version")
                    .get(pk=analysis_id))
        analysis_finished.send(sender=Analysis, analysis=analysis)
    transaction.on_commit(send)


def human_reason(exc: BaseException, where: str) -> str:
    """What a person reads on the analysis page when a step failed."""
    from celery.exceptions import SoftTimeLimitExceeded
    if isinstance(exc, SoftTimeLimitExceeded):
        return f"{where} took longer than the time limit and was stopped. Try a lower sample rate."
    if isinstance(exc, (media.StoredFileMissing, EngineError, StorageUnavailable)):
        return f"{where}: {exc}"
    return f"{where} failed unexpectedly ({type(exc).__name__}: {exc}). The error was logged."


def analysis_step_run(*, analysis_id: int, step: Callable[[], T], where: Callable[[], str],
                      on_failure: Callable[[str], None] | None = None, failed: T,
                      retry_on: tuple[type[Exception], ...] = ()) -> T:
    """Run one step of an analysis for a worker: any error marks the analysis failed with a reason a
    person can read (`where` names the step), and never escapes, so the worker carries on with its
    next task. Returns the step's answer, or `failed` when it raised. Errors in `retry_on` are raised
    instead, for the task to try again later."""
    try:
        return step()
    except retry_on:
        raise
    except Exception as exc:
        log.exception("Analysis %s: %s failed", analysis_id, where())
        reason = human_reason(exc, where())
        if on_failure is not None:
            on_failure(reason)
        analysis_fail(analysis_id=analysis_id, reason=reason)
        return failed
