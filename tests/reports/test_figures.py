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
