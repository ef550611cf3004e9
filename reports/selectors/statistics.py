"""Crowd statistics of one analysis as a reader sees them: the engagement summary (faces visible,
attention, valence trend, strongest moments), the overall attention and derived valence/arousal with
their 95% intervals over face tracks, each with its definition. Read from what finalize stored
(`summary["statistics"]`, computed by `ml.engine.crowd`); nothing is recomputed here."""
from __future__ import annotations

from analysis.models import Analysis

from ..formatting import DEFINITIONS, format_timestamp, interval_view

MOMENT_TITLES = {"highest_valence": "Most positive window", "lowest_valence": "Most negative window"}
TREND_WORDS = {"rising": "rising", "falling": "falling", "no clear change": "no clear change"}


def _affect(estimate: dict | None) -> dict | None:
    if not estimate or estimate.get("value") is None:
        return None
    return {"value": estimate["value"], "interval": interval_view(estimate.get("interval"), estimate["value"],
                                                                  percent=False),
            "tracks": estimate.get("tracks", 0)}


def _moment(moment: dict) -> dict:
    return {"kind": moment["kind"], "title": MOMENT_TITLES.get(moment["kind"], moment["kind"]),
            "start": format_timestamp(moment["t_start"]), "end": format_timestamp(moment["t_end"]),
            "t_start": moment["t_start"], "t_end": moment["t_end"], "valence": moment["valence"],
            "valence_interval": interval_view(moment.get("valence_interval"), moment["valence"], percent=False),
            "attention": moment.get("attention"),
            "attention_interval": interval_view(moment.get("attention_interval"), moment.get("attention"))}


def analysis_statistics(*, analysis: Analysis) -> dict:
    """The engagement summary and overall crowd statistics; `available` is False for an analysis
    finalized before they were stored (or one without faces)."""
    stats = (analysis.summary or {}).get("statistics") or {}
    if not stats or not stats.get("tracks"):
        return {"available": False, "definitions": DEFINITIONS}
    engagement = stats.get("engagement") or {}
    attention = stats.get("attention") or {}
    trend = engagement.get("valence_trend") or {}
    with_pose = int(attention.get("observations_with_pose") or 0)
    return {
        "available": True,
        "tracks": stats["tracks"],
        "too_few_tracks": bool(stats.get("too_few_tracks")),
        "method": stats.get("method") or {},
        "face_time_share": engagement.get("face_time_share"),
        "frames_with_faces": engagement.get("frames_with_faces"),
        "attention": {
            "available": with_pose > 0, "value": attention.get("value"), "observations_with_pose": with_pose,
            "tracks": attention.get("tracks", 0),
            "interval": interval_view(attention.get("interval"), attention.get("value")),
        },
        "valence": _affect(stats.get("valence")),
        "arousal": _affect(stats.get("arousal")),
        "trend": {
            "direction": TREND_WORDS.get(trend.get("direction")), "change": trend.get("change"),
            "early": trend.get("early"), "late": trend.get("late"),
            "interval": interval_view(trend.get("interval"), trend.get("change"), percent=False),
        },
        "strongest_moments": [_moment(m) for m in engagement.get("strongest_moments") or []],
        "definitions": DEFINITIONS,
    }
