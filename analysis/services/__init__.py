"""Writes of the analysis app, one module per entity or job (HackSoft's Styleguide), re-exported here:
callers write `from analysis import services; services.analysis_create(...)`.

    projects   project_create / _update / _delete
    footage    store an upload, validate it by content, record refusals
    analyses   analysis_create / _cancel / _fail, input checks, the failure handling of every step
    plan       split into segments, enqueue one task per segment
    segments   analyse one segment and store its observations (idempotent)
    finalize   stitch tracks, store the timeline and summary, mark succeeded
    moments    moment_create / _delete: named time ranges a user marks on a finished analysis
    inline     every step in this process (the command line, the demo)
    retention  delete raw footage after the organisation's period
    watchdog   hand a step whose worker stopped to another, send a lost message again, fail after N tries

The Celery tasks (analysis.tasks) and `manage.py analyse` call the same functions, so the worker and
the command line run one pipeline:

    analysis_create -> analysis_plan -> analysis_segment_execute (per segment) -> analysis_finalize

Services never import analysis.tasks: they enqueue a task by its name once the transaction commits
(`emo7ion_site.core.jobs.enqueue_on_commit`), with a deterministic id such as `analysis:12:segment:3`.
Callers check permissions (views and the API through accounts.tenancy, the command through its
--user); these functions trust that they were allowed.
"""
from .analyses import (FINALIZE_SOFT_LIMIT_S, HARD_LIMIT_MARGIN_S, MAX_SAMPLE_FPS, MIN_SAMPLE_FPS, PLAN_SOFT_LIMIT_S,
                       SEGMENT_SOFT_LIMIT_S, StorageUnavailable, analysis_cancel, analysis_create, analysis_fail,
                       analysis_plan_enqueue, analysis_step_run, human_reason, validate_detector,
                       validate_sample_fps)
from .finalize import analysis_finalize, analysis_finalize_enqueue, analysis_finalize_execute
from .footage import (footage_create_from_upload, footage_record_oversized_upload, footage_reject,
                      footage_validate_stored)
from .inline import analysis_run_inline
from .moments import MAX_MOMENTS_PER_ANALYSIS, moment_create, moment_delete
from .plan import analysis_plan, analysis_plan_execute, analysis_segments_enqueue, analysis_start, segment_bounds
from .projects import project_create, project_delete, project_update
from .retention import footage_apply_retention, footage_cache_prune, footage_delete_file
from .segments import analysis_segment_execute, analysis_segment_run
from .watchdog import analysis_silent_for, segment_span, watchdog_run

__all__ = [
    "FINALIZE_SOFT_LIMIT_S", "HARD_LIMIT_MARGIN_S", "MAX_SAMPLE_FPS", "MIN_SAMPLE_FPS", "PLAN_SOFT_LIMIT_S",
    "SEGMENT_SOFT_LIMIT_S", "StorageUnavailable", "analysis_cancel", "analysis_create", "analysis_fail", "analysis_finalize", "analysis_finalize_enqueue",
    "analysis_finalize_execute", "analysis_plan", "analysis_plan_enqueue", "analysis_plan_execute",
    "analysis_run_inline", "analysis_segment_execute", "analysis_segment_run", "analysis_segments_enqueue",
    "analysis_start", "analysis_step_run", "footage_apply_retention", "footage_cache_prune",
    "footage_create_from_upload", "footage_delete_file", "footage_record_oversized_upload", "footage_reject",
    "footage_validate_stored", "human_reason", "MAX_MOMENTS_PER_ANALYSIS", "moment_create", "moment_delete",
    "project_create", "project_delete", "project_update",
    "analysis_silent_for", "segment_bounds", "segment_span", "validate_detector", "validate_sample_fps",
    "watchdog_run",
]
