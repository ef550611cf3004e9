"""Crowd statistics of an analysis: for each timeline bucket and for the whole footage, the share of
each expression and group, the share of faces facing the camera (attention) and the derived valence
and arousal, every one with a 95% interval from a bootstrap over face tracks, and the engagement
summary. Finalize stores what `crowd_timeline` returns beside `ml.engine.timeline`'s buckets; reports
only read it.

The parts: `ml.engine.statistics` (bootstrap and permutation test over tracks), `ml.engine.attention`
(head pose from YuNet's landmarks, "facing"), `ml.engine.affect` (valence and arousal from the seven
probabilities), `ml.engine.timeline` (bucket width and span, reading observations).
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .affect import valence_arousal
from .attention import facing
from .labels import EMOTIONS
from .statistics import (DEFAULT_LEVEL, DEFAULT_RESAMPLES, DEFAULT_SEED, MIN_TRACKS, Estimate, TrackTotals, difference_estimate,
                         ratio_estimates, track_totals)
from .timeline import bucket_count, bucket_span, observation_columns

# The report's groups of expressions (emo7ion_site.plotting colours them; the engine owns the grouping).
SHARE_GROUPS = {"positive": ("happy", "surprise"), "negative": ("angry", "disgust", "fear", "sad")}
POSE_FIELDS = ("yaw", "pitch")
# Columns that are means of derived scores in [-1, 1], not shares of 0/1 values.
DERIVED_COLUMNS = ("valence", "arousal")
# At most this many strongest moments per kind in the engagement summary.
STRONGEST_MOMENTS = 1


def crowd_columns(probs: np.ndarray, pose: np.ndarray, labels: Sequence[str]) -> tuple[list[str], np.ndarray]:
    """Per observation, every quantity a crowd number averages: 1/0 per top expression and group, 1/0/NaN
    facing the camera (NaN: no pose), derived valence and arousal. Returns (names, (N, columns))."""
    labels = list(labels)
    n = len(probs)
    hits = np.zeros((n, len(labels)))
    if n:
        hits[np.arange(n), probs.argmax(axis=1)] = 1.0
    columns = [hits[:, j] for j in range(len(labels))]
    names = list(labels)
    for name, members in SHARE_GROUPS.items():
        names.append(name)
        columns.append(hits[:, [labels.index(m) for m in members if m in labels]].sum(axis=1))
    affect = valence_arousal(probs, labels) if n else np.zeros((0, 2))
    names += ["attention", "valence", "arousal"]
    columns += [facing(pose[:, 0], pose[:, 1]) if n else np.zeros(0), affect[:, 0], affect[:, 1]]
    return names, (np.stack(columns, axis=1) if n else np.zeros((0, len(names))))


def proportion_columns(names: Sequence[str]) -> list[bool]:
    """Which of `crowd_columns`' names are shares (expressions, groups, attention): all but the derived scores."""
    return [name not in DERIVED_COLUMNS for name in names]


def _interval(estimate: Estimate) -> list[float] | None:
    return None if estimate.low is None else [round(estimate.low, 4), round(estimate.high, 4)]


def _value(estimate: Estimate) -> float | None:
    return None if estimate.value is None else round(estimate.value, 4)


def _bucket_statistics(names: list[str], estimates: list[Estimate], share_names: list[str], pose_count: int) -> dict:
    by_name = dict(zip(names, estimates))
    too_few = by_name[share_names[0]].low is None
    return {
        "intervals": {} if too_few else {name: _interval(by_name[name]) for name in share_names},
        "too_few_tracks": too_few,
        "attention": _value(by_name["attention"]), "attention_interval": _interval(by_name["attention"]),
        "pose_observations": int(pose_count),
        "valence": _value(by_name["valence"]), "valence_interval": _interval(by_name["valence"]),
        "arousal": _value(by_name["arousal"]), "arousal_interval": _interval(by_name["arousal"]),
    }


def crowd_timeline(observations: Iterable, bucket_s: float, duration_s: float, labels: Sequence[str] = EMOTIONS,
                   *, frames_analysed: int | None = None, n_resamples: int = DEFAULT_RESAMPLES,
                   seed: int = DEFAULT_SEED) -> dict:
    """The crowd statistics of `aggregate_timeline`'s buckets and of the whole footage, every one with
    a 95% interval from a bootstrap over face tracks (`ml.engine.statistics`).

    Returns {"buckets": [one dict per bucket, same order and count as aggregate_timeline's], "summary":
    {...}}. Per bucket: `intervals` (each expression's and group's share; empty with `too_few_tracks`,
    fewer than MIN_TRACKS tracks), `attention` (share of observations with a head pose that face the
    camera; None when no observation has one, e.g. Haar) and derived `valence`/`arousal`, each with
    its `*_interval`. Observations may carry `yaw`/`pitch` (None or missing: no pose). Seeded: the
    same observations always give the same intervals."""
    labels = list(labels)
    duration_s = max(0.0, float(duration_s or 0.0))
    n = bucket_count(duration_s, bucket_s)
    ts, tracks, probs, pose = observation_columns(observations, labels, POSE_FIELDS)
    names, values = crowd_columns(probs, pose, labels)
    share_names = [*labels, *SHARE_GROUPS]
    with_pose = np.isfinite(pose).all(axis=1) if len(ts) else np.zeros(0, bool)

    which = np.clip((ts // bucket_s).astype(np.int64), 0, n - 1) if len(ts) else np.zeros(0, np.int64)
    buckets = []
    if len(ts):
        span = int(tracks.max()) - int(tracks.min()) + 1
        keys, groups = np.unique(which * span + (tracks - tracks.min()), return_inverse=True)
        per_group = track_totals(groups, values)
        group_bucket = keys // span
        bounds = np.searchsorted(group_bucket, np.arange(n + 1))
        pose_per_bucket = np.bincount(which, weights=with_pose.astype(np.float64), minlength=n)
    for b in range(n):
        if not len(ts) or bounds[b] == bounds[b + 1]:
            estimates = [Estimate(None, None, None, 0)] * len(names)
            pose_count = 0
        else:
            part = slice(bounds[b], bounds[b + 1])
            estimates = ratio_estimates(TrackTotals(per_group.sums[part], per_group.counts[part]),
                                        n_resamples=n_resamples, seed=seed + 1 + b,
                                        proportions=proportion_columns(names))
            pose_count = int(pose_per_bucket[b])
        buckets.append(_bucket_statistics(names, estimates, share_names, pose_count))

    totals = track_totals(tracks, values)
    overall = ratio_estimates(totals, n_resamples=n_resamples, seed=seed,
                              proportions=proportion_columns(names)) if len(ts) \
        else [Estimate(None, None, None, 0)] * len(names)
    by_name = dict(zip(names, overall))
    frames_with_faces = int(len(np.unique(ts)))
    summary = {
        "tracks": int(totals.n_units),
        "intervals": {} if by_name[labels[0]].low is None else {k: _interval(by_name[k]) for k in share_names},
        "too_few_tracks": by_name[labels[0]].low is None,
        "attention": {**by_name["attention"].as_dict(), "observations_with_pose": int(with_pose.sum())},
        "valence": by_name["valence"].as_dict(),
        "arousal": by_name["arousal"].as_dict(),
        "method": {"resamples": n_resamples, "level": DEFAULT_LEVEL, "unit": "face track", "min_tracks": MIN_TRACKS,
                   "seed": seed},
    }
    summary["engagement"] = {
        "frames_with_faces": frames_with_faces,
        "face_time_share": (round(frames_with_faces / frames_analysed, 4) if frames_analysed else None),
        "attention": summary["attention"],
        "valence_trend": _valence_trend(ts, tracks, values[:, names.index("valence")] if len(ts) else np.zeros(0),
                                        duration_s, n_resamples=n_resamples, seed=seed),
        "strongest_moments": _strongest_moments(buckets, [bucket_span(b, bucket_s, duration_s) for b in range(n)]),
    }
    return {"buckets": buckets, "summary": summary}


def _valence_trend(ts, tracks, valence, duration_s: float, *, n_resamples: int, seed: int) -> dict:
    """Mean valence of the footage's second half minus its first, with an interval over tracks:
    "rising" or "falling" only when the interval excludes 0."""
    if not len(ts) or duration_s <= 0:
        return {"early": None, "late": None, "change": None, "interval": None, "direction": None}
    late = ts >= duration_s / 2
    halves = np.stack([np.where(late, np.nan, valence), np.where(late, valence, np.nan)], axis=1)
    totals = track_totals(tracks, halves)
    early_value, late_value = totals.ratio()
    change = difference_estimate(totals, 0, 1, n_resamples=n_resamples, seed=seed + 7919)
    direction = None
    if change.low is not None:
        direction = "rising" if change.low > 0 else "falling" if change.high < 0 else "no clear change"
    return {"early": None if not np.isfinite(early_value) else round(float(early_value), 4),
            "late": None if not np.isfinite(late_value) else round(float(late_value), 4),
            "change": _value(change), "interval": _interval(change), "direction": direction}


def _strongest_moments(buckets: list[dict], bounds: list[tuple[float, float]]) -> list[dict]:
    """The windows with the highest and the lowest derived valence, among those with enough tracks to
    give an interval (so one smiling face in an empty hall is never the crowd's best moment)."""
    usable = [(index, stats, bounds[index]) for index, stats in enumerate(buckets)
              if not stats["too_few_tracks"] and stats["valence_interval"] is not None]
    if len(usable) < 2:
        return []
    ranked = sorted(usable, key=lambda item: (-item[1]["valence"], item[0]))
    picks = [("highest_valence", item) for item in ranked[:STRONGEST_MOMENTS]]
    picks += [("lowest_valence", item) for item in ranked[::-1][:STRONGEST_MOMENTS]]
    return [{"kind": kind, "index": index, "t_start": t0, "t_end": t1, "valence": stats["valence"],
             "valence_interval": stats["valence_interval"], "attention": stats["attention"],
             "attention_interval": stats["attention_interval"]}
            for kind, (index, stats, (t0, t1)) in picks]
