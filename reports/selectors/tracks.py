"""The per-track table: one row per face track, sorted and paginated in the database."""
from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import Avg, Count, F, Max, Min
from django.utils.functional import cached_property

from analysis.models import Analysis
from emo7ion_site.plotting import EMOTION_COLOURS
from ml.engine.labels import EMOTIONS

from ..formatting import colour_of, dominant_of, emotion_rows, format_timestamp
from .summary import observations_of

TRACKS_PER_PAGE = 25
TRACK_SORTS = {
    "track": "track_id", "first": "first_seen", "last": "last_seen", "seen": "seen_for",
    "observations": "observations", **{e: f"mean_{e}" for e in EMOTIONS},
}
DEFAULT_TRACK_SORT = "-observations"
TRACK_COLUMN_LABELS = (("track", "Track"), ("first", "First seen"), ("last", "Last seen"), ("seen", "In view for"),
                       ("observations", "Observations"))
EARLIEST_FIRST = ("track", "first", "last")


class _TrackPaginator(Paginator):
    """Counts tracks with COUNT(DISTINCT track_id), which the (analysis, track_id) index answers
    alone, instead of Django's default COUNT over the whole GROUP BY subquery."""

    def __init__(self, object_list, per_page, *, analysis: Analysis, **kwargs):
        super().__init__(object_list, per_page, **kwargs)
        self._analysis = analysis

    @cached_property
    def count(self):
        return observations_of(self._analysis).aggregate(n=Count("track_id", distinct=True))["n"]


def track_columns(sort: str) -> list[dict]:
    """Table headers with the sort each one applies when clicked (clicking the sorted column reverses it;
    numbers start with the largest first, times with the earliest)."""
    current, descending = sort.lstrip("-"), sort.startswith("-")
    columns = [{"key": k, "label": label, "colour": None} for k, label in TRACK_COLUMN_LABELS]
    columns += [{"key": e, "label": e, "colour": EMOTION_COLOURS[e]} for e in EMOTIONS]
    for c in columns:
        if c["key"] == current:
            c["state"] = "descending" if descending else "ascending"
            c["next_sort"] = c["key"] if descending else f"-{c['key']}"
        else:
            c["state"] = "none"
            c["next_sort"] = c["key"] if c["key"] in EARLIEST_FIRST else f"-{c['key']}"
    return columns


def clean_track_sort(sort: str | None) -> str:
    sort = (sort or DEFAULT_TRACK_SORT).strip()
    return sort if sort.lstrip("-") in TRACK_SORTS else DEFAULT_TRACK_SORT


def _track_row(r: dict) -> dict:
    means = {e: float(r[f"mean_{e}"] or 0.0) for e in EMOTIONS}
    dominant = dominant_of(means)
    return {**r, "means": means, "mean_rows": emotion_rows(means), "dominant": dominant,
            "dominant_colour": colour_of(dominant), "first": format_timestamp(r["first_seen"]),
            "last": format_timestamp(r["last_seen"]), "seen": format_timestamp(r["seen_for"])}


def analysis_tracks_page(*, analysis: Analysis, sort: str | None = None, page: int | str | None = 1,
                         per_page: int = TRACKS_PER_PAGE) -> tuple[Page, str]:
    """One page of face tracks (first/last seen, observations, mean probability per emotion), sorted
    in the database. Returns (page, the sort actually applied)."""
    sort = clean_track_sort(sort)
    direction = "-" if sort.startswith("-") else ""
    qs = (observations_of(analysis).order_by().values("track_id")
          .annotate(first_seen=Min("t"), last_seen=Max("t"), observations=Count("id"),
                    **{f"mean_{e}": Avg(f"p_{e}") for e in EMOTIONS})
          .annotate(seen_for=F("last_seen") - F("first_seen"))
          .order_by(f"{direction}{TRACK_SORTS[sort.lstrip('-')]}", "track_id"))
    page_obj = _TrackPaginator(qs, per_page, analysis=analysis).get_page(page)
    page_obj.object_list = [_track_row(r) for r in page_obj.object_list]
    return page_obj, sort
