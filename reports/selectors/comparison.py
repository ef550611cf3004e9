"""The project report: the latest finished analysis of each footage, side by side, and all of them
on one relative clock (time since each clip started), both read from what finalize stored; and the
crowd statistics of each (95% intervals over face tracks) with the differences from the footage
before it, from `analysis.selectors.analyses_comparison` (the engine that compares marked moments)."""
from __future__ import annotations

from django.db.models import Count

from analysis import selectors as analysis_selectors
from analysis.models import Analysis, FaceObservation, TimelineBucket
from ml.engine.comparison import estimate_of
from ml.engine.labels import EMOTIONS

from ..formatting import (dominant_of, emotion_rows, format_timestamp, group_shares, shares_from_counts,
                          statistic_cell)
from .marked_moments import flagged_differences
from .summary import emotion_count_aggregates, has_full_summary
from .timeline import Timeline, bucket_dict, timeline_of


def _counted_without_summary(analyses: list[Analysis]) -> dict[int, dict]:
    """Counts of the analyses that have no full summary, in one GROUP BY over all of them."""
    counted: dict[int, dict] = {a.pk: {} for a in analyses if not has_full_summary(a)}
    if counted:
        for r in (FaceObservation.objects.filter(analysis_id__in=list(counted)).order_by().values("analysis_id")
                  .annotate(faces=Count("id"), unique=Count("track_id", distinct=True),
                            **emotion_count_aggregates())):
            counted[r["analysis_id"]] = r
    return counted


# The crowd numbers the project table shows per analysis, each with its interval.
PROJECT_STATISTICS = ("positive", "negative", "neutral", "attention", "valence")


def _statistics_cells(statistics: dict) -> dict:
    pose = statistics["attention"]["observations_with_pose"]
    return {metric: statistic_cell(metric, estimate_of(statistics, metric), pose_observations=pose)
            for metric in PROJECT_STATISTICS}


def project_comparison(*, analyses: list[Analysis]) -> list[dict]:
    """One row per analysis: its key figures; `statistics` (positive, negative, neutral, attention,
    valence as cells with their 95% intervals over face tracks), `tracks`, and `differences`: the numbers
    flagged against the row before it (intervals separate and the permutation test over tracks rejects
    at 5%)."""
    counted = _counted_without_summary(analyses)
    crowd = analysis_selectors.analyses_comparison(analyses)
    statistics = {row["id"]: row["statistics"] for row in crowd["analyses"]}
    names = {a.pk: a.footage.original_name for a in analyses}
    differences: dict[int, list[dict]] = {}
    for pair in crowd["differences"]:
        differences[pair["second"]] = flagged_differences(
            pair, (names[pair["first"]], statistics[pair["first"]]), (names[pair["second"]], statistics[pair["second"]]))
    rows = []
    for a in analyses:
        s = a.summary or {}
        if a.pk in counted:
            r = counted[a.pk]
            faces, unique = int(r.get("faces", 0)), int(r.get("unique", 0))
            shares = shares_from_counts({e: r.get(f"n_{e}", 0) for e in EMOTIONS})
        else:
            faces, unique = int(s["faces_detected"]), int(s.get("unique_faces", 0))
            shares = {e: float(s["emotion_shares"].get(e, 0.0)) for e in EMOTIONS}
        duration = a.footage.duration_s or s.get("duration_s") or 0.0
        frames = int(s.get("frames_analysed") or 0)
        rows.append({
            "analysis": a, "label": a.footage.original_name, "duration_s": duration,
            "duration": format_timestamp(duration), "frames_analysed": frames, "faces_seen": faces,
            "unique_faces": unique, "mean_faces_per_frame": faces / frames if frames else None,
            "emotion_shares": shares, "share_rows": emotion_rows(shares),
            "dominant_emotion": dominant_of(shares) if faces else None,
            **{f"{k}_share": v for k, v in group_shares(shares).items()},
            "tracks": statistics[a.pk]["tracks"] if a.pk in statistics else None,
            "too_few_tracks": statistics[a.pk]["too_few_tracks"] if a.pk in statistics else None,
            "statistics": _statistics_cells(statistics[a.pk]) if a.pk in statistics else None,
            "differences": differences.get(a.pk, []),
        })
    return rows


def _empty_cell(index: int, width: float) -> dict:
    return {"index": index, "t_start": index * width, "t_end": (index + 1) * width, "frames": 0, "faces": 0,
            "unique_tracks": 0, "emotion_counts": dict.fromkeys(EMOTIONS, 0),
            "probability_sums": dict.fromkeys(EMOTIONS, 0.0)}


def _finished_cell(cell: dict, end: float) -> dict:
    faces, frames, sums = cell["faces"], cell["frames"], cell.pop("probability_sums")
    cell["t_end"] = min(cell["t_end"], end)
    cell["mean_faces_per_frame"] = faces / frames if frames else 0.0
    cell["emotion_shares"] = shares_from_counts(cell["emotion_counts"])
    cell["mean_probabilities"] = {e: (sums[e] / faces if faces else 0.0) for e in EMOTIONS}
    return cell


def project_timeline(*, analyses: list[Analysis]) -> Timeline:
    """Every clip's stored windows summed on one clock. The common window is the widest stored one
    (what the engine's bucket rule gives the longest clip when every analysis was finalized with the
    same setting), so no clip is shown finer than it was stored and equal windows line up exactly;
    a narrower window that does not divide it is counted in the cell holding its middle.
    Frames and faces add up, so faces per frame stays a mean over every frame looked at; face
    tracks add up over clips (a track never spans two footage), each clip counting its busiest
    stored window within the cell."""
    per_analysis: dict[int, list[dict]] = {}
    for row in TimelineBucket.objects.filter(analysis_id__in=[a.pk for a in analyses]).order_by("analysis_id",
                                                                                                "index"):
        per_analysis.setdefault(row.analysis_id, []).append(bucket_dict(row))
    if not per_analysis:
        return Timeline()
    width = max(timeline_of(buckets).bucket_s for buckets in per_analysis.values())
    end = max(b["t_end"] for buckets in per_analysis.values() for b in buckets)
    cells: dict[int, dict] = {}
    for buckets in per_analysis.values():
        busiest: dict[int, int] = {}
        for b in buckets:
            index = int(((b["t_start"] + b["t_end"]) / 2 + 1e-9) // width)
            cell = cells.setdefault(index, _empty_cell(index, width))
            cell["frames"] += b["frames"]
            cell["faces"] += b["faces"]
            for e in EMOTIONS:
                cell["emotion_counts"][e] += b["emotion_counts"][e]
                cell["probability_sums"][e] += b["mean_probabilities"][e] * b["faces"]
            busiest[index] = max(busiest.get(index, 0), b["unique_tracks"])
        for index, tracks in busiest.items():
            cells[index]["unique_tracks"] += tracks
    merged = [_finished_cell(cells.get(i) or _empty_cell(i, width), end) for i in range(max(cells) + 1)]
    return Timeline(bucket_s=width, buckets=merged)
