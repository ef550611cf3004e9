"""The timeline of an analysis, as finalize stored it (`TimelineBucket` rows).

The engine (`ml.engine.timeline`) owns the bucket-width rule and the aggregation; finalize runs them
once and stores the buckets. This module only reads those rows: no observation is bucketed again
on a page view, so a report always shows the same windows as the API and the exports.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from analysis.models import Analysis, TimelineBucket
from ml.engine.labels import EMOTIONS

from ..formatting import shares_from_counts

BUCKET_FIELDS = ("index", "t_start", "t_end", "frames", "faces", "mean_faces_per_frame", "unique_tracks")
# Stored by finalize with each bucket (ml.engine.crowd); None / empty on rows stored before them.
STATISTICS_FIELDS = TimelineBucket.STATISTICS_FIELDS


@dataclass
class Timeline:
    bucket_s: float | None = None                      # None: nothing was stored
    buckets: list[dict] = field(default_factory=list)  # the engine's aggregate_timeline shape

    @property
    def is_empty(self) -> bool:
        return not any(b["faces"] for b in self.buckets)

    @property
    def has_statistics(self) -> bool:
        """Finalize stored intervals with these buckets (older analyses have none)."""
        return any(b.get("too_few_tracks") is not None for b in self.buckets)


def bucket_dict(row: TimelineBucket) -> dict:
    """A stored row in the engine's bucket shape, every emotion present (older rows may omit zeros)."""
    counts = {e: int((row.emotion_counts or {}).get(e, 0)) for e in EMOTIONS}
    shares = row.emotion_shares or shares_from_counts(counts)
    return {**{k: getattr(row, k) for k in BUCKET_FIELDS},
            **{k: getattr(row, k) for k in STATISTICS_FIELDS},
            "emotion_counts": counts,
            "emotion_shares": {e: float(shares.get(e, 0.0)) for e in EMOTIONS},
            "mean_probabilities": {e: float((row.mean_probabilities or {}).get(e, 0.0)) for e in EMOTIONS}}


def timeline_of(buckets: list[dict]) -> Timeline:
    if not buckets:
        return Timeline()
    return Timeline(bucket_s=float(max(b["t_end"] - b["t_start"] for b in buckets) or 1.0), buckets=buckets)


def analysis_timeline(*, analysis: Analysis) -> Timeline:
    """The stored buckets in time order (one query); empty when finalize stored none."""
    rows = TimelineBucket.objects.filter(analysis_id=analysis.pk).order_by("index")
    return timeline_of([bucket_dict(r) for r in rows])
