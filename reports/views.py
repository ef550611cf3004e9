"""The analysis page, the analysis and project reports, their partials, exports and key-moment
thumbnails. Thin: fetch the object through `analysis.selectors` (another organisation's analysis is
a 404), call report selectors, render. Nothing here decodes video or runs a model: thumbnails were
rendered by the worker at finalize and are only read back."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import ANALYSE, role_allows
from accounts.tenancy import role_in
from analysis import selectors as analysis_selectors
from analysis import services as analysis_services
from analysis.forms import MomentForm
from analysis.models import Analysis, Footage
from emo7ion_site.plotting import figure_json

from . import exports
from .figures import analysis_figures, project_shares_figure, project_timeline_figure, statistics_figures
from .formatting import DEFINITIONS, format_span
from .selectors import (analysis_marked_moments, analysis_report, analysis_tracks_page, frame_has_faces,
                        project_comparison, project_timeline, track_columns)
from .thumbnails import footage_unavailable_reason, placeholder_svg, stored_thumbnail

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
# The crowd-statistics charts (reports/_statistics.html), each drawn only when finalize stored its numbers.
STATISTICS_CHARTS = (
    ("fig-intervals", "Shares with their uncertainty",
     "Positive, negative and neutral share of the faces in each time window. The shaded band around each line is "
     "its 95% interval over face tracks (people, not frames). Grey crosses mark windows with too few face tracks "
     "to draw an interval.", "wide"),
    ("fig-attention", "Attention: faces turned to the camera",
     "Share of the faces in each window whose head points at the camera (within 30°), with its 95% band. "
     "Estimated from the detector's five face landmarks and a generic 3-D face.", "wide"),
    ("fig-affect", "Valence and arousal (derived, not measured)",
     "Derived from the seven expression probabilities, not measured: each expression has a place on Russell's "
     "circumplex (1980), and each face counts with the probability the model gave it. Valence runs from "
     "unpleasant (-1) to pleasant (+1), arousal from calm (-1) to activated (+1); bands are 95% intervals.", "wide"),
)
NO_THUMBNAIL = "No thumbnail was stored for this frame"


def _finished_analysis_for(user, pk) -> Analysis:
    analysis = analysis_selectors.analysis_get(user, pk)
    if analysis.status != Analysis.Status.SUCCEEDED:
        # Partial results are never offered as if they were complete.
        raise Http404("This analysis has not succeeded, so there is nothing to export yet.")
    return analysis


def _charts(analysis: Analysis, report: dict) -> list[dict]:
    figures = analysis_figures(timeline_buckets=report["timeline"].buckets,
                               shares=report["figures"]["emotion_shares"])
    # A still image has one moment: only the distribution says anything; time charts would be one bar.
    still = analysis.footage.kind == Footage.Kind.IMAGE
    return [{"id": fid, "title": title, "caption": caption, "size": "wide" if still else size,
             "json": figure_json(figures[fid])} for fid, title, caption, size in CHARTS
            if not still or fid == "fig-distribution"]


def _statistics_charts(analysis: Analysis, report: dict) -> list[dict]:
    timeline = report["timeline"]
    if (analysis.footage.kind == Footage.Kind.IMAGE or not report["statistics"]["available"]
            or timeline.is_empty or not timeline.has_statistics):
        return []
    figures = statistics_figures(timeline_buckets=timeline.buckets,
                                 attention_available=report["statistics"]["attention"]["available"])
    return [{"id": fid, "title": title, "caption": caption, "size": size, "json": figure_json(figures[fid])}
            for fid, title, caption, size in STATISTICS_CHARTS if fid in figures]


def analysis_report_context(request, analysis: Analysis, *, page: str = "report",
                            moment_form: MomentForm | None = None) -> dict:
    """Everything the report partials need; `report` only once the analysis has succeeded. Reads the
    database only: no storage call, no detector (the thumbnails' <img> fetch what finalize stored).
    `page` names the page that shows the report (the moment form returns to it); `moment_form` is a
    refused form to show again with its errors."""
    context = {"analysis": analysis, "project": analysis.footage.project,
               "progress": analysis_selectors.analysis_status(analysis), "definitions": DEFINITIONS}
    if analysis.status != Analysis.Status.SUCCEEDED:
        return context
    report = analysis_report(analysis=analysis, track_sort=request.GET.get("tracks_sort"),
                             track_page=request.GET.get("tracks_page") or 1)
    report["charts"] = _charts(analysis, report)
    report["statistics_charts"] = _statistics_charts(analysis, report)
    report["is_still"] = analysis.footage.kind == Footage.Kind.IMAGE
    report["footage_unavailable"] = footage_unavailable_reason(analysis.footage)
    report["blur_faces"] = analysis.footage.project.organisation.blur_faces
    report["bucket_label"] = format_span(report["timeline"].bucket_s) if report["timeline"].buckets else ""
    report["marked"] = analysis_marked_moments(analysis=analysis)
    context["report"] = report
    context["can_mark_moments"] = (not report["is_still"] and role_allows(
        role_in(request.user, analysis.footage.project.organisation_id), ANALYSE))
    context["moment_form"] = moment_form or MomentForm(initial={"page": page})
    context["max_moments"] = analysis_services.MAX_MOMENTS_PER_ANALYSIS
    return context


def _analysis_page(request, analysis: Analysis, *, moment_form: MomentForm | None = None, status: int = 200):
    role = role_in(request.user, analysis.footage.project.organisation_id)
    return render(request, "reports/analysis_detail.html", {
        "footage": analysis.footage,
        "summary": analysis.summary or {},
        "can_cancel": role_allows(role, ANALYSE) and not analysis.is_finished,
        **analysis_report_context(request, analysis, page="analysis", moment_form=moment_form),
    }, status=status)


def _report_page(request, analysis: Analysis, *, moment_form: MomentForm | None = None, status: int = 200):
    return render(request, "reports/report.html",
                  analysis_report_context(request, analysis, page="report", moment_form=moment_form), status=status)


@login_required
@require_GET
def analysis_detail(request, pk):
    """The analysis page: its status and progress, and its report once it has succeeded."""
    return _analysis_page(request, analysis_selectors.analysis_get(request.user, pk))


@login_required
@require_GET
def analysis_report_view(request, pk: int):
    return _report_page(request, analysis_selectors.analysis_get(request.user, pk))


def _moment_page_url(analysis: Analysis, page: str | None) -> str:
    name = "analysis-detail" if page == "analysis" else "analysis-report"
    return reverse(name, args=[analysis.pk]) + "#marked-moments"


@login_required
@require_POST
def moment_create_view(request, pk: int):
    """Mark a moment from the report (analysts and up); a refusal shows the page again with its reasons."""
    analysis = analysis_selectors.analysis_get(request.user, pk, action=ANALYSE)
    form = MomentForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            moment = analysis_services.moment_create(analysis=analysis, name=data["name"], t_start=data["t_start"],
                                                     t_end=data["t_end"], created_by=request.user)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Moment “{moment.name}” marked.")
            return redirect(_moment_page_url(analysis, data.get("page")))
    show = _analysis_page if form.data.get("page") == "analysis" else _report_page
    return show(request, analysis, moment_form=form, status=400)


@login_required
@require_POST
def moment_delete_view(request, pk: int, moment_id: int):
    analysis = analysis_selectors.analysis_get(request.user, pk, action=ANALYSE)
    moment = get_object_or_404(analysis_selectors.moments_for(analysis), pk=moment_id)
    analysis_services.moment_delete(moment=moment)
    messages.success(request, f"Moment “{moment.name}” deleted.")
    return redirect(_moment_page_url(analysis, request.POST.get("page")))


@login_required
@require_GET
def analysis_tracks_view(request, pk: int):
    """The per-track table alone, for sorting and paging without redrawing the charts."""
    analysis = _finished_analysis_for(request.user, pk)
    tracks, sort = analysis_tracks_page(analysis=analysis, sort=request.GET.get("tracks_sort"),
                                        page=request.GET.get("tracks_page") or 1)
    return render(request, "reports/_tracks.html",
                  {"analysis": analysis,
                   "report": {"tracks": tracks, "track_sort": sort, "track_columns": track_columns(sort)}})


@login_required
@require_GET
def moment_thumbnail_view(request, pk: int, frame_index: int):
    """The stored thumbnail of a key moment, or a placeholder image when none was stored."""
    analysis = _finished_analysis_for(request.user, pk)
    # Only frames the analysis looked at and found faces in: not a general frame grabber.
    if not frame_has_faces(analysis=analysis, frame_index=frame_index):
        raise Http404("No faces were observed in that frame.")
    reason = footage_unavailable_reason(analysis.footage)
    if reason:
        raise Http404(reason)
    data = stored_thumbnail(analysis=analysis, frame_index=frame_index)
    if data is None:
        response = HttpResponse(placeholder_svg(NO_THUMBNAIL), content_type="image/svg+xml")
        response["Cache-Control"] = "private, no-cache"
        return response
    response = HttpResponse(data, content_type="image/jpeg")
    response["Cache-Control"] = "private, max-age=3600"
    return response


@login_required
@require_GET
def export_observations_csv(request, pk: int):
    return exports.analysis_observations_csv_response(_finished_analysis_for(request.user, pk))


@login_required
@require_GET
def export_timeline_csv(request, pk: int):
    return exports.timeline_csv_response(_finished_analysis_for(request.user, pk))


@login_required
@require_GET
def export_moments_csv(request, pk: int):
    return exports.moments_csv_response(_finished_analysis_for(request.user, pk))


@login_required
@require_GET
def export_report_json(request, pk: int):
    return exports.report_json_response(_finished_analysis_for(request.user, pk))


def _project_charts(rows: list[dict], analyses: list[Analysis]) -> list[dict]:
    if not rows:
        return []
    timeline = project_timeline(analyses=analyses)
    return [
        {"id": "fig-project-shares", "title": "Emotion shares by footage",
         "caption": "Each group of bars is one footage's latest analysis; one colour per expression.",
         "size": "wide", "json": figure_json(project_shares_figure(rows))},
        {"id": "fig-project-timeline", "title": "Aggregated timeline across the footage",
         "caption": "All footage on one clock, measured from the start of each clip: the share of each "
                    "expression among every face seen in that window (bars) and the mean faces per sampled "
                    "frame (dotted line).", "size": "wide",
         "json": figure_json(project_timeline_figure(timeline.buckets))},
    ]


@login_required
@require_GET
def project_report_view(request, pk: int):
    project = analysis_selectors.project_get(request.user, pk)
    analyses = analysis_selectors.project_latest_analyses(project)
    rows = project_comparison(analyses=analyses)
    return render(request, "reports/project_report.html", {
        "project": project, "rows": rows, "charts": _project_charts(rows, analyses), "definitions": DEFINITIONS,
        "pending": [(a, analysis_selectors.analysis_status(a))
                    for a in analysis_selectors.active_analyses_of(project)],
    })
