"""The watchdog: nothing stays `running` without a worker on it, and no message the broker lost is waited
for. Celery beat runs it every EMO7ION_WATCHDOG_INTERVAL_S (analysis.tasks.watchdog); cron can run
`manage.py watchdog` instead.

A step of an unfinished analysis of uploaded footage (a live analysis belongs to its live worker) is
- dead when it started and its heartbeat has been silent for EMO7ION_WATCHDOG_STALE_AFTER_S (a finalize,
  which beats only when it starts, when it started longer ago than its time limit): it is handed to a
  worker again, and after EMO7ION_WATCHDOG_MAX_ATTEMPTS tries the analysis fails with a reason a person
  understands ("a worker stopped while analysing 0:30–1:00; tried 3 times");
- lost when it never started, waited that long, and the broker holds no message for it (Redis says which
  it holds; other brokers cannot, and then nothing is taken for lost): it is sent again.
Every task goes out under its deterministic id, and running one twice is harmless: a segment another
worker is analysing right now is left to it, a done one is replaced by identical rows, finalize runs once.
"""
from __future__ import annotations

import logging
import math

from django.conf import settings
from django.db.models import F, Max
from django.utils import timezone

from emo7ion_site.celery import broker_tasks_in_flight, queue_of
from emo7ion_site.core.jobs import (ERROR_MAX_CHARS, JobStatus, WatchdogReport, enqueue_on_commit, silent_for,
                                    task_id, tries_reason)
from ml.services.jobs import ML_JOB_TASKS, ml_jobs_watch

from ..models import Analysis, AnalysisSegment
from .analyses import FINALIZE_SOFT_LIMIT_S, HARD_LIMIT_MARGIN_S, UNFINISHED, analysis_fail

log = logging.getLogger(__name__)

PLAN, SEGMENT, FINALIZE = ("analysis.tasks.start_analysis", "analysis.tasks.analyse_segment",
                           "analysis.tasks.finalize_analysis")


def _clock(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def segment_span(segment: AnalysisSegment) -> str:
    """The segment's time slice as a person reads it: `0:30–1:00`."""
    if segment.t_end <= 0:
        return "the image"
    return f"{_clock(math.floor(segment.t_start))}–{_clock(math.ceil(segment.t_end))}"


def analysis_silent_for(analysis: Analysis, *, now=None) -> float:
    """Seconds since the analysis last showed a sign of life: created, planned, a segment's heartbeat."""
    latest = analysis.segments.aggregate(Max("heartbeat_at"), Max("started_at"), Max("finished_at")).values()
    return silent_for(analysis.created_at, analysis.started_at, analysis.heartbeat_at, *latest, now=now)


class _Pass:
    """One look at every unfinished analysis, with what the broker holds (`in_flight`, None: unknown)."""

    def __init__(self, report: WatchdogReport, in_flight: set[str] | None, now):
        self.report, self.in_flight, self.now = report, in_flight, now
        self.stale_after = settings.EMO7ION_WATCHDOG_STALE_AFTER_S
        self.max_attempts = max(1, settings.EMO7ION_WATCHDOG_MAX_ATTEMPTS)

    def silent(self, *moments, longer_than: float | None = None) -> bool:
        return silent_for(*moments, now=self.now) > (self.stale_after if longer_than is None else longer_than)

    def lost(self, task: str, since) -> bool:
        return self.in_flight is not None and task not in self.in_flight and self.silent(since)

    def send(self, task_name: str, args: list, task: str, *, lost: bool) -> None:
        enqueue_on_commit(task_name, args=args, task_id=task)
        self.report.sent(task, lost=lost)
        log.warning("Watchdog: %s sent again (%s)", task, "its message was lost" if lost else "its worker stopped")

    def fail(self, analysis: Analysis, reason: str) -> None:
        if analysis_fail(analysis_id=analysis.pk, reason=reason):
            self.report.failed.append(f"analysis:{analysis.pk}")

    def watch(self, analysis: Analysis) -> None:
        if analysis.status == JobStatus.QUEUED:
            plan = task_id("analysis", analysis.pk, "plan")
            if analysis.heartbeat_at is not None:
                if self.silent(analysis.heartbeat_at):
                    self.restart_step(analysis, "preparing the analysis", PLAN, plan)
            elif self.lost(plan, analysis.created_at):
                self.send(PLAN, [analysis.pk], plan, lost=True)
            return
        segments = list(analysis.segments.all())
        for segment in segments:
            if segment.status == AnalysisSegment.Status.RUNNING and self.silent(segment.heartbeat_at,
                                                                               segment.started_at):
                if not self.restart_segment(analysis, segment):
                    return  # the analysis failed
            elif segment.status == AnalysisSegment.Status.PENDING:
                task = task_id("analysis", analysis.pk, "segment", segment.index)
                if self.lost(task, analysis.started_at):
                    self.send(SEGMENT, [analysis.pk, segment.index], task, lost=True)
        if segments and all(s.status == AnalysisSegment.Status.DONE for s in segments):
            self.watch_finalize(analysis, max(s.finished_at or analysis.started_at for s in segments))

    def restart_segment(self, analysis: Analysis, segment: AnalysisSegment) -> bool:
        """A running segment's worker stopped: pending again and sent to a worker, or, after the last try,
        failed with the analysis. Returns whether the analysis goes on."""
        same_try = AnalysisSegment.objects.filter(pk=segment.pk, status=AnalysisSegment.Status.RUNNING,
                                                  attempts=segment.attempts, heartbeat_at=segment.heartbeat_at)
        if segment.attempts >= self.max_attempts:
            reason = tries_reason(f"analysing {segment_span(segment)}", segment.attempts)
            if same_try.update(status=AnalysisSegment.Status.FAILED, error=reason[:ERROR_MAX_CHARS]):
                self.fail(analysis, reason)
                return False
        elif same_try.update(status=AnalysisSegment.Status.PENDING):
            self.send(SEGMENT, [analysis.pk, segment.index], task_id("analysis", analysis.pk, "segment", segment.index),
                      lost=False)
        return True

    def watch_finalize(self, analysis: Analysis, last_segment_done) -> None:
        finalize = task_id("analysis", analysis.pk, "finalize")
        if analysis.heartbeat_at is not None:  # finalize started (it beats once, then works for minutes)
            limit = max(self.stale_after, FINALIZE_SOFT_LIMIT_S + HARD_LIMIT_MARGIN_S)
            if self.silent(analysis.heartbeat_at, longer_than=limit):
                self.restart_step(analysis, "combining the segments' results", FINALIZE, finalize)
        elif self.silent(last_segment_done) and (self.in_flight is None or finalize not in self.in_flight):
            # The last segment's worker died between its segment and finalize (or the message was lost).
            # Marked as handed over, so a broker that cannot be read does not get one every pass.
            if Analysis.objects.filter(pk=analysis.pk, heartbeat_at__isnull=True).update(heartbeat_at=self.now):
                self.send(FINALIZE, [analysis.pk], finalize, lost=True)

    def restart_step(self, analysis: Analysis, doing: str, task_name: str, task: str) -> None:
        """Plan or finalize lost its worker: sent again (`restarts` + 1), or failed after the last try."""
        tries = analysis.restarts + 1
        if tries >= self.max_attempts:
            self.fail(analysis, tries_reason(doing, tries))
        elif Analysis.objects.filter(pk=analysis.pk, status=analysis.status, heartbeat_at=analysis.heartbeat_at) \
                .update(restarts=F("restarts") + 1, heartbeat_at=None):
            self.send(task_name, [analysis.pk], task, lost=False)


def _in_flight() -> set[str] | None:
    queues = {queue_of(name) for name in (PLAN, SEGMENT, FINALIZE, *ML_JOB_TASKS)}
    try:
        return broker_tasks_in_flight(queues)
    except Exception:  # the broker is down: heartbeats still tell the dead, and sending will say it failed
        log.exception("Watchdog: could not read what the broker holds")
        return None


def watchdog_run(*, now=None) -> WatchdogReport:
    """One pass over every unfinished analysis and ML job (see the module's docstring)."""
    now = now or timezone.now()
    in_flight = _in_flight()
    report = WatchdogReport(broker_inspected=in_flight is not None)
    one_pass = _Pass(report, in_flight, now)
    for analysis in Analysis.objects.filter(kind=Analysis.Kind.UPLOAD, status__in=UNFINISHED).order_by("pk"):
        one_pass.watch(analysis)
    ml_jobs_watch(report=report, in_flight=in_flight, now=now)
    return report
