"""Report selectors (reads), one module per subject, re-exported here:

- summary:    key figures of an analysis
- timeline:   the stored timeline buckets
- moments:    key moments and the boxes of their frames
- marked_moments: the moments a user marked, side by side with their intervals and flagged differences
- tracks:     the per-track table
- model:      the model version that made an analysis, with its measured accuracy and audit
- comparison: the project report (latest analysis per footage, side by side and on one clock)
- statistics: the crowd statistics (intervals over tracks, attention, derived valence) and engagement
- report:     the whole analysis report
"""
from .comparison import project_comparison, project_timeline
from .marked_moments import analysis_marked_moments
from .model import analysis_model_info
from .moments import MOMENTS_PER_KIND, analysis_key_moments, frame_has_faces, frame_observations
from .report import analysis_report
from .statistics import analysis_statistics
from .summary import analysis_key_figures, duration_of, observations_of
from .timeline import Timeline, analysis_timeline
from .tracks import DEFAULT_TRACK_SORT, TRACKS_PER_PAGE, analysis_tracks_page, clean_track_sort, track_columns

__all__ = [
    "DEFAULT_TRACK_SORT", "MOMENTS_PER_KIND", "TRACKS_PER_PAGE", "Timeline", "analysis_key_figures", "analysis_marked_moments",
    "analysis_key_moments", "analysis_model_info", "analysis_report", "analysis_statistics", "analysis_timeline",
    "analysis_tracks_page", "clean_track_sort", "duration_of", "frame_has_faces", "frame_observations", "observations_of",
    "project_comparison", "project_timeline", "track_columns",
]
