"""Reads. Every organisation-owned queryset here goes through accounts.tenancy, so a page, the
API or a command that starts from these can only ever see the caller's organisations."""
from __future__ import annotations

import hashlib
import json
from functools import reduce
from operator import or_

import numpy as np
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from accounts.permissions import VIEW
from accounts.tenancy import get_for_user, memberships_of, scope_to_user
from ml.engine.comparison import compare_groups, compare_time_ranges, compared_names, crowd_values
from ml.engine.labels import EMOTIONS
from ml.engine.statistics import TrackTotals

from .models import Analysis, FaceObservation, Footage, Moment, Project, TimelineBucket

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
    """Every analysis of the project, newest first (the project page). The project report and its API
    compare only the latest succeeded analysis of each footage: `project_latest_analyses`."""
    return (Analysis.objects.filter(footage__project=project)
            .select_related("footage", "model_version").order_by("-created_at"))


def project_latest_analyses(project: Project) -> list[Analysis]:
    """The latest succeeded analysis of each footage of the project, in upload order (one per
    footage, so a re-analysed clip is not counted twice)."""
    latest: dict[int, Analysis] = {}
    qs = (Analysis.objects.filter(footage__project_id=project.pk, status=Analysis.Status.SUCCEEDED)
          .select_related("footage", "model_version").order_by("footage_id", "-finished_at", "-pk"))
    for analysis in qs:
        latest.setdefault(analysis.footage_id, analysis)
    return sorted(latest.values(), key=lambda a: (a.footage.created_at, a.footage_id))


def project_comparison(project: Project) -> dict:
    """`analyses_comparison` over the project's latest succeeded analysis of each footage, each row
    naming its footage (the project report's table, for the API)."""
    analyses = project_latest_analyses(project)
    comparison = analyses_comparison(analyses)
    footage_of = {a.pk: a.footage for a in analyses}
    for row in comparison["analyses"]:
        footage = footage_of[row["id"]]
        row.update(footage=footage.pk, footage_name=footage.original_name)
    return {"project": project.pk, **comparison}


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


def analysis_duration(analysis: Analysis) -> float | None:
    """The footage's length in seconds as the analysis saw it: the footage's probed duration, else the
    summary's (None when neither knows it)."""
    for value in (analysis.footage.duration_s, (analysis.summary or {}).get("duration_s")):
        if value:
            return float(value)
    return None


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


# --- Moments and comparisons: crowd statistics computed on read -------------------------------------
#
# Finalize stores the statistics of the whole footage and of each timeline window. A moment is marked
# after that, and a project's analyses are compared in whatever set the project holds, so these are
# computed when read, by the same engine (ml.engine.comparison over ml.engine.crowd's columns), and
# cached: an analysis' observations never change once it succeeded, except by finalizing it again.

COMPARISON_CACHE_S = 7 * 24 * 3600
_OBSERVATION_FIELDS = ("t", "track_id", "yaw", "pitch", *FaceObservation.PROB_FIELDS)


def moments_for(analysis: Analysis) -> QuerySet[Moment]:
    """The moments marked on an analysis, in time order."""
    return Moment.objects.filter(analysis=analysis).select_related("created_by").order_by("t_start", "t_end", "pk")


def _results_key(analysis: Analysis) -> list:
    """What an analysis' stored results depend on: the row (created_at tells a new database's reused
    ids apart) and its last finalize."""
    return [analysis.pk, analysis.created_at.timestamp() if analysis.created_at else None,
            analysis.finished_at.timestamp() if analysis.finished_at else None]


def _cache_key(kind: str, parts) -> str:
    return f"emo7ion:{kind}:v1:" + hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _observation_rows(analysis_id: int, where: Q | None = None):
    rows = FaceObservation.objects.filter(analysis_id=analysis_id)
    if where is not None:
        rows = rows.filter(where)
    return rows.values(*_OBSERVATION_FIELDS).iterator(chunk_size=5000)


def moment_comparison(analysis: Analysis, moments=None) -> dict:
    """Each moment's crowd statistics (`statistics`: each expression's and group's share, attention,
    derived valence and arousal, each with its 95% interval over face tracks) and, for every pair of
    moments, each number's difference (second - first), permutation-test p-value and flag (flagged only
    when the 95% intervals separate and the test rejects at 5%; ml.engine.comparison). Empty until the
    analysis succeeded."""
    moments = list(moments_for(analysis) if moments is None else moments)
    if analysis.status != Analysis.Status.SUCCEEDED or not moments:
        return {"names": compared_names(EMOTIONS), "moments": [], "differences": [], "method": None}
    ranges = [[m.t_start, m.t_end] for m in moments]
    key = _cache_key("moment-comparison", [_results_key(analysis), ranges])
    numbers = cache.get(key)
    if numbers is None:
        inside_any = reduce(or_, (Q(t__gte=start, t__lt=end) for start, end in ranges))
        numbers = compare_time_ranges(_observation_rows(analysis.pk, inside_any), ranges, EMOTIONS)
        cache.set(key, numbers, COMPARISON_CACHE_S)
    ids = [m.pk for m in moments]
    return {
        "names": numbers["names"],
        "moments": [{"id": m.pk, "analysis": analysis.pk, "name": m.name, "t_start": m.t_start, "t_end": m.t_end,
                     "created_at": m.created_at, "statistics": statistics}
                    for m, statistics in zip(moments, numbers["groups"])],
        "differences": [{**d, "first": ids[d["first"]], "second": ids[d["second"]]} for d in numbers["differences"]],
        "method": numbers["method"],
    }


def _analysis_track_totals(analysis: Analysis) -> TrackTotals:
    """Per-track totals of the crowd columns over the whole footage (cached: a few kB per hundred tracks)."""
    key = _cache_key("crowd-track-totals", _results_key(analysis))
    stored = cache.get(key)
    if stored is None:
        totals = crowd_values(_observation_rows(analysis.pk), EMOTIONS).totals()
        stored = {"sums": totals.sums, "counts": totals.counts}
        cache.set(key, stored, COMPARISON_CACHE_S)
    return TrackTotals(np.asarray(stored["sums"]), np.asarray(stored["counts"]))


def analyses_comparison(analyses: list[Analysis]) -> dict:
    """The project comparison's statistics: each analysis' crowd numbers over its whole footage, each
    with its 95% interval over face tracks (the same engine and seed as finalize's, so the same
    intervals), and each analysis against the one before it in the list (the project report lists
    footage in upload order): difference, permutation-test p-value and flag, as for moments. Tracks
    never span two footage, so the permutation test's groups are disjoint. Only succeeded analyses."""
    analyses = [a for a in analyses if a.status == Analysis.Status.SUCCEEDED]
    names = compared_names(EMOTIONS)
    if not analyses:
        return {"names": names, "analyses": [], "differences": [], "method": None}
    key = _cache_key("analyses-comparison", [_results_key(a) for a in analyses])
    numbers = cache.get(key)
    if numbers is None:
        numbers = compare_groups([_analysis_track_totals(a) for a in analyses], names,
                                 pairs=[(i - 1, i) for i in range(1, len(analyses))])
        cache.set(key, numbers, COMPARISON_CACHE_S)
    ids = [a.pk for a in analyses]
    return {
        "names": numbers["names"],
        "analyses": [{"id": a.pk, "statistics": statistics} for a, statistics in zip(analyses, numbers["groups"])],
        "differences": [{**d, "first": ids[d["first"]], "second": ids[d["second"]]} for d in numbers["differences"]],
        "method": numbers["method"],
    }
