"""Key moments: where the happy/surprise and the negative share of the faces peaked, and the frame
with the most such faces in that window (the frame the thumbnail shows)."""
from __future__ import annotations

from django.db.models import Count, F, Min, Q, Sum

from analysis.models import Analysis
from emo7ion_site.plotting import NEGATIVE, POSITIVE

from ..formatting import format_timestamp
from .summary import observations_of
from .timeline import Timeline

MOMENTS_PER_KIND = 3
MOMENT_KINDS = (("positive", "Happy / surprise peak", POSITIVE), ("negative", "Negative peak", NEGATIVE))


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
    gap = max(timeline.bucket_s or 0.0, span / (2 * limit))
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
    return (observations_of(analysis).filter(t__gte=t_start, t__lt=t_end)
            .values("frame_index")
            .annotate(t=Min("t"), faces=Count("id"), hits=Count("id", filter=Q(top_emotion__in=group)),
                      strength=Sum(prob_sum))
            .filter(hits__gt=0)
            .order_by("-hits", "-strength", "frame_index")
            .first())


def analysis_key_moments(*, analysis: Analysis, timeline: Timeline, per_kind: int = MOMENTS_PER_KIND) -> list[dict]:
    moments = []
    for kind, title, group in MOMENT_KINDS:
        seen_frames: set[int] = set()
        for bucket in _moment_candidates(timeline, group, per_kind):
            row = _peak_frame(analysis, group, bucket["t_start"], bucket["t_end"])
            if row is None or row["frame_index"] in seen_frames:
                continue
            seen_frames.add(row["frame_index"])
            moments.append({
                "kind": kind, "title": title, "frame_index": row["frame_index"], "t": row["t"],
                "timestamp": format_timestamp(row["t"]), "faces": row["faces"], "hits": row["hits"],
                "bucket_share": sum(bucket["emotion_shares"][e] for e in group),
                "bucket_start": format_timestamp(bucket["t_start"]),
                "bucket_end": format_timestamp(bucket["t_end"]),
            })
    return moments


def frame_observations(*, analysis: Analysis, frame_index: int) -> list[dict]:
    """The boxes and top emotions of one frame, for a key-moment thumbnail."""
    return list(observations_of(analysis).filter(frame_index=frame_index)
                .values("track_id", "x", "y", "w", "h", "top_emotion", "t").order_by("track_id"))


def frame_has_faces(*, analysis: Analysis, frame_index: int) -> bool:
    return observations_of(analysis).filter(frame_index=frame_index).exists()
