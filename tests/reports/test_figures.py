"""Figure builders: the expected traces, one colour per emotion on every chart, small JSON."""
from __future__ import annotations

import json

import pytest

from reports import figures as rf
from emo7ion_site.plotting import EMOTION_COLOURS, figure_json
from ml.engine.labels import EMOTIONS


def _bucket(i: int, size: float = 60.0, faces: int = 10, shares: dict | None = None) -> dict:
    shares = shares or {e: (1.0 if e == "happy" else 0.0) for e in EMOTIONS}
    return {"index": i, "t_start": i * size, "t_end": (i + 1) * size, "frames": 5, "faces": faces,
            "mean_faces_per_frame": faces / 5, "unique_tracks": 3,
            "emotion_counts": {e: round(shares[e] * faces) for e in EMOTIONS}, "emotion_shares": shares,
            "mean_probabilities": shares}


@pytest.fixture
def buckets():
    return [_bucket(0), _bucket(1, shares={e: (0.5 if e in ("sad", "neutral") else 0.0) for e in EMOTIONS}),
            _bucket(2, faces=0, shares={e: 0.0 for e in EMOTIONS})]


def test_timeline_is_stacked_shares_with_faces_on_a_second_axis(buckets):
    fig = rf.emotion_timeline_figure(buckets)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [t.name for t in bars] == list(EMOTIONS)
    assert [t.marker.color for t in bars] == [EMOTION_COLOURS[e] for e in EMOTIONS]
    assert list(bars[EMOTIONS.index("sad")].y) == [0.0, 0.5, None]   # no faces: no bar, not 0%
    faces = [t for t in fig.data if t.type == "scatter"]
    assert len(faces) == 1 and faces[0].yaxis == "y2" and list(faces[0].y) == [2.0, 2.0, 0.0]
    assert fig.layout.barmode == "stack"
    assert fig.layout.yaxis2.overlaying == "y" and fig.layout.yaxis2.side == "right"
    assert fig.layout.yaxis.range == (0, 1)


def test_time_axis_switches_to_minutes_for_long_footage(buckets):
    assert list(rf.emotion_timeline_figure(buckets).data[0].x) == [30.0, 90.0, 150.0]  # 180 s: seconds
    long = [_bucket(i) for i in range(60)]                                            # 1 h: minutes
    fig = rf.emotion_timeline_figure(long)
    assert fig.data[0].x[0] == 0.5 and "minutes" in fig.layout.xaxis.title.text


def test_crowd_size_distribution_and_heatmap(buckets):
    crowd = rf.crowd_size_figure(buckets)
    assert list(crowd.data[0].y) == [2.0, 2.0, 0.0] and list(crowd.data[1].y) == [3, 3, 3]
    # Counts of faces are not emotions: they never borrow an emotion's colour.
    assert crowd.data[0].marker.color not in EMOTION_COLOURS.values()

    shares = {"angry": 0.1, "disgust": 0.0, "fear": 0.05, "happy": 0.4, "sad": 0.05, "surprise": 0.1, "neutral": 0.3}
    dist = rf.emotion_distribution_figure(shares)
    assert list(dist.data[0].y) == list(EMOTIONS)
    assert list(dist.data[0].x) == [shares[e] for e in EMOTIONS]
    assert list(dist.data[0].marker.color) == [EMOTION_COLOURS[e] for e in EMOTIONS]
    assert dist.data[0].text[EMOTIONS.index("happy")] == "40%"

    heat = rf.emotion_heatmap_figure(buckets)
    z = heat.data[0].z
    assert len(z) == len(EMOTIONS) and len(z[0]) == 3
    assert z[EMOTIONS.index("happy")][0] == 1.0 and z[EMOTIONS.index("sad")][1] == 0.5
    # the emotion axis labels carry each emotion's colour
    assert all(EMOTION_COLOURS[e] in label for e, label in zip(EMOTIONS, heat.layout.yaxis.ticktext))


def test_project_figures_keep_the_emotion_colours(buckets):
    rows = [{"label": "day-1.mp4", "emotion_shares": {e: 1 / 7 for e in EMOTIONS}},
            {"label": "day-2.mp4", "emotion_shares": {e: (1.0 if e == "fear" else 0.0) for e in EMOTIONS}}]
    fig = rf.project_shares_figure(rows)
    assert fig.layout.barmode == "group"
    assert [(t.name, t.marker.color) for t in fig.data] == [(e, EMOTION_COLOURS[e]) for e in EMOTIONS]
    assert list(fig.data[EMOTIONS.index("fear")].y) == [round(1 / 7, 4), 1.0]
    assert list(fig.data[0].x) == ["1. day-1.mp4", "2. day-2.mp4"]
    timeline = rf.project_timeline_figure(buckets)
    assert "each clip started" in timeline.layout.xaxis.title.text


def test_figures_serialise_small_and_script_safe(buckets):
    figs = rf.analysis_figures(timeline_buckets=buckets, shares={e: 1 / 7 for e in EMOTIONS})
    assert set(figs) == {"fig-timeline", "fig-crowd", "fig-distribution", "fig-heatmap"}
    for fig in figs.values():
        text = figure_json(fig)
        assert "</" not in text                      # cannot close the <script> it is embedded in
        assert len(text) < 12_000                    # no 6 kB default template per chart
        assert json.loads(text)["data"]


def test_figures_are_pure_functions_of_buckets():
    """The one timeline builder (the analysis page's own builder is gone): shares per window, and a
    window without faces has no bar rather than 0% of everything."""
    buckets = [{"t_start": 0, "t_end": 10, "faces": 4, "mean_faces_per_frame": 2.0,
                "emotion_shares": {"happy": 0.75, "sad": 0.25}},
               {"t_start": 10, "t_end": 20, "faces": 0, "mean_faces_per_frame": 0.0, "emotion_shares": {}}]
    fig = rf.emotion_timeline_figure(buckets)
    happy = next(t for t in fig.data if t.name == "happy")
    assert list(happy.x) == [5.0, 15.0] and list(happy.y) == [0.75, None]


# --- crowd statistics: bands, too-few-tracks marks, attention, derived valence/arousal ------------------

def _with_statistics(bucket: dict, *, too_few: bool, attention=None, valence=None) -> dict:
    shares = bucket["emotion_shares"]
    positive = shares.get("happy", 0.0) + shares.get("surprise", 0.0)
    return {**bucket, "too_few_tracks": too_few,
            "intervals": {} if too_few else {"positive": [max(0.0, positive - 0.2), min(1.0, positive + 0.1)],
                                             "negative": [0.0, 0.3], "neutral": [0.0, 0.4]},
            "attention": attention, "attention_interval": None if too_few or attention is None else [0.4, 0.8],
            "valence": valence, "valence_interval": None if too_few or valence is None else [valence - 0.1, valence + 0.1],
            "arousal": valence, "arousal_interval": None}


@pytest.fixture
def stat_buckets(buckets):
    return [_with_statistics(buckets[0], too_few=False, attention=0.6, valence=0.8),
            _with_statistics(buckets[1], too_few=True, attention=1.0, valence=-0.5),
            _with_statistics(buckets[2], too_few=True)]


def test_share_intervals_are_bands_and_too_few_tracks_are_crosses(stat_buckets):
    fig = rf.share_intervals_figure(stat_buckets)
    by_name = {t.name: t for t in fig.data}
    upper, lower, line = by_name["positive (95% upper)"], by_name["positive (95% lower)"], by_name["positive"]
    assert list(upper.y) == [1.0, None, None] and list(lower.y) == [0.8, None, None] and lower.fill == "tonexty"
    assert list(line.y) == [1.0, None, None]          # a window with too few tracks is no sure point
    crosses = by_name["too few tracks (no interval)"]
    assert list(crosses.y) == [None, 0.0, None]       # faces but too few tracks; no faces: nothing at all
    assert line.line.color == EMOTION_COLOURS["happy"]
    assert fig.layout.yaxis.range == (0, 1)


def test_attention_and_affect_figures(stat_buckets):
    attention = rf.attention_figure(stat_buckets)
    line = next(t for t in attention.data if t.name == "facing the camera")
    assert list(line.y) == [0.6, 1.0, None]
    assert list(next(t for t in attention.data if t.fill == "tonexty").y) == [0.4, None, None]
    affect = rf.affect_figure(stat_buckets)
    assert {t.name for t in affect.data if t.mode == "lines+markers"} == {"valence (derived)", "arousal (derived)"}
    assert affect.layout.yaxis.range == (-1, 1) and "not measured" in affect.layout.yaxis.title.text
    figs = rf.statistics_figures(timeline_buckets=stat_buckets, attention_available=False)
    assert list(figs) == ["fig-intervals", "fig-affect"]          # no head poses: no attention chart
    both = rf.statistics_figures(timeline_buckets=stat_buckets, attention_available=True)
    assert list(both) == ["fig-intervals", "fig-attention", "fig-affect"]
    for fig in both.values():
        assert len(figure_json(fig)) < 12_000 and "</" not in figure_json(fig)
