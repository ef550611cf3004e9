"""Exports: observations, timeline and marked moments as CSV, the report's numbers as JSON.

One CSV writer serves the report pages and the API (`analysis.api`'s `?format=csv`). It streams:
the observations of a one-hour crowd analysis are ~720,000 rows, read from the database in chunks
(`iterator`) and written as they are read, never held in memory.

Rounding (the same in every CSV this site writes): floats to CSV_DECIMALS (4) decimal places, i.e.
times to 0.1 ms and probabilities, shares and scores to 1e-4 (the seven probabilities of a row still
sum to 1 within 4e-4); integers and labels as stored. An empty cell is "not available": no head pose
(yaw, pitch) for a face the detector gave no landmarks (Haar), no interval for a window with too few
face tracks.
"""
from __future__ import annotations

import csv
from collections.abc import Iterable

from django.db.models import QuerySet
from django.http import JsonResponse, StreamingHttpResponse
from django.utils.text import slugify

from analysis import selectors as analysis_selectors
from analysis.models import Analysis
from ml.engine.comparison import OTHER_COLUMNS, compared_names, estimate_of
from ml.engine.labels import EMOTIONS

from .formatting import DEFINITIONS
from .selectors import (analysis_key_figures, analysis_key_moments, analysis_model_info, analysis_timeline,
                        observations_of)

CSV_DECIMALS = 4
OBSERVATION_COLUMNS = ("t", "frame_index", "track_id", "x", "y", "w", "h", "detector_score", "top_emotion",
                       *(f"p_{e}" for e in EMOTIONS), "yaw", "pitch")
# Shares whose 95% intervals (over face tracks) the timeline CSV carries: each expression and group.
INTERVAL_NAMES = (*EMOTIONS, "positive", "negative")
TIMELINE_COLUMNS = ("t_start", "t_end", "frames", "faces", "mean_faces_per_frame", "unique_tracks",
                    *(f"share_{e}" for e in EMOTIONS), *(f"count_{e}" for e in EMOTIONS),
                    *(f"mean_p_{e}" for e in EMOTIONS), "too_few_tracks",
                    *(f"{name}_{side}" for name in INTERVAL_NAMES for side in ("low", "high")),
                    "attention", "attention_low", "attention_high", "pose_observations",
                    "valence", "valence_low", "valence_high", "arousal", "arousal_low", "arousal_high")
# One row per moment a user marked: its range, then each number with its 95% interval over face tracks.
MOMENT_NUMBERS = tuple(compared_names(EMOTIONS))


def _number_columns(name: str) -> tuple[str, str, str]:
    stem = name if name in OTHER_COLUMNS else f"share_{name}"
    return stem, f"{stem}_low", f"{stem}_high"


MOMENT_COLUMNS = ("name", "t_start", "t_end", "tracks", "observations", "too_few_tracks",
                  *(column for name in MOMENT_NUMBERS for column in _number_columns(name)), "pose_observations")
CHUNK_ROWS = 5000


class _Echo:
    """csv.writer writes into this and gets the line back, so each row can be yielded as it is made."""

    def write(self, value: str) -> str:
        return value


def csv_value(value):
    return round(value, CSV_DECIMALS) if isinstance(value, float) else value


def export_filename(analysis: Analysis, what: str, ext: str) -> str:
    stem = slugify(analysis.footage.original_name.rsplit(".", 1)[0])[:60] or "footage"
    return f"emo7ion-analysis-{analysis.pk}-{stem}-{what}.{ext}"


def csv_response(rows: Iterable[Iterable], filename: str) -> StreamingHttpResponse:
    """Stream rows (the header first) as a CSV download, every float rounded the one documented way."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow([csv_value(v) for v in r]) for r in rows),
                                     content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def iter_observation_rows(observations: QuerySet):
    """Header, then one row per observation in the queryset's own order (callers filter and order)."""
    yield OBSERVATION_COLUMNS
    yield from observations.values_list(*OBSERVATION_COLUMNS).iterator(chunk_size=CHUNK_ROWS)


def observations_csv_response(observations: QuerySet, filename: str) -> StreamingHttpResponse:
    """The observations CSV: the report's export (every row) and the API's `?format=csv` (its filters)."""
    return csv_response(iter_observation_rows(observations), filename)


def analysis_observations_csv_response(analysis: Analysis) -> StreamingHttpResponse:
    observations = observations_of(analysis).order_by("t", "track_id", "pk")
    return observations_csv_response(observations, export_filename(analysis, "observations", "csv"))


def _bounds(interval) -> tuple:
    return (interval[0], interval[1]) if interval else (None, None)


def iter_timeline_rows(analysis: Analysis):
    yield TIMELINE_COLUMNS
    for b in analysis_timeline(analysis=analysis).buckets:
        intervals = b.get("intervals") or {}
        yield [b["t_start"], b["t_end"], b["frames"], b["faces"], b["mean_faces_per_frame"], b["unique_tracks"],
               *(b["emotion_shares"][e] for e in EMOTIONS), *(b["emotion_counts"][e] for e in EMOTIONS),
               *(b["mean_probabilities"][e] for e in EMOTIONS),
               "" if b.get("too_few_tracks") is None else int(b["too_few_tracks"]),
               *(v for name in INTERVAL_NAMES for v in _bounds(intervals.get(name))),
               b.get("attention"), *_bounds(b.get("attention_interval")), b.get("pose_observations", 0),
               b.get("valence"), *_bounds(b.get("valence_interval")),
               b.get("arousal"), *_bounds(b.get("arousal_interval"))]


def timeline_csv_response(analysis: Analysis) -> StreamingHttpResponse:
    return csv_response(iter_timeline_rows(analysis), export_filename(analysis, "timeline", "csv"))


def iter_moment_rows(analysis: Analysis):
    yield MOMENT_COLUMNS
    for m in analysis_selectors.moment_comparison(analysis)["moments"]:
        stats = m["statistics"]
        numbers = []
        for name in MOMENT_NUMBERS:
            estimate = estimate_of(stats, name)
            numbers += [estimate["value"], *_bounds(estimate["interval"])]
        yield [m["name"], m["t_start"], m["t_end"], stats["tracks"], stats["observations"], int(stats["too_few_tracks"]),
               *numbers, stats["attention"]["observations_with_pose"]]


def moments_csv_response(analysis: Analysis) -> StreamingHttpResponse:
    return csv_response(iter_moment_rows(analysis), export_filename(analysis, "moments", "csv"))


def report_document(analysis: Analysis) -> dict:
    """The report's numbers as one JSON-ready document (observations are in the CSV export)."""
    figures = analysis_key_figures(analysis=analysis)
    timeline = analysis_timeline(analysis=analysis)
    model = analysis_model_info(analysis=analysis)
    mv = model["model_version"]
    footage = analysis.footage
    return {
        "analysis": {
            "id": analysis.pk, "status": analysis.status, "detector": analysis.detector,
            "sample_fps": analysis.sample_fps,
            "started_at": analysis.started_at.isoformat() if analysis.started_at else None,
            "finished_at": analysis.finished_at.isoformat() if analysis.finished_at else None,
        },
        "footage": {"id": footage.pk, "name": footage.original_name, "kind": footage.kind,
                    "duration_s": footage.duration_s, "fps": footage.fps, "width": footage.width,
                    "height": footage.height, "sha256": footage.sha256 or None},
        "model_version": {"id": mv.pk, "name": mv.name, "sha256": mv.sha256, "accuracy": model["accuracy"],
                          "balanced_accuracy": model["balanced_accuracy"], "accuracy_source": model["source"]},
        "summary": {k: v for k, v in figures.items() if k != "duration"},
        "definitions": DEFINITIONS,
        "timeline": {"bucket_s": timeline.bucket_s, "buckets": [
            {k: v for k, v in b.items() if k != "index"} for b in timeline.buckets]},
        "key_moments": [{k: m[k] for k in ("kind", "t", "frame_index", "faces", "hits", "bucket_share")}
                        for m in analysis_key_moments(analysis=analysis, timeline=timeline)],
        # Intervals over face tracks, attention, derived valence/arousal and the engagement summary, as
        # finalize stored them (null for an analysis finalized before they existed).
        "statistics": (analysis.summary or {}).get("statistics"),
        # Moments a user marked, each with its statistics, and every pair's differences (flagged only when
        # the 95% intervals separate and the permutation test over tracks rejects at 5%).
        "marked_moments": {k: v for k, v in analysis_selectors.moment_comparison(analysis).items() if k != "names"},
        "note": "An expression is not a person's inner state. Face tracks never identify anyone. Valence and "
                "arousal are derived from the seven expression probabilities, not measured.",
    }


def report_json_response(analysis: Analysis) -> JsonResponse:
    response = JsonResponse(report_document(analysis), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{export_filename(analysis, "report", "json")}"'
    return response
