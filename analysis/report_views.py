"""Report pages, their partials, exports and key-moment thumbnails. Thin: resolve the object through
`accounts.tenancy` (another organisation's analysis is a 404), call a selector, render."""
from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from accounts.tenancy import get_for_user
from emo7ion_site.plotting import figure_json

from . import exports
from .models import Analysis, FaceObservation, Footage, Project
from .report_figures import analysis_figures, project_shares_figure, project_timeline_figure
from .reports import (DEFINITIONS, analysis_report, analysis_tracks_page, format_span, project_analyses,
                      project_comparison, project_timeline, track_columns)
from .thumbnails import FootageUnavailable, footage_unavailable_reason, moment_thumbnail

ANALYSIS_ORG = "footage__project__organisation"

CHARTS = (
    ("fig-timeline", "Emotion timeline",
     "Share of each expression among the faces in each time window (bars, left axis) and the mean number of "
     "faces per sampled frame (dotted line, right axis).", "wide"),
    ("fig-crowd", "Crowd size over time",
     "Mean faces per sampled frame, and how many distinct face tracks appeared in each window.", ""),
    ("fig-distribution", "Overall distribution",
     "Share of all face observations by their most likely expression.", ""),
    ("fig-heatmap", "Emotion × time",
     "Each cell is the share of one expression in one time window; darker means more.", "wide"),
)


def _analysis_for(user, pk) -> Analysis:
    return get_for_user(Analysis.objects.select_related("footage__project__organisation", "model_version"),
                        user, org_path=ANALYSIS_ORG, pk=pk)


def _finished_analysis_for(user, pk) -> Analysis:
    analysis = _analysis_for(user, pk)
    if analysis.status != Analysis.Status.SUCCEEDED:
        # Partial results are never offered as if they were complete.
        raise Http404("This analysis has not succeeded, so there is nothing to export yet.")
    return analysis


def progress_state(analysis: Analysis) -> dict:
    return {
        "id": analysis.pk, "status": analysis.status, "status_label": analysis.get_status_display(),
        "progress": round(float(analysis.progress or 0.0), 4), "segments_done": analysis.segments_done,
        "segment_count": analysis.segment_count, "error": analysis.error,
        "finished": analysis.is_finished,
        "report_url": reverse("analysis-report", args=[analysis.pk]),
    }


def analysis_report_context(request, analysis: Analysis) -> dict:
    """Everything the report partials need. The basic analysis page can render
    `analysis/report/_body.html` with this context once its analysis has succeeded."""
    context = {"analysis": analysis, "project": analysis.footage.project, "progress": progress_state(analysis),
               "definitions": DEFINITIONS}
    if analysis.status != Analysis.Status.SUCCEEDED:
        return context
    report = analysis_report(analysis=analysis, track_sort=request.GET.get("tracks_sort"),
                             track_page=request.GET.get("tracks_page") or 1)
    figures = analysis_figures(timeline_buckets=report["timeline"].buckets,
                               shares=report["figures"]["emotion_shares"])
    # A still image has one moment: only the distribution says anything; time charts would be one bar.
    still = analysis.footage.kind == Footage.Kind.IMAGE
    report["charts"] = [{"id": fid, "title": title, "caption": caption, "size": "wide" if still else size,
                         "json": figure_json(figures[fid])} for fid, title, caption, size in CHARTS
                        if not still or fid == "fig-distribution"]
    report["is_still"] = still
    report["footage_unavailable"] = footage_unavailable_reason(analysis.footage)
    report["blur_faces"] = analysis.footage.project.organisation.blur_faces
    report["bucket_label"] = format_span(report["timeline"].bucket_s)
    context["report"] = report
    return context


@login_required
@require_GET
def analysis_report_view(request, pk: int):
    analysis = _analysis_for(request.user, pk)
    return render(request, "analysis/report/report.html", analysis_report_context(request, analysis))


@login_required
@require_GET
def analysis_tracks_view(request, pk: int):
    """The per-track table alone, for sorting and paging without redrawing the charts."""
    analysis = _finished_analysis_for(request.user, pk)
    tracks, sort = analysis_tracks_page(analysis=analysis, sort=request.GET.get("tracks_sort"),
                                        page=request.GET.get("tracks_page") or 1)
    return render(request, "analysis/report/_tracks.html",
                  {"analysis": analysis,
                   "report": {"tracks": tracks, "track_sort": sort, "track_columns": track_columns(sort)}})


@login_required
@require_GET
def analysis_progress_view(request, pk: int):
    return JsonResponse(progress_state(_analysis_for(request.user, pk)))


@login_required
@require_GET
def moment_thumbnail_view(request, pk: int, frame_index: int):
    analysis = _finished_analysis_for(request.user, pk)
    # Only frames the analysis looked at and found faces in: not a general frame grabber.
    if not FaceObservation.objects.filter(analysis_id=analysis.pk, frame_index=frame_index).exists():
        raise Http404("No faces were observed in that frame.")
    try:
        data = moment_thumbnail(analysis=analysis, frame_index=frame_index)
    except FootageUnavailable as exc:
        raise Http404(str(exc))
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def export_observations_csv(request, pk: int):
    return exports.observations_csv_response(_finished_analysis_for(request.user, pk))


@login_required
@require_GET
def export_timeline_csv(request, pk: int):
    return exports.timeline_csv_response(_finished_analysis_for(request.user, pk))


@login_required
@require_GET
def export_report_json(request, pk: int):
    return exports.report_json_response(_finished_analysis_for(request.user, pk))


@login_required
@require_GET
def project_report_view(request, pk: int):
    project = get_for_user(Project.objects.select_related("organisation"), request.user,
                           org_path="organisation", pk=pk)
    analyses = project_analyses(project=project)
    rows = project_comparison(analyses=analyses)
    charts = []
    if rows:
        timeline = project_timeline(analyses=analyses)
        charts = [
            {"id": "fig-project-shares", "title": "Emotion shares by footage",
             "caption": "Each group of bars is one footage's latest analysis; one colour per expression.",
             "size": "wide", "json": figure_json(project_shares_figure(rows))},
            {"id": "fig-project-timeline", "title": "Aggregated timeline across the footage",
             "caption": "All footage on one clock, measured from the start of each clip: the share of each "
                        "expression among every face seen in that window (bars) and the mean faces per sampled "
                        "frame (dotted line).", "size": "wide", "json": figure_json(project_timeline_figure(
                             timeline.buckets))},
        ]
    pending = (Analysis.objects.filter(footage__project_id=project.pk)
               .exclude(status__in=Analysis.FINISHED).select_related("footage").order_by("-created_at"))
    return render(request, "analysis/report/project_report.html", {
        "project": project, "rows": rows, "charts": charts, "definitions": DEFINITIONS,
        "pending": [(a, progress_state(a)) for a in pending],
    })
