"""Moments a user marked on an analysis ("Opening act", "Q&A"), side by side as a reader sees them:
each number with its 95% interval, and the differences flagged between pairs. The numbers come from
`analysis.selectors.moment_comparison` (ml.engine.comparison); this module only words them. Not the
key moments (`.moments`), which the numbers pick."""
from __future__ import annotations

from analysis import selectors as analysis_selectors
from analysis.models import Analysis
from ml.engine.comparison import estimate_of
from ml.engine.labels import EMOTIONS

from ..formatting import (METRIC_LABELS, METRIC_ROWS, colour_of, format_timestamp, metric_difference, metric_number,
                          statistic_cell)
from .summary import duration_of


def flagged_differences(pair: dict, first: tuple[str, dict], second: tuple[str, dict]) -> list[dict]:
    """The flagged numbers of one compared pair, worded: `first`/`second` are (name, statistics)."""
    (first_name, first_stats), (second_name, second_stats) = first, second
    worded = []
    for d in pair["metrics"]:
        if not d["flagged"]:
            continue
        metric = d["metric"]
        worded.append({"first": first_name, "second": second_name, "metric": metric,
                       "label": METRIC_LABELS.get(metric, metric),
                       "from": metric_number(metric, estimate_of(first_stats, metric)["value"]),
                       "to": metric_number(metric, estimate_of(second_stats, metric)["value"]),
                       "difference": metric_difference(metric, d["difference"]), "p_value": d["p_value"]})
    return worded


def analysis_marked_moments(*, analysis: Analysis) -> dict:
    """The moments (time order), the side-by-side `rows` (one per number, one cell per moment) and the
    flagged differences of every pair, worded."""
    comparison = analysis_selectors.moment_comparison(analysis)
    moments = [{"id": m["id"], "name": m["name"], "t_start": m["t_start"], "t_end": m["t_end"],
                "start": format_timestamp(m["t_start"]), "end": format_timestamp(m["t_end"]),
                "tracks": m["statistics"]["tracks"], "observations": m["statistics"]["observations"],
                "too_few_tracks": m["statistics"]["too_few_tracks"], "statistics": m["statistics"]}
               for m in comparison["moments"]]
    by_id = {m["id"]: m for m in moments}
    rows = [{"metric": metric, "label": label, "colour": colour_of(metric) if metric in EMOTIONS else None,
             "cells": [statistic_cell(metric, estimate_of(m["statistics"], metric),
                                      pose_observations=m["statistics"]["attention"]["observations_with_pose"])
                       for m in moments]}
            for metric, label in METRIC_ROWS] if moments else []
    flagged = []
    for pair in comparison["differences"]:
        first, second = by_id[pair["first"]], by_id[pair["second"]]
        flagged += flagged_differences(pair, (first["name"], first["statistics"]),
                                       (second["name"], second["statistics"]))
    return {"moments": moments, "rows": rows, "flagged": flagged, "pairs": len(comparison["differences"]),
            "method": comparison["method"], "duration": format_timestamp(duration_of(analysis))}
