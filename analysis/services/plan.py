"""Planning an analysis: split the footage into time segments and hand each to a worker."""
from __future__ import annotations

import logging
import math

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from emo7ion_site.core.jobs import JobStatus, enqueue_on_commit, task_id

from ..models import Analysis, AnalysisSegment
from .analyses import UNFINISHED, analysis_step_run

log = logging.getLogger(__name__)


def segment_bounds(duration_s: float | None, segment_s: float) -> list[tuple[float, float]]:
    """Time slices of `segment_s` covering the footage (a still image is one slice)."""
    duration = float(duration_s or 0.0)
    if duration <= 0:
        return [(0.0, 0.0)]
    n = max(1, math.ceil(duration / segment_s - 1e-9))
    return [(round(i * segment_s, 6), round(min((i + 1) * segment_s, duration), 6)) for i in range(n)]


def analysis_plan(*, analysis_id: int) -> list[int]:
    """Split the footage into segments and mark the analysis running. Returns the indices of
    segments still to run (a redelivered plan task re-issues the unfinished ones only)."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().select_related("footage").get(pk=analysis_id)
        if analysis.status not in UNFINISHED:
            log.info("Analysis %s is %s; nothing to plan", analysis_id, analysis.status)
            return []
        bounds = segment_bounds(analysis.footage.duration_s, settings.EMO7ION_SEGMENT_SECONDS)
        if not analysis.segments.exists():
            AnalysisSegment.objects.bulk_create(
                AnalysisSegment(analysis=analysis, index=i, t_start=a, t_end=b) for i, (a, b) in enumerate(bounds))
        if analysis.status == JobStatus.QUEUED:
            analysis.status, analysis.started_at = JobStatus.RUNNING, timezone.now()
            analysis.segment_count = len(bounds)
        analysis.heartbeat_at = None  # planned: from now on the segments' heartbeats speak for it
        analysis.save(update_fields=["status", "started_at", "segment_count", "heartbeat_at"])
        return list(analysis.segments.exclude(status=AnalysisSegment.Status.DONE).values_list("index", flat=True))


def analysis_plan_execute(*, analysis_id: int) -> list[int]:
    """`analysis_plan` for a worker: a failure marks the analysis failed and plans nothing."""
    # A sign of life for the watchdog until the plan commits: one that never does lost its worker.
    Analysis.objects.filter(pk=analysis_id, status__in=UNFINISHED).update(heartbeat_at=timezone.now())
    return analysis_step_run(analysis_id=analysis_id, step=lambda: analysis_plan(analysis_id=analysis_id),
                             where=lambda: "Preparing the analysis", failed=[])


def analysis_segments_enqueue(*, analysis_id: int, indices: list[int]) -> None:
    """One segment task per index, each with the id `analysis:<id>:segment:<i>`: enqueuing a
    segment twice (a redelivered plan) shows as one id twice, and running it twice is harmless
    (a segment replaces what an earlier try wrote)."""
    for index in indices:
        enqueue_on_commit("analysis.tasks.analyse_segment", args=[analysis_id, index],
                          task_id=task_id("analysis", analysis_id, "segment", index))


def analysis_start(*, analysis_id: int) -> list[int]:
    """What the plan task does: plan, then hand every unfinished segment to a worker."""
    indices = analysis_plan_execute(analysis_id=analysis_id)
    analysis_segments_enqueue(analysis_id=analysis_id, indices=indices)
    return indices
