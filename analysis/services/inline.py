"""Every step of an analysis in this process: what `manage.py analyse` and the demo use."""
from __future__ import annotations

from ..models import Analysis
from .finalize import analysis_finalize_execute
from .plan import analysis_plan_execute
from .segments import analysis_segment_execute


def analysis_run_inline(*, analysis: Analysis) -> Analysis:
    """Plan, each segment one after another, then finalize: the same functions as the Celery
    tasks, so the results are the same."""
    for index in analysis_plan_execute(analysis_id=analysis.pk):
        if analysis_segment_execute(analysis_id=analysis.pk, index=index):
            analysis_finalize_execute(analysis_id=analysis.pk)
    analysis.refresh_from_db()
    return analysis
