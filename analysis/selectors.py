"""Reads. Every organisation-owned queryset here goes through accounts.tenancy, so a page, the
API or a command that starts from these can only ever see the caller's organisations."""
from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from accounts.permissions import VIEW
from accounts.tenancy import get_for_user, memberships_of, scope_to_user

from .models import Analysis, FaceObservation, Footage, Project, TimelineBucket

PROJECT_ORG = "organisation"
FOOTAGE_ORG = "project__organisation"
ANALYSIS_ORG = "footage__project__organisation"


def organisations_for(user, action: str = VIEW) -> list:
    """The user's organisations in which their role allows `action` (for forms and the dashboard)."""
    from accounts.permissions import role_allows
    return [m.organisation for m in memberships_of(user) if role_allows(m.role, action)]


def projects_for(user, action: str = VIEW) -> QuerySet[Project]:
    return (scope_to_user(Project.objects.all(), user, PROJECT_ORG, action)
            .select_related("organisation")
            .annotate(footage_count=Count("footage", distinct=True)))


def footage_for(user, action: str = VIEW) -> QuerySet[Footage]:
    return scope_to_user(Footage.objects.all(), user, FOOTAGE_ORG, action).select_related("project__organisation")


def analyses_for(user, action: str = VIEW) -> QuerySet[Analysis]:
    return (scope_to_user(Analysis.objects.all(), user, ANALYSIS_ORG, action)
            .select_related("footage__project__organisation", "model_version"))


def project_get(user, pk, action: str = VIEW) -> Project:
    """404 for another organisation's project; 403 when the role does not allow `action`."""
    return get_for_user(Project.objects.select_related("organisation"), user, org_path=PROJECT_ORG,
                        action=action, pk=pk)


def footage_get(user, pk, action: str = VIEW) -> Footage:
    return get_for_user(Footage.objects.select_related("project__organisation"), user, org_path=FOOTAGE_ORG,
                        action=action, pk=pk)


def analysis_get(user, pk, action: str = VIEW) -> Analysis:
    return get_for_user(Analysis.objects.select_related("footage__project__organisation", "model_version"),
                        user, org_path=ANALYSIS_ORG, action=action, pk=pk)


def project_analyses(project: Project) -> QuerySet[Analysis]:
    """Every analysis of the project, newest first (the project page). The project report compares only
    the latest succeeded analysis of each footage: reports.selectors.project_latest_analyses."""
    return (Analysis.objects.filter(footage__project=project)
            .select_related("footage", "model_version").order_by("-created_at"))


def timeline_for(analysis: Analysis) -> QuerySet[TimelineBucket]:
    """The timeline buckets; empty unless the analysis succeeded (partial results are never shown
    as if they were complete)."""
    if analysis.status != Analysis.Status.SUCCEEDED:
        return TimelineBucket.objects.none()
    return TimelineBucket.objects.filter(analysis=analysis).order_by("index")


def observations_for(analysis: Analysis) -> QuerySet[FaceObservation]:
    """Face observations in time order; empty unless the analysis succeeded (until finalize has
    run, track ids are still local to their segment)."""
    if analysis.status != Analysis.Status.SUCCEEDED:
        return FaceObservation.objects.none()
    return FaceObservation.objects.filter(analysis=analysis).order_by("t", "track_id")


def active_analyses_of(project: Project) -> QuerySet[Analysis]:
    return project_analyses(project).filter(Q(status=Analysis.Status.QUEUED) | Q(status=Analysis.Status.RUNNING))


def analysis_status(analysis: Analysis) -> dict:
    """The one progress state every page polls (`analysis-status`, and per analysis in `project-status`),
    drawn by the one poller (analysis/static/analysis/progress.js). `finished` is the key ML jobs use
    too. Progress stays below 1 until the analysis has succeeded: its last segment reports 1.0 while
    finalize has still to run, and 100% must mean the results are there."""
    succeeded = analysis.status == Analysis.Status.SUCCEEDED
    return {
        "id": analysis.pk,
        "status": analysis.status,
        "status_label": analysis.get_status_display(),
        "progress": round(1.0 if succeeded else min(float(analysis.progress or 0.0), 0.99), 4),
        "error": analysis.error,
        "finished": analysis.is_finished,
        "segments_done": analysis.segments_done,
        "segment_count": analysis.segment_count,
    }
