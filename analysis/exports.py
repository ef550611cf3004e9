"""Report exports: observations and timeline as CSV, the report's aggregates as JSON.

The observations CSV of a one-hour crowd analysis has ~720,000 rows, so it is streamed: rows are
read from the database in chunks (`iterator`) and written as they are read, never held in memory.
"""
from __future__ import annotations

import csv

from django.http import JsonResponse, StreamingHttpResponse
from django.utils.text import slugify

from ml.engine.labels import EMOTIONS

from .models import Analysis
from .reports import (DEFINITIONS, analysis_key_figures, analysis_key_moments, analysis_model_info,
                      analysis_timeline, observations_of)

OBSERVATION_COLUMNS = ("t", "frame_index", "track_id", "x", "y", "w", "h", "detector_score", "top_emotion",
                       *(f"p_{e}" for e in EMOTIONS))
TIMELINE_COLUMNS = ("t_start", "t_end", "frames", "faces", "mean_faces_per_frame", "unique_tracks",
                    *(f"share_{e}" for e in EMOTIONS), *(f"count_{e}" for e in EMOTIONS),
                    *(f"mean_p_{e}" for e in EMOTIONS))
CHUNK_ROWS = 2000


class _Echo:
    """csv.writer writes into this and gets the line back, so each row can be yielded as it is made."""

    def write(self, value: str) -> str:
        return value


def _round(value, digits: int = 4):
    return round(value, digits) if isinstance(value, float) else value


def export_filename(analysis: Analysis, what: str, ext: str) -> str:
    stem = slugify(analysis.footage.original_name.rsplit(".", 1)[0])[:60] or "footage"
    return f"emo7ion-analysis-{analysis.pk}-{stem}-{what}.{ext}"


def iter_observation_rows(analysis: Analysis):
    """Header, then one list per observation in time order (t, then track)."""
    yield list(OBSERVATION_COLUMNS)
    rows = observations_of(analysis).order_by("t", "track_id", "pk").values_list(*OBSERVATION_COLUMNS)
    for row in rows.iterator(chunk_size=CHUNK_ROWS):
        yield [_round(v) for v in row]


def iter_timeline_rows(analysis: Analysis):
    yield list(TIMELINE_COLUMNS)
    for b in analysis_timeline(analysis=analysis).buckets:
        yield [_round(b["t_start"], 3), _round(b["t_end"], 3), b["frames"], b["faces"],
               _round(b["mean_faces_per_frame"]), b["unique_tracks"],
               *(_round(b["emotion_shares"][e]) for e in EMOTIONS),
               *(b["emotion_counts"][e] for e in EMOTIONS),
               *(_round(b["mean_probabilities"][e]) for e in EMOTIONS)]


def csv_response(rows, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse((writer.writerow(r) for r in rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


def observations_csv_response(analysis: Analysis) -> StreamingHttpResponse:
    return csv_response(iter_observation_rows(analysis), export_filename(analysis, "observations", "csv"))


def timeline_csv_response(analysis: Analysis) -> StreamingHttpResponse:
    return csv_response(iter_timeline_rows(analysis), export_filename(analysis, "timeline", "csv"))


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
        "note": "An expression is not a person's inner state. Face tracks never identify anyone.",
    }


def report_json_response(analysis: Analysis) -> JsonResponse:
    response = JsonResponse(report_document(analysis), json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{export_filename(analysis, "report", "json")}"'
    return response

