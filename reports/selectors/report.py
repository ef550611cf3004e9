"""The whole analysis report, as one context for the page, its partials and the JSON export."""
from __future__ import annotations

from analysis.models import Analysis

from ..formatting import DEFINITIONS
from .model import analysis_model_info
from .moments import analysis_key_moments
from .statistics import analysis_statistics
from .summary import analysis_key_figures
from .timeline import analysis_timeline
from .tracks import analysis_tracks_page, track_columns


def analysis_report(*, analysis: Analysis, track_sort: str | None = None, track_page=1) -> dict:
    timeline = analysis_timeline(analysis=analysis)
    tracks, sort = analysis_tracks_page(analysis=analysis, sort=track_sort, page=track_page)
    return {
        "analysis": analysis,
        "figures": analysis_key_figures(analysis=analysis),
        "timeline": timeline,
        "moments": analysis_key_moments(analysis=analysis, timeline=timeline),
        "tracks": tracks,
        "track_sort": sort,
        "track_columns": track_columns(sort),
        "model": analysis_model_info(analysis=analysis),
        "statistics": analysis_statistics(analysis=analysis),
        "definitions": DEFINITIONS,
    }
