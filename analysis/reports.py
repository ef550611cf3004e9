"""Report selectors: everything the analysis and project reports read, aggregated in the database.

A one-hour analysis of a 200-face crowd sampled at 1 fps holds 720,000 observations, so nothing
here iterates over observations in Python: counts, shares, per-track means and per-frame peaks are
GROUP BY queries (annotate/aggregate/values). Python only touches aggregates (timeline buckets,
one page of tracks, a handful of candidate moments).

Where finalize already stored aggregates (`Analysis.summary`, `TimelineBucket` rows) they are
read as they are; an analysis without them (older rows, or a synthetic benchmark) is aggregated
from its observations with the same definitions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.db.models import Avg, Count, F, Max, Min, Q, Sum, Value
from django.db.models.functions import Floor, Least
from django.utils.functional import cached_property

from emo7ion_site.plotting import EMOTION_COLOURS, NEGATIVE, NEUTRAL, POSITIVE
from ml.engine.labels import EMOTIONS

from .models import Analysis, AnalysisSegment, FaceObservation, Project, TimelineBucket

# Candidate bucket sizes for a timeline: the smallest that keeps a report under MAX_BUCKETS
# columns and holds at least MIN_FRAMES_PER_BUCKET sampled frames, so a 20 s clip gets a readable
# timeline and a 1 h one is not 3,600 columns wide.
NICE_BUCKET_SECONDS = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)
MAX_BUCKETS = 60
MIN_FRAMES_PER_BUCKET = 2
# Stored buckets are used as they are when they already give at least this many columns.
MIN_STORED_BUCKETS = 12
TRACKS_PER_PAGE = 25
MOMENTS_PER_KIND = 3

DEFINITIONS = {
    "faces_seen": "Face observations: every face found in every sampled frame counts once, so one person "
                  "in view for 10 sampled frames counts 10 times.",
    "unique_faces": "Face tracks: a face followed from frame to frame within this footage. A person who "
                    "leaves and comes back starts a new track; tracks never identify anyone.",
    "frames_analysed": "Frames sampled from the footage at the analysis' sample rate and searched for faces.",
    "dominant_emotion": "The expression most often read as the most likely one on a face observation.",
    "positive": "Share of face observations whose most likely expression is happy or surprise.",
    "negative": "Share of face observations whose most likely expression is angry, disgust, fear or sad.",
    "neutral": "Share of face observations whose most likely expression is neutral.",
    "mean_faces": "Mean number of faces found per sampled frame.",
}

GROUPS = {"positive": POSITIVE, "negative": NEGATIVE, "neutral": NEUTRAL}


# --------------------------------------------------------------------------- helpers

def format_timestamp(seconds: float | None) -> str:
    """'1:02:03', '2:05' or '0:07.5': the way a person reads a position in a video."""
    if seconds is None:
        return "–"
    seconds = max(0.0, float(seconds))
    whole = int(seconds)
    frac = seconds - whole
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    text = f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"
    if frac >= 0.05 and not h:
        text += f".{int(round(frac * 10)) % 10}"
    return text


def format_span(seconds: float) -> str:
    """A length of time as people say it: '1 s', '30 s', '5 min', '1 h'."""
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def nice_bucket_seconds(duration_s: float, min_bucket_s: float = 0.5) -> float:
    for size in NICE_BUCKET_SECONDS:
        if size >= min_bucket_s and duration_s / size <= MAX_BUCKETS:
            return float(size)
    return float(NICE_BUCKET_SECONDS[-1])


def shares_from_counts(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.get(e, 0) for e in EMOTIONS)
    return {e: (counts.get(e, 0) / total if total else 0.0) for e in EMOTIONS}


def group_shares(shares: dict[str, float]) -> dict[str, float]:
    return {name: sum(shares.get(e, 0.0) for e in members) for name, members in GROUPS.items()}


def dominant_of(values: dict[str, float]) -> str | None:
    if not values or not any(values.get(e) for e in EMOTIONS):
        return None
    # FER order breaks ties, so the answer is the same on every database.
    return max(EMOTIONS, key=lambda e: (values.get(e) or 0.0, -EMOTIONS.index(e)))


def emotion_rows(values: dict[str, float]) -> list[dict]:
    """[{emotion, value, colour}] in FER order: templates cannot index a dict by a variable."""
    return [{"emotion": e, "value": float(values.get(e, 0.0)), "colour": EMOTION_COLOURS[e]} for e in EMOTIONS]


def observations_of(analysis: Analysis):
    return FaceObservation.objects.filter(analysis_id=analysis.pk)


def _emotion_count_aggregates(prefix: str = "n_") -> dict:
    return {f"{prefix}{e}": Count("id", filter=Q(top_emotion=e)) for e in EMOTIONS}


def duration_of(analysis: Analysis) -> float:
    summary = analysis.summary or {}
    footage = analysis.footage
    for value in (footage.duration_s, summary.get("duration_s")):
        if value:
            return float(value)
    last = observations_of(analysis).aggregate(last=Max("t"))["last"]
    return float(last or 0.0) + 1.0 / max(analysis.sample_fps or 1.0, 1e-6)


# --------------------------------------------------------------------------- key figures

def analysis_key_figures(*, analysis: Analysis) -> dict:
    """Duration, frames analysed, faces seen, unique faces, shares and the dominant emotion.

    From finalize's summary when it is complete; otherwise one aggregate query over the
    observations (a single scan computes every count at once)."""
    summary = analysis.summary or {}
    needed = ("faces_detected", "unique_faces", "emotion_shares")
    if all(k in summary for k in needed) and summary.get("emotion_shares"):
        faces = int(summary["faces_detected"])
        unique = int(summary["unique_faces"])
        shares = {e: float(summary["emotion_shares"].get(e, 0.0)) for e in EMOTIONS}
        frames = summary.get("frames_analysed")
    else:
        agg = observations_of(analysis).aggregate(
            faces=Count("id"), unique=Count("track_id", distinct=True), **_emotion_count_aggregates())
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
        "dominant_colour": EMOTION_COLOURS.get(dominant or "", "#999999"),
        "dominant_share": shares.get(dominant, 0.0) if dominant else 0.0,
        "group_rows": [{"name": name, "share": groups[name], "definition": DEFINITIONS[name],
                        "members": [{"emotion": e, "colour": EMOTION_COLOURS[e]} for e in GROUPS[name]]}
                       for name in GROUPS],
        "positive_share": groups["positive"],
        "negative_share": groups["negative"],
        "neutral_share": groups["neutral"],
    }


# --------------------------------------------------------------------------- timeline

@dataclass
class Timeline:
    bucket_s: float
    buckets: list[dict] = field(default_factory=list)  # the engine's aggregate_timeline shape
    source: str = "observations"                       # "stored" | "observations"

    @property
    def is_empty(self) -> bool:
        return not any(b["faces"] for b in self.buckets)


def bucket_count(duration_s: float, bucket_s: float) -> int:
    # Same rule as ml.engine.pipeline.bucket_count, so stored and recomputed timelines line up.
    return max(1, int(math.ceil(round(max(0.0, duration_s) / bucket_s, 9))))


def _expected_frames(t_start: float, t_end: float, rate: float) -> int:
    """Sampled frames (at t = k / rate) falling in [t_start, t_end): frames looked at, faces or not."""
    if t_end <= t_start or not rate:
        return 0
    return max(0, math.ceil(t_end * rate - 1e-9) - math.ceil(t_start * rate - 1e-9))


def stored_timeline(analysis: Analysis) -> Timeline | None:
    rows = list(TimelineBucket.objects.filter(analysis_id=analysis.pk).order_by("index"))
    if not rows:
        return None
    buckets = []
    for b in rows:
        counts = {e: int((b.emotion_counts or {}).get(e, 0)) for e in EMOTIONS}
        shares = b.emotion_shares or shares_from_counts(counts)
        buckets.append({
            "index": b.index, "t_start": b.t_start, "t_end": b.t_end, "frames": b.frames, "faces": b.faces,
            "mean_faces_per_frame": b.mean_faces_per_frame, "unique_tracks": b.unique_tracks,
            "emotion_counts": counts, "emotion_shares": {e: float(shares.get(e, 0.0)) for e in EMOTIONS},
            "mean_probabilities": {e: float((b.mean_probabilities or {}).get(e, 0.0)) for e in EMOTIONS},
        })
    size = max((b["t_end"] - b["t_start"]) for b in buckets) or 1.0
    return Timeline(bucket_s=float(size), buckets=buckets, source="stored")


def timeline_from_observations(observations, *, bucket_s: float, duration_s: float,
                               sample_rate: float | None) -> Timeline:
    """Bucket observations by Floor(t / bucket_s) in one GROUP BY: counts per emotion, distinct
    frames and tracks, and mean probabilities per bucket. `sample_rate` (sampled frames per second)
    counts the frames looked at per bucket, faces or not; without it only frames with faces count."""
    n_buckets = bucket_count(duration_s, bucket_s)
    rows = (observations.order_by()
            # Least(): an observation at the very end belongs to the last bucket, as in the engine.
            .annotate(bucket=Least(Floor(F("t") / float(bucket_s)), Value(float(n_buckets - 1))))
            .values("bucket")
            .annotate(faces=Count("id"), unique_tracks=Count("track_id", distinct=True),
                      # frames are only counted from the observations when the sampling grid is unknown
                      **({} if sample_rate else {"frames_with_faces": Count("frame_index", distinct=True)}),
                      **_emotion_count_aggregates(),
                      **{f"mean_{e}": Avg(f"p_{e}") for e in EMOTIONS})
            .order_by("bucket"))
    by_index = {int(r["bucket"]): r for r in rows}
    frame_count = (int(math.floor(duration_s * sample_rate - 1e-9)) + 1 if duration_s else 1) if sample_rate else 0
    buckets = []
    for i in range(n_buckets):
        t_start = i * bucket_s
        t_end = min(t_start + bucket_s, duration_s) if duration_s else t_start
        r = by_index.get(i)
        counts = {e: int(r[f"n_{e}"]) if r else 0 for e in EMOTIONS}
        faces = int(r["faces"]) if r else 0
        if sample_rate:
            upper = t_start + bucket_s if i < n_buckets - 1 else frame_count / sample_rate
            frames = _expected_frames(t_start, upper, sample_rate)
        else:
            frames = int(r["frames_with_faces"]) if r else 0
        buckets.append({
            "index": i, "t_start": t_start, "t_end": t_end, "frames": frames, "faces": faces,
            "mean_faces_per_frame": faces / frames if frames else 0.0,
            "unique_tracks": int(r["unique_tracks"]) if r else 0,
            "emotion_counts": counts, "emotion_shares": shares_from_counts(counts),
            "mean_probabilities": {e: float(r[f"mean_{e}"] or 0.0) if r else 0.0 for e in EMOTIONS},
        })
    return Timeline(bucket_s=float(bucket_s), buckets=buckets, source="observations")


def sample_rate_of(analysis: Analysis) -> float | None:
    """Frames actually sampled per second: the analysis' rate, capped by the footage's own fps."""
    rate = analysis.sample_fps or None
    fps = analysis.footage.fps
    return min(rate, fps) if rate and fps else rate


def analysis_timeline(*, analysis: Analysis) -> Timeline:
    """finalize's buckets when they are fine enough to read; otherwise buckets sized for the footage
    (a short clip stored as one 60 s bucket says nothing about how the mood moved)."""
    stored = stored_timeline(analysis)
    if stored is not None and len(stored.buckets) >= MIN_STORED_BUCKETS:
        return stored
    duration = duration_of(analysis)
    rate = sample_rate_of(analysis)
    bucket_s = nice_bucket_seconds(duration, MIN_FRAMES_PER_BUCKET / rate if rate else 0.5)
    if stored is not None and stored.bucket_s <= bucket_s:
        return stored
    return timeline_from_observations(observations_of(analysis), bucket_s=bucket_s, duration_s=duration,
                                      sample_rate=rate)


# --------------------------------------------------------------------------- key moments

def _moment_candidates(timeline: Timeline, group: tuple[str, ...], limit: int) -> list[dict]:
    """Buckets where the group's share peaks, among buckets with a fair number of faces (a single
    smiling face in an empty hall is not the crowd's happiest minute), spread over the footage:
    each pick is at least 1/(2*limit) of the footage away from the others."""
    faced = [b for b in timeline.buckets if b["faces"]]
    if not faced:
        return []
    typical = sorted(b["faces"] for b in faced)[len(faced) // 2]
    floor = max(1, typical // 4)
    ranked = sorted(
        (b for b in faced if b["faces"] >= floor and sum(b["emotion_counts"][e] for e in group)),
        key=lambda b: (-sum(b["emotion_shares"][e] for e in group), b["t_start"]))
    span = max(b["t_end"] for b in timeline.buckets) - min(b["t_start"] for b in timeline.buckets)
    gap = max(timeline.bucket_s, span / (2 * limit))
    chosen: list[dict] = []
    for b in ranked:
        if all(abs(b["t_start"] - c["t_start"]) >= gap - 1e-9 for c in chosen):
            chosen.append(b)
            if len(chosen) == limit:
                break
    return chosen


def _peak_frame(analysis: Analysis, group: tuple[str, ...], t_start: float, t_end: float) -> dict | None:
    """The frame within [t_start, t_end) with the most faces showing the group's expressions; ties go
    to the frame where those expressions are most probable. One GROUP BY on the (analysis, t) index."""
    prob_sum = sum((F(f"p_{e}") for e in group[1:]), F(f"p_{group[0]}"))
    row = (observations_of(analysis).filter(t__gte=t_start, t__lt=t_end)
           .values("frame_index")
           .annotate(t=Min("t"), faces=Count("id"), hits=Count("id", filter=Q(top_emotion__in=group)),
                     strength=Sum(prob_sum))
           .filter(hits__gt=0)
           .order_by("-hits", "-strength", "frame_index")
           .first())
    return row


def analysis_key_moments(*, analysis: Analysis, timeline: Timeline, per_kind: int = MOMENTS_PER_KIND) -> list[dict]:
    moments = []
    kinds = (("positive", "Happy / surprise peak", POSITIVE), ("negative", "Negative peak", NEGATIVE))
    for kind, title, group in kinds:
        seen_frames: set[int] = set()
        for bucket in _moment_candidates(timeline, group, per_kind):
            row = _peak_frame(analysis, group, bucket["t_start"], bucket["t_end"])
            if row is None or row["frame_index"] in seen_frames:
                continue
            seen_frames.add(row["frame_index"])
            share = sum(bucket["emotion_shares"][e] for e in group)
            moments.append({
                "kind": kind, "title": title, "frame_index": row["frame_index"], "t": row["t"],
                "timestamp": format_timestamp(row["t"]), "faces": row["faces"], "hits": row["hits"],
                "bucket_share": share, "bucket_start": format_timestamp(bucket["t_start"]),
                "bucket_end": format_timestamp(bucket["t_end"]),
            })
    return moments


def frame_observations(*, analysis: Analysis, frame_index: int) -> list[dict]:
    """The boxes and top emotions of one frame, for a key-moment thumbnail."""
    return list(observations_of(analysis).filter(frame_index=frame_index)
                .values("track_id", "x", "y", "w", "h", "top_emotion", "t").order_by("track_id"))


# --------------------------------------------------------------------------- per-track table

TRACK_SORTS = {
    "track": "track_id", "first": "first_seen", "last": "last_seen", "seen": "seen_for",
    "observations": "observations", **{e: f"mean_{e}" for e in EMOTIONS},
}
DEFAULT_TRACK_SORT = "-observations"


class _TrackPaginator(Paginator):
    """Counts tracks with COUNT(DISTINCT track_id), which the (analysis, track_id) index answers
    alone, instead of Django's default COUNT over the whole GROUP BY subquery."""

    def __init__(self, object_list, per_page, *, analysis: Analysis, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._analysis = analysis

    @cached_property
    def count(self):
        return observations_of(self._analysis).aggregate(n=Count("track_id", distinct=True))["n"]


TRACK_COLUMN_LABELS = (("track", "Track"), ("first", "First seen"), ("last", "Last seen"), ("seen", "In view for"),
                       ("observations", "Observations"))


def track_columns(sort: str) -> list[dict]:
    """Table headers with the sort each one applies when clicked (clicking the sorted column reverses it;
    numbers start with the largest first, times with the earliest)."""
    current, descending = sort.lstrip("-"), sort.startswith("-")
    columns = [{"key": k, "label": label, "colour": None} for k, label in TRACK_COLUMN_LABELS]
    columns += [{"key": e, "label": e, "colour": EMOTION_COLOURS[e]} for e in EMOTIONS]
    for c in columns:
        first_desc = c["key"] not in ("track", "first", "last")
        if c["key"] == current:
            c["state"] = "descending" if descending else "ascending"
            c["next_sort"] = c["key"] if descending else f"-{c['key']}"
        else:
            c["state"] = "none"
            c["next_sort"] = f"-{c['key']}" if first_desc else c["key"]
    return columns


def clean_track_sort(sort: str | None) -> str:
    sort = (sort or DEFAULT_TRACK_SORT).strip()
    return sort if sort.lstrip("-") in TRACK_SORTS else DEFAULT_TRACK_SORT


def analysis_tracks_page(*, analysis: Analysis, sort: str | None = None, page: int | str | None = 1,
                         per_page: int = TRACKS_PER_PAGE) -> tuple[Page, str]:
    """One page of face tracks (first/last seen, observations, mean probability per emotion), sorted
    in the database. Returns (page, the sort actually applied)."""
    sort = clean_track_sort(sort)
    key = sort.lstrip("-")
    direction = "-" if sort.startswith("-") else ""
    qs = (observations_of(analysis).order_by().values("track_id")
          .annotate(first_seen=Min("t"), last_seen=Max("t"), observations=Count("id"),
                    **{f"mean_{e}": Avg(f"p_{e}") for e in EMOTIONS})
          .annotate(seen_for=F("last_seen") - F("first_seen"))
          .order_by(f"{direction}{TRACK_SORTS[key]}", "track_id"))
    paginator = _TrackPaginator(qs, per_page, analysis=analysis)
    page_obj = paginator.get_page(page)
    rows = []
    for r in page_obj.object_list:
        means = {e: float(r[f"mean_{e}"] or 0.0) for e in EMOTIONS}
        dominant = dominant_of(means)
        rows.append({**r, "means": means, "mean_rows": emotion_rows(means), "dominant": dominant,
                     "dominant_colour": EMOTION_COLOURS.get(dominant or "", "#999999"),
                     "first": format_timestamp(r["first_seen"]), "last": format_timestamp(r["last_seen"]),
                     "seen": format_timestamp(r["seen_for"])})
    page_obj.object_list = rows
    return page_obj, sort


# --------------------------------------------------------------------------- model

def _metrics_of(metrics: dict | None) -> dict:
    """Training writes {"validation": {...}}; evaluation runs write the metrics at the top level."""
    metrics = metrics or {}
    if "accuracy" not in metrics and isinstance(metrics.get("validation"), dict):
        return metrics["validation"]
    return metrics


def analysis_model_info(*, analysis: Analysis) -> dict:
    """The model version that made this analysis, with its measured accuracy: the latest succeeded
    evaluation when there is one, else the validation metrics recorded at training."""
    from ml.models import BiasAudit, Evaluation, JobStatus

    mv = analysis.model_version
    evaluation = (Evaluation.objects.filter(model_version=mv, status=JobStatus.SUCCEEDED)
                  .select_related("dataset").order_by("-finished_at", "-created_at").first())
    if evaluation is not None and _metrics_of(evaluation.metrics).get("accuracy") is not None:
        metrics = _metrics_of(evaluation.metrics)
        measured_on = (evaluation.dataset.name if evaluation.dataset else evaluation.data_path) or "an evaluation set"
        source = f"evaluation on {measured_on}"
    else:
        metrics = _metrics_of(mv.metrics)
        training = (mv.metadata or {}).get("training") or {}
        source = "validation split at training" + (f" ({training['dataset_name']})"
                                                    if training.get("dataset_name") else "")
    audit = (BiasAudit.objects.filter(model_version=mv, status=JobStatus.SUCCEEDED)
             .order_by("-finished_at", "-created_at").first())
    per_class = metrics.get("per_class") or {}
    return {
        "model_version": mv,
        "accuracy": metrics.get("accuracy"),
        "balanced_accuracy": metrics.get("balanced_accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "n": metrics.get("n"),
        "per_class_recall": [{"emotion": e, "recall": (per_class.get(e) or {}).get("recall"),
                              "colour": EMOTION_COLOURS[e]} for e in EMOTIONS if e in per_class],
        "source": source,
        "evaluation": evaluation if evaluation is not None and source.startswith("evaluation") else None,
        "bias_audit": audit,
    }


# --------------------------------------------------------------------------- the whole report

def analysis_report(*, analysis: Analysis, track_sort: str | None = None, track_page=1) -> dict:
    figures = analysis_key_figures(analysis=analysis)
    timeline = analysis_timeline(analysis=analysis)
    tracks, sort = analysis_tracks_page(analysis=analysis, sort=track_sort, page=track_page)
    return {
        "analysis": analysis,
        "figures": figures,
        "timeline": timeline,
        "moments": analysis_key_moments(analysis=analysis, timeline=timeline),
        "tracks": tracks,
        "track_sort": sort,
        "track_columns": track_columns(sort),
        "model": analysis_model_info(analysis=analysis),
        "definitions": DEFINITIONS,
    }


# --------------------------------------------------------------------------- project report

def project_analyses(*, project: Project) -> list[Analysis]:
    """The latest succeeded analysis of each footage of the project, in upload order (one per
    footage, so a re-analysed clip is not counted twice)."""
    latest: dict[int, Analysis] = {}
    qs = (Analysis.objects.filter(footage__project_id=project.pk, status=Analysis.Status.SUCCEEDED)
          .select_related("footage", "model_version").order_by("footage_id", "-finished_at", "-pk"))
    for a in qs:
        latest.setdefault(a.footage_id, a)
    return sorted(latest.values(), key=lambda a: (a.footage.created_at, a.footage_id))


def project_comparison(*, analyses: list[Analysis]) -> list[dict]:
    """One row per analysis: its key figures. Analyses without a stored summary are counted in a
    single GROUP BY over all of their observations together."""
    missing = [a.pk for a in analyses
               if not (a.summary or {}).get("emotion_shares") or "faces_detected" not in (a.summary or {})]
    counted = {}
    if missing:
        for r in (FaceObservation.objects.filter(analysis_id__in=missing).order_by().values("analysis_id")
                  .annotate(faces=Count("id"), unique=Count("track_id", distinct=True),
                            **_emotion_count_aggregates())):
            counted[r["analysis_id"]] = r
    rows = []
    for a in analyses:
        s = a.summary or {}
        if a.pk in counted or a.pk in missing:
            r = counted.get(a.pk, {})
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
        })
    return rows


def _grid_frames(t_start: float, t_end: float, rate: float, duration_s: float) -> int:
    """Sampled frames of one clip (t = k / rate, k = 0 .. last) within [t_start, t_end)."""
    last = int(math.floor(duration_s * rate - 1e-9)) if duration_s else 0
    return max(0, min(math.ceil(t_end * rate - 1e-9), last + 1) - math.ceil(t_start * rate - 1e-9))


def project_timeline(*, analyses: list[Analysis]) -> Timeline:
    """All footage of the project on one relative clock (time since each clip started): the
    observations of every analysis bucketed together in one GROUP BY; frames per bucket are summed
    over the clips, so faces per frame stays a mean over every frame looked at."""
    if not analyses:
        return Timeline(bucket_s=60.0)
    durations = {a.pk: duration_of(a) for a in analyses}
    rates = {a.pk: sample_rate_of(a) for a in analyses}
    longest = max(durations.values()) or 1.0
    known = [r for r in rates.values() if r]
    bucket_s = nice_bucket_seconds(longest, MIN_FRAMES_PER_BUCKET / min(known) if known else 0.5)
    timeline = timeline_from_observations(
        FaceObservation.objects.filter(analysis_id__in=[a.pk for a in analyses]),
        bucket_s=bucket_s, duration_s=longest, sample_rate=None)
    if len(known) == len(analyses):
        for b in timeline.buckets:
            b["frames"] = sum(_grid_frames(b["t_start"], b["t_start"] + bucket_s, rates[a.pk], durations[a.pk])
                              for a in analyses)
            b["mean_faces_per_frame"] = b["faces"] / b["frames"] if b["frames"] else 0.0
    return timeline
