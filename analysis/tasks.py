"""Celery tasks of the analysis fan-out, and the periodic jobs. Thin: the work is in analysis.services.

    start_analysis(id) -> analyse_segment(id, 0..n-1) -> (the last one to finish) finalize

Every task has a deterministic id, given where it is enqueued (analysis.services):
`analysis:<id>:plan`, `analysis:<id>:segment:<i>`, `analysis:<id>:finalize`, so a duplicate is
visible in the broker; running one twice is harmless. The state lives in the database rows (no
result backend). Segment tasks are idempotent, so `acks_late` + `reject_on_worker_lost` can safely
redeliver a task whose worker died; a worker killed outright is noticed by the watchdog (its segment's
heartbeat stops), which hands the segment to another. Every task turns its own failure into a failed
Analysis with a readable reason and returns normally, so bad input never takes a worker down; only a
storage outage is retried, EMO7ION_STORAGE_READ_TRIES times. All three run on the `ml` queue.
"""
from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import services

ML_TASK = dict(acks_late=True, reject_on_worker_lost=True, ignore_result=True, queue="ml")
# The longest wait between two storage tries: well inside the broker's visibility timeout, which a task
# waiting for its countdown on a worker also counts against.
STORAGE_RETRY_MAX_DELAY_S = 10 * 60


def _limits(soft_s: int) -> dict:
    return dict(soft_time_limit=soft_s, time_limit=soft_s + services.HARD_LIMIT_MARGIN_S)


@shared_task(name="analysis.tasks.start_analysis", **_limits(services.PLAN_SOFT_LIMIT_S), **ML_TASK)
def start_analysis(analysis_id: int) -> None:
    services.analysis_start(analysis_id=analysis_id)


@shared_task(bind=True, name="analysis.tasks.analyse_segment", max_retries=None,
             **_limits(services.SEGMENT_SOFT_LIMIT_S), **ML_TASK)
def analyse_segment(self, analysis_id: int, index: int) -> None:
    tries = max(1, settings.EMO7ION_STORAGE_READ_TRIES)
    try:
        last = services.analysis_segment_execute(analysis_id=analysis_id, index=index,
                                                 storage_try=self.request.retries + 1, storage_tries=tries,
                                                 worker=self.request.hostname or "")
    except services.StorageUnavailable as exc:
        delay = min(STORAGE_RETRY_MAX_DELAY_S, settings.EMO7ION_STORAGE_RETRY_DELAY_S * 2 ** self.request.retries)
        raise self.retry(exc=exc, countdown=delay)
    if last:
        # This worker finished the last segment: finalize here rather than enqueue another task
        # (the model is loaded, and no result backend is needed to know that all are done).
        services.analysis_finalize_execute(analysis_id=analysis_id)


@shared_task(name="analysis.tasks.finalize_analysis", **_limits(services.FINALIZE_SOFT_LIMIT_S), **ML_TASK)
def finalize_analysis(analysis_id: int) -> None:
    """Finalize a running analysis whose segments are all done (idempotent)."""
    services.analysis_finalize_execute(analysis_id=analysis_id)


@shared_task(name="analysis.tasks.apply_retention", ignore_result=True)
def apply_retention() -> None:
    """Run daily by `celery beat` (CELERY_BEAT_SCHEDULE) or by cron via `manage.py apply_retention`."""
    services.footage_apply_retention()
    services.footage_cache_prune()


@shared_task(name="analysis.tasks.watchdog", ignore_result=True, acks_late=False, soft_time_limit=5 * 60,
             time_limit=6 * 60)
def watchdog() -> None:
    """Run by `celery beat` every EMO7ION_WATCHDOG_INTERVAL_S, or by cron via `manage.py watchdog`."""
    services.watchdog_run()
