"""Celery tasks of the analysis fan-out. Thin: the work is in analysis.services.

    start_analysis(id) -> analyse_segment(id, 0..n-1) -> (the last one to finish) finalize

Every task has a deterministic id, given where it is enqueued (analysis.services):
`analysis:<id>:plan`, `analysis:<id>:segment:<i>`, `analysis:<id>:finalize`, so a duplicate is
visible in the broker; running one twice is harmless. The state lives in the database rows (no
result backend). Segment tasks are idempotent, so `acks_late` + `reject_on_worker_lost` can safely
redeliver a task whose worker died. Every task turns its own failure into a failed Analysis with a
readable reason and returns normally, so bad input never takes a worker down. All three run on the
`ml` queue (CELERY_TASK_ROUTES).
"""
from __future__ import annotations

from celery import shared_task

from . import services

# Explicit limits per step. A 60 s segment of a dense crowd at 2 fps is 120 frames and some
# 20,000 faces: about a minute on two cores. The soft limit raises inside the task (the analysis
# is marked failed with a message); the hard limit kills a stuck OpenCV call.
SEGMENT_SOFT_LIMIT_S = 20 * 60
SEGMENT_HARD_LIMIT_S = SEGMENT_SOFT_LIMIT_S + 60
PLAN_SOFT_LIMIT_S = 5 * 60
FINALIZE_SOFT_LIMIT_S = 15 * 60

ML_TASK = dict(acks_late=True, reject_on_worker_lost=True, ignore_result=True, queue="ml")


@shared_task(name="analysis.tasks.start_analysis", soft_time_limit=PLAN_SOFT_LIMIT_S,
             time_limit=PLAN_SOFT_LIMIT_S + 60, **ML_TASK)
def start_analysis(analysis_id: int) -> None:
    services.analysis_start(analysis_id=analysis_id)


@shared_task(name="analysis.tasks.analyse_segment", soft_time_limit=SEGMENT_SOFT_LIMIT_S,
             time_limit=SEGMENT_HARD_LIMIT_S, **ML_TASK)
def analyse_segment(analysis_id: int, index: int) -> None:
    if services.analysis_segment_execute(analysis_id=analysis_id, index=index):
        # This worker finished the last segment: finalize here rather than enqueue another task
        # (the model is loaded, and no result backend is needed to know that all are done).
        services.analysis_finalize_execute(analysis_id=analysis_id)


@shared_task(name="analysis.tasks.finalize_analysis", soft_time_limit=FINALIZE_SOFT_LIMIT_S,
             time_limit=FINALIZE_SOFT_LIMIT_S + 60, **ML_TASK)
def finalize_analysis(analysis_id: int) -> None:
    """Finalize a running analysis whose segments are all done (idempotent)."""
    services.analysis_finalize_execute(analysis_id=analysis_id)


@shared_task(name="analysis.tasks.apply_retention", ignore_result=True)
def apply_retention() -> None:
    """Run daily by `celery beat` (CELERY_BEAT_SCHEDULE) or by cron via `manage.py apply_retention`."""
    services.footage_apply_retention()
    services.footage_cache_prune()
