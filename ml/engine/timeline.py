"""The timeline, in one place: how wide its buckets are, and what each bucket holds.

Finalize stores these buckets (analysis.TimelineBucket) and every page, export and API answer reads
them; nothing above the engine buckets observations again. Three things live here and nowhere else:

- the bucket-width rule (`bucket_seconds`, `bucket_count`);
- the sampling grid: which instants a clip sampled at a rate looked at (`grid_frame_count`,
  `grid_frames`), so a bucket's frame count includes the frames in which nobody was seen;
- the aggregation (`aggregate_timeline`, and `summarise` for the whole footage).

The bucket rule: `preferred_s` wide (EMO7ION_BUCKET_SECONDS, 60 s), but a long footage gets at most
MAX_BUCKETS (a chart of 1,000 bars is unreadable and slow) and a short clip at least about
MIN_BUCKETS (one bar for a 20 s clip says nothing); never narrower than the sampling interval,
which would leave empty buckets between samples; rounded up to a "nice" step a person reads
easily. Of the two rules the project once had, this is the one finalize stored (the reports'
display-only rule, at most 60 buckets, re-bucketed observations on every page view and is gone).

Observations may be the pipeline's `Observation`s, objects or mappings with `probs` (or
`p_<label>` fields), `t` and `track_id` (e.g. FaceObservation rows with footage-wide track ids).
"""
from __future__ import annotations

import itertools
import math
import operator
from typing import Iterable, Mapping, Sequence

import numpy as np

from .labels import EMOTIONS

DEFAULT_BUCKET_S = 60.0
MIN_BUCKETS = 12
MAX_BUCKETS = 120
NICE_STEPS = (0.25, 0.5, 1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600)


def bucket_seconds(duration_s: float | None, sample_fps: float | None,
                   preferred_s: float | None = DEFAULT_BUCKET_S) -> float:
    """Width of the timeline buckets for a footage (see the rule above).

    1 h at the default 60 s gives 60 buckets; 10 h gives 120 buckets of 5 min; a 20 s clip gives
    10 buckets of 2 s; a 4 s clip sampled at 2 fps gives 8 buckets of 0.5 s."""
    preferred = float(preferred_s or DEFAULT_BUCKET_S)
    duration = float(duration_s or 0.0)
    if duration <= 0:
        return preferred
    width = min(preferred, duration / MIN_BUCKETS)
    width = max(width, duration / MAX_BUCKETS, 1.0 / sample_fps if sample_fps else 0.0)
    for step in NICE_STEPS:
        if step >= width - 1e-9:
            return float(step) if duration / step <= MAX_BUCKETS else width
    return width


def bucket_count(duration_s: float, bucket_s: float) -> int:
    """Buckets of `bucket_s` covering [0, duration_s]; a still image (duration 0) has one."""
    return max(1, int(math.ceil(round(max(0.0, duration_s) / bucket_s, 9))))


def bucket_span(index: int, bucket_s: float, duration_s: float) -> tuple[float, float]:
    """(t_start, t_end) of bucket `index`, rounded as stored: the last one ends with the footage."""
    t0 = index * bucket_s
    return round(t0, 4), round(min(t0 + bucket_s, duration_s) if duration_s else t0, 4)


def grid_frame_count(duration_s: float, rate: float) -> int:
    """Frames a clip of `duration_s` sampled at `rate` per second looks at: t = k / rate for
    k = 0, 1, ... while t < duration_s. A still image (duration 0) is one frame at t = 0."""
    return int(math.floor(duration_s * rate - 1e-9)) + 1 if duration_s else 1


def grid_frames(t_start: float, t_end: float, rate: float, duration_s: float | None = None) -> int:
    """Sampled instants t = k / rate within [t_start, t_end): the frames looked at there, faces or
    not. With `duration_s`, only the clip's own instants count (none past its last sampled frame)."""
    if t_end <= t_start or not rate:
        return 0
    first = math.ceil(t_start * rate - 1e-9)
    end = math.ceil(t_end * rate - 1e-9) if math.isfinite(t_end) else None
    if duration_s is not None:
        last = grid_frame_count(duration_s, rate)
        end = last if end is None else min(end, last)
    if end is None:
        raise ValueError("an open-ended range [t_start, inf) needs the clip's duration_s")
    return max(0, end - first)


def _observation_arrays(observations: Iterable, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, track_id, probs) arrays from any supported kind of observation, in one pass."""
    ts, tracks, probs, _ = observation_columns(observations, labels)
    return ts, tracks, probs


def observation_columns(observations: Iterable, labels: Sequence[str],
                        extra: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(t, track_id, probs, extras) arrays from any supported kind of observation, in one pass;
    `extras` (N, len(extra)) holds the named optional fields (e.g. yaw, pitch), NaN where an
    observation has none. The accessor is chosen from the first item, so the loop costs one call per
    row: a long crowd analysis streams millions of rows through here."""
    prob_fields = [f"p_{label}" for label in labels]
    it = iter(observations)
    first = next(it, None)
    if first is None:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros((0, len(labels))), np.zeros((0, len(extra)))
    if isinstance(first, Mapping):
        if first.get("probs") is not None:
            def row(o):
                return o["t"], o.get("track_id", -1), o["probs"]
        else:
            def row(o):
                return o["t"], o.get("track_id", -1), [o.get(name, 0.0) for name in prob_fields]

        def more(o):
            return [o.get(name) for name in extra]
    else:
        if getattr(first, "probs", None) is not None:
            row = operator.attrgetter("t", "track_id", "probs")
        else:
            getter = operator.attrgetter("t", "track_id", *prob_fields)

            def row(o):
                values = getter(o)
                return values[0], values[1], values[2:]

        def more(o):
            return [getattr(o, name, None) for name in extra]
    ts, tracks, probs, extras = [], [], [], []
    for obs in itertools.chain((first,), it):
        t, track, p = row(obs)
        ts.append(t)
        tracks.append(track)
        probs.append(p)
        if extra:
            extras.append([np.nan if v is None else v for v in more(obs)])
    n = len(ts)
    return (np.asarray(ts, np.float64), np.asarray(tracks, np.int64),
            np.asarray(probs, np.float64).reshape(n, len(labels)),
            np.asarray(extras, np.float64).reshape(n, len(extra)) if extra else np.zeros((n, 0)))


def _shares(counts: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    total = counts.sum()
    return {label: (round(float(c / total), 4) if total else 0.0) for label, c in zip(labels, counts)}


def aggregate_timeline(observations: Iterable, bucket_s: float, duration_s: float,
                       labels: Sequence[str] = EMOTIONS, *, frame_times: Sequence[float] | None = None,
                       sample_fps: float | None = None, fps: float | None = None) -> list[dict]:
    """Fixed-width time buckets over [0, duration_s]: counts, shares and mean probabilities.

    `frames` per bucket counts sampled frames, with or without faces. It comes from `frame_times`
    (every sampled frame's t) when given, else from the sampling grid (`sample_fps`, capped by the
    footage's `fps`), else it counts only the frames in which a face was seen.
    `emotion_shares` are each label's share of the faces whose most probable emotion it is.
    """
    if not bucket_s or bucket_s <= 0:
        raise ValueError(f"bucket_s must be positive, got {bucket_s!r}")
    labels = list(labels)
    duration_s = max(0.0, float(duration_s or 0.0))
    n = bucket_count(duration_s, bucket_s)
    ts, tracks, probs = _observation_arrays(observations, labels)
    which = np.clip((ts // bucket_s).astype(np.int64), 0, n - 1) if len(ts) else np.zeros(0, np.int64)
    top = probs.argmax(axis=1) if len(ts) else np.zeros(0, np.int64)

    if frame_times is not None:
        ft = np.asarray(list(frame_times), np.float64)
        frames_per_bucket = np.bincount(np.clip((ft // bucket_s).astype(np.int64), 0, n - 1), minlength=n) \
            if len(ft) else np.zeros(n, np.int64)
    elif sample_fps:
        rate = min(float(sample_fps), float(fps)) if fps else float(sample_fps)
        # The last bucket takes every remaining instant of the clip, as observations at its very end.
        frames_per_bucket = np.array([grid_frames(b * bucket_s, (b + 1) * bucket_s if b < n - 1 else math.inf,
                                                  rate, duration_s) for b in range(n)], np.int64)
    else:
        distinct = np.unique(ts)
        frames_per_bucket = np.bincount(np.clip((distinct // bucket_s).astype(np.int64), 0, n - 1), minlength=n)

    # Per-bucket sums with bincount: one pass over the observations, whatever the bucket count.
    n_labels = len(labels)
    faces_per_bucket = np.bincount(which, minlength=n)
    counts = np.bincount(which * n_labels + top, minlength=n * n_labels).reshape(n, n_labels)
    prob_sums = np.stack([np.bincount(which, weights=probs[:, j], minlength=n) for j in range(n_labels)], axis=1) \
        if len(ts) else np.zeros((n, n_labels))
    if len(ts):
        span = int(tracks.max()) - int(tracks.min()) + 1
        pairs = np.unique(which * span + (tracks - tracks.min()))
        tracks_per_bucket = np.bincount(pairs // span, minlength=n)
    else:
        tracks_per_bucket = np.zeros(n, np.int64)

    buckets = []
    for b in range(n):
        faces = int(faces_per_bucket[b])
        mean_p = prob_sums[b] / faces if faces else np.zeros(n_labels)
        frames = int(frames_per_bucket[b])
        t_start, t_end = bucket_span(b, bucket_s, duration_s)
        buckets.append({
            "index": b,
            "t_start": t_start,
            "t_end": t_end,
            "frames": frames,
            "faces": faces,
            "mean_faces_per_frame": round(faces / frames, 4) if frames else 0.0,
            "unique_tracks": int(tracks_per_bucket[b]),
            "emotion_counts": {label: int(c) for label, c in zip(labels, counts[b])},
            "emotion_shares": _shares(counts[b], labels),
            "mean_probabilities": {label: round(float(v), 4) for label, v in zip(labels, mean_p)},
        })
    return buckets


def summarise(observations: Iterable, frames_analysed: int, duration_s: float,
              labels: Sequence[str] = EMOTIONS) -> dict:
    """Headline numbers for a whole analysis. `unique_faces` counts distinct (footage-wide) track ids."""
    labels = list(labels)
    ts, tracks, probs = _observation_arrays(observations, labels)
    faces = int(len(ts))
    counts = np.bincount(probs.argmax(axis=1), minlength=len(labels))[: len(labels)] if faces else np.zeros(len(labels))
    shares = _shares(counts, labels)
    return {
        "frames_analysed": int(frames_analysed),
        "faces_detected": faces,
        "unique_faces": int(len(np.unique(tracks))) if faces else 0,
        "duration_s": round(float(duration_s or 0.0), 3),
        "mean_faces_per_frame": round(faces / frames_analysed, 4) if frames_analysed else 0.0,
        "emotion_counts": {label: int(c) for label, c in zip(labels, counts)},
        "emotion_shares": shares,
        "mean_probabilities": {label: round(float(v), 4)
                               for label, v in zip(labels, probs.mean(axis=0) if faces else np.zeros(len(labels)))},
        "dominant_emotion": labels[int(np.argmax(counts))] if faces else None,
    }
