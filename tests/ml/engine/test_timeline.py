"""The timeline's one owner: the bucket-width rule, the sampling grid and the aggregation, on
observations whose answers we know (no files, no model)."""
from __future__ import annotations

import numpy as np
import pytest

from ml.engine.labels import EMOTIONS
from ml.engine.pipeline import Observation
from ml.engine.timeline import (aggregate_timeline, bucket_count, bucket_seconds, grid_frame_count, grid_frames,
                                summarise)


@pytest.mark.parametrize("duration, fps, expected_width, expected_count", [
    (3600, 2, 60, 60),       # 1 h at the 60 s default
    (36000, 2, 300, 120),    # 10 h: capped at 120 buckets
    (20, 2, 2, 10),          # a 20 s clip still gets ten
    (4.2, 2, 0.5, 9),        # never narrower than the sampling interval
    (2.4, 5, 0.25, 10),
])
def test_bucket_width_rules(duration, fps, expected_width, expected_count):
    width = bucket_seconds(duration, fps, preferred_s=60)
    assert width == expected_width
    assert bucket_count(duration, width) == expected_count


def test_bucket_width_of_a_still_image_and_a_preferred_width():
    assert bucket_seconds(0.0, 2.0, preferred_s=60) == 60.0  # one bucket, whatever its width
    assert bucket_count(0.0, 60.0) == 1
    assert bucket_seconds(3600, 2, preferred_s=30) == 30.0   # a site may prefer narrower buckets
    assert bucket_seconds(3600, 2, preferred_s=None) == 60.0


def test_the_sampling_grid():
    assert grid_frame_count(26.0, 2.0) == 52         # t = 0, 0.5, ..., 25.5
    assert grid_frame_count(0.0, 2.0) == 1           # a still image is one frame at t = 0
    assert grid_frames(0.0, 10.0, 2.0) == 20
    assert grid_frames(10.0, 10.0, 2.0) == 0
    assert grid_frames(20.0, 30.0, 2.0, duration_s=26.0) == 12   # none past the clip's last frame
    assert grid_frames(20.0, float("inf"), 2.0, duration_s=26.0) == 12
    assert grid_frames(0.0, 1.0, 3.0) == 3 and grid_frames(1.0, 2.0, 3.0) == 3  # t = 1.0 counts once
    with pytest.raises(ValueError, match="duration_s"):
        grid_frames(0.0, float("inf"), 2.0)


# --- aggregation ------------------------------------------------------------------------------

def _obs(t, track, label, p=0.7):
    probs = np.full(7, (1 - p) / 6, np.float32)
    probs[EMOTIONS.index(label)] = p
    return Observation(t=t, frame_index=int(t * 10), track_id=track, x=0, y=0, w=10, h=10, score=0.9, probs=probs)


OBSERVATIONS = [
    _obs(0.0, 0, "happy"), _obs(0.0, 1, "sad"), _obs(0.5, 0, "happy"), _obs(0.5, 1, "happy"),
    _obs(10.0, 0, "angry"), _obs(25.5, 2, "neutral"),
]


def test_aggregate_timeline_counts_and_shares():
    frame_times = [0.0, 0.5, 1.0, 10.0, 20.0, 25.5]
    buckets = aggregate_timeline(OBSERVATIONS, 10.0, 26.0, EMOTIONS, frame_times=frame_times)
    assert [(b["t_start"], b["t_end"]) for b in buckets] == [(0.0, 10.0), (10.0, 20.0), (20.0, 26.0)]
    b0, b1, b2 = buckets
    assert (b0["frames"], b0["faces"], b0["unique_tracks"]) == (3, 4, 2)
    assert b0["mean_faces_per_frame"] == pytest.approx(4 / 3, abs=1e-4)
    assert b0["emotion_counts"]["happy"] == 3 and b0["emotion_counts"]["sad"] == 1
    assert b0["emotion_shares"]["happy"] == 0.75 and b0["emotion_shares"]["sad"] == 0.25
    assert b0["mean_probabilities"]["happy"] == pytest.approx((0.7 * 3 + 0.05) / 4, abs=1e-4)
    assert sum(b0["mean_probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert (b1["frames"], b1["faces"], b1["emotion_shares"]["angry"]) == (1, 1, 1.0)
    assert (b2["frames"], b2["faces"], b2["emotion_shares"]["neutral"]) == (2, 1, 1.0)
    assert [b["index"] for b in buckets] == [0, 1, 2]


def test_empty_bucket_is_zero_not_missing():
    buckets = aggregate_timeline(OBSERVATIONS, 5.0, 30.0, frame_times=[])
    assert len(buckets) == 6
    assert buckets[3]["faces"] == 0 and buckets[3]["emotion_shares"] == {label: 0.0 for label in EMOTIONS}
    assert buckets[3]["mean_faces_per_frame"] == 0.0


def test_frames_from_the_sampling_grid():
    buckets = aggregate_timeline(OBSERVATIONS, 10.0, 26.0, sample_fps=2.0)
    assert [b["frames"] for b in buckets] == [20, 20, 12]
    # A 1 fps clip sampled at 2 fps gives 1 frame per second.
    assert [b["frames"] for b in aggregate_timeline([], 10.0, 26.0, sample_fps=2.0, fps=1.0)] == [10, 10, 6]


@pytest.mark.parametrize("duration, rate, bucket_s", [(26.0, 2.0, 10.0), (2.4, 5.0, 0.25), (4.2, 2.0, 0.5),
                                                       (7.0, 3.0, 1.0), (0.0, 2.0, 60.0)])
def test_the_grid_counts_the_frames_a_run_samples(duration, rate, bucket_s):
    """Frames per bucket from the grid rule equal those counted from the sampled instants themselves."""
    instants = [k / rate for k in range(grid_frame_count(duration, rate))]
    assert [b["frames"] for b in aggregate_timeline([], bucket_s, duration, sample_fps=rate)] == \
           [b["frames"] for b in aggregate_timeline([], bucket_s, duration, frame_times=instants)]


def test_frames_without_grid_count_frames_with_faces():
    buckets = aggregate_timeline(OBSERVATIONS, 10.0, 26.0)
    assert [b["frames"] for b in buckets] == [2, 1, 1]


def test_aggregation_accepts_rows_with_probability_fields():
    rows = []
    for o in OBSERVATIONS:
        row = {"t": o.t, "track_id": o.track_id}
        row.update({f"p_{label}": float(p) for label, p in zip(EMOTIONS, o.probs)})
        rows.append(row)
    assert aggregate_timeline(rows, 10.0, 26.0, frame_times=[0, 10, 20]) == \
           aggregate_timeline(OBSERVATIONS, 10.0, 26.0, frame_times=[0, 10, 20])
    assert summarise(rows, 6, 26.0) == summarise(OBSERVATIONS, 6, 26.0)

    class Row:  # like a FaceObservation model instance: attributes, p_<label> fields, no probs
        def __init__(self, mapping):
            self.__dict__.update(mapping)

    objects = [Row(r) for r in rows]
    assert aggregate_timeline(objects, 10.0, 26.0, frame_times=[0, 10, 20]) == \
           aggregate_timeline(OBSERVATIONS, 10.0, 26.0, frame_times=[0, 10, 20])
    assert summarise(iter(objects), 6, 26.0) == summarise(OBSERVATIONS, 6, 26.0)  # a stream is fine


def test_summarise():
    s = summarise(OBSERVATIONS, frames_analysed=6, duration_s=26.0)
    assert s["frames_analysed"] == 6 and s["faces_detected"] == 6 and s["unique_faces"] == 3
    assert s["duration_s"] == 26.0 and s["dominant_emotion"] == "happy"
    assert s["emotion_shares"]["happy"] == pytest.approx(0.5, abs=1e-4)
    assert sum(s["emotion_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert s["emotion_counts"] == {"angry": 1, "disgust": 0, "fear": 0, "happy": 3, "sad": 1, "surprise": 0,
                                   "neutral": 1}


def test_observation_at_the_very_end_falls_in_the_last_bucket():
    buckets = aggregate_timeline([_obs(30.0, 0, "fear")], 10.0, 30.0, frame_times=[30.0])
    assert len(buckets) == 3 and buckets[-1]["faces"] == 1 and buckets[-1]["frames"] == 1


def test_bad_bucket_width():
    with pytest.raises(ValueError, match="bucket_s"):
        aggregate_timeline(OBSERVATIONS, 0, 26.0)
