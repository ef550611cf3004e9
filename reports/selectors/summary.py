"""Key figures of one analysis: duration, frames, faces, tracks, shares and the dominant expression.

Finalize's summary is the source of truth once written. An analysis without it (a row finalized
before the summary held every figure, or a synthetic one) is counted in one aggregate query: a
single scan gives every count at once, and nothing iterates over observations in Python.
"""
from __future__ import annotations

from django.db.models import Count, Max, Q, QuerySet, Sum

from analysis.models import Analysis, AnalysisSegment, FaceObservation
from analysis.selectors import analysis_duration
from ml.engine.labels import EMOTIONS

from ..formatting import (colour_of, dominant_of, emotion_rows, format_timestamp, group_rows, group_shares,
                          interval_view, shares_from_counts)

SUMMARY_KEYS = ("faces_detected", "unique_faces", "emotion_shares")


def observations_of(analysis: Analysis) -> QuerySet[FaceObservation]:
    return FaceObservation.objects.filter(analysis_id=analysis.pk)


def emotion_count_aggregates(prefix: str = "n_") -> dict:
    """COUNT(*) FILTER (top_emotion = e) per emotion, for .aggregate() or .annotate()."""
    return {f"{prefix}{e}": Count("id", filter=Q(top_emotion=e)) for e in EMOTIONS}


def has_full_summary(analysis: Analysis) -> bool:
    summary = analysis.summary or {}
    return all(k in summary for k in SUMMARY_KEYS) and bool(summary.get("emotion_shares"))


def duration_of(analysis: Analysis) -> float:
    """analysis.selectors' duration; for footage whose length nobody recorded, up to its last observation."""
    known = analysis_duration(analysis)
    if known is not None:
        return known
    last = observations_of(analysis).aggregate(last=Max("t"))["last"]
    return float(last or 0.0) + 1.0 / max(analysis.sample_fps or 1.0, 1e-6)


def analysis_key_figures(*, analysis: Analysis) -> dict:
    """Duration, frames analysed, faces seen, unique faces, shares and the dominant emotion."""
    summary = analysis.summary or {}
    if has_full_summary(analysis):
        faces = int(summary["faces_detected"])
        unique = int(summary["unique_faces"])
        shares = {e: float(summary["emotion_shares"].get(e, 0.0)) for e in EMOTIONS}
    else:
        agg = observations_of(analysis).aggregate(
            faces=Count("id"), unique=Count("track_id", distinct=True), **emotion_count_aggregates())
        faces, unique = agg["faces"], agg["unique"]
        shares = shares_from_counts({e: agg[f"n_{e}"] for e in EMOTIONS})
    frames = summary.get("frames_analysed")
    if frames is None:
        frames = AnalysisSegment.objects.filter(analysis_id=analysis.pk).aggregate(
            n=Sum("frames_analysed"))["n"]
    frames = int(frames or 0)
    duration = duration_of(analysis)
    groups = group_shares(shares)
    dominant = dominant_of(shares) if faces else None
    statistics = summary.get("statistics") or {}
    intervals = statistics.get("intervals") or {}
    return {
        "duration_s": duration,
        "duration": format_timestamp(duration),
        "frames_analysed": frames,
        "faces_seen": faces,
        "unique_faces": unique,
        "mean_faces_per_frame": faces / frames if frames else 0.0,
        "emotion_shares": shares,
        "share_rows": emotion_rows(shares),
        "dominant_emotion": dominant,
        "dominant_colour": colour_of(dominant),
        "dominant_share": shares.get(dominant, 0.0) if dominant else 0.0,
        "group_rows": group_rows(groups, intervals),
        # 95% intervals over face tracks, stored by finalize; {} with too few tracks or none stored.
        "share_intervals": intervals,
        "dominant_interval": interval_view(intervals.get(dominant), shares.get(dominant)) if dominant else None,
        "tracks_too_few": bool(statistics.get("too_few_tracks")),
        "positive_share": groups["positive"],
        "negative_share": groups["negative"],
        "neutral_share": groups["neutral"],
    }
