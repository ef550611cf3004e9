"""The segment pipeline on real clips with a real (tiny, trained) classifier, and the aggregation
functions on observations whose answers we know."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ml.engine.errors import VideoReadError
from ml.engine.labels import EMOTIONS
from ml.engine.pipeline import (Observation, aggregate_timeline, analyse_footage, analyse_segment,
                                relabel_tracks, stitch_tracks, summarise)
from ml.engine.video import probe_media

from .conftest import photo, video


class CountingClassifier:
    """The real classifier, counting how it is called (a spy, not a stand-in)."""

    def __init__(self, inner):
        self.inner = inner
        self.labels = inner.labels
        self.input_size = inner.input_size
        self.calls: list[int] = []

    def predict_proba(self, faces, batch_size=256):
        self.calls.append(len(faces))
        return self.inner.predict_proba(faces, batch_size=batch_size)


def test_segment_of_a_crowd_clip(yunet, classifier):
    result = analyse_segment(video("01"), detector=yunet, classifier=classifier, sample_fps=2.0)
    assert result.frames_analysed == 9 and len(result.frame_times) == 9
    assert result.faces_detected == len(result.observations) >= 50
    assert not result.cancelled and not result.stopped_early and result.warning == ""
    assert result.wall_time_s > 0 and set(result.timings) == {"decode", "detect", "classify"}
    ids = sorted({o.track_id for o in result.observations})
    assert ids == list(range(len(ids))) and result.track_count == len(ids)
    for o in result.observations:
        assert o.probs.shape == (7,) and o.probs.dtype == np.float32
        assert o.probs.sum() == pytest.approx(1.0, abs=1e-4)
        assert 0 <= o.x and o.x + o.w <= 1920 and 0 <= o.y and o.y + o.h <= 1080
        assert o.t == pytest.approx(o.frame_index / 25.0, abs=1e-3)
        assert o.score >= 0.6
    # Observations come in time order, and every box of the last sampled frame is in last_frame_boxes.
    assert [o.t for o in result.observations] == sorted(o.t for o in result.observations)
    last_t = result.observations[-1].t
    assert {o.track_id for o in result.observations if o.t == last_t} <= set(result.last_frame_boxes)
    first_t = result.observations[0].t
    assert {o.track_id for o in result.observations if o.t == first_t} <= set(result.first_frame_boxes)


def test_faces_are_classified_in_batches_across_frames(yunet, classifier):
    spy = CountingClassifier(classifier)
    result = analyse_segment(video("01"), detector=yunet, classifier=spy, sample_fps=2.0, batch_size=16)
    faces = result.faces_detected
    # Whole batches of 16 and one remainder: far fewer calls than frames with faces.
    assert spy.calls == [16] * (faces // 16) + ([faces % 16] if faces % 16 else [])
    assert len(spy.calls) < result.frames_analysed
    # A batch holds faces of several frames.
    first_batch_frames = {o.frame_index for o in result.observations[:16]}
    assert len(first_batch_frames) >= 2


def test_same_observations_whatever_the_batch_size(yunet, classifier):
    a = analyse_segment(video("07"), detector=yunet, classifier=classifier, sample_fps=4.0, batch_size=3)
    b = analyse_segment(video("07"), detector=yunet, classifier=classifier, sample_fps=4.0, batch_size=256)
    assert [(o.t, o.track_id, o.x, o.y, o.w, o.h) for o in a.observations] == \
           [(o.t, o.track_id, o.x, o.y, o.w, o.h) for o in b.observations]
    np.testing.assert_allclose(np.stack([o.probs for o in a.observations]),
                               np.stack([o.probs for o in b.observations]), atol=1e-5)


def test_cancellation_is_checked_between_batches(yunet, classifier):
    checks = []

    def should_cancel():
        checks.append(1)
        return len(checks) >= 2

    full = analyse_segment(video("03"), detector=yunet, classifier=classifier, sample_fps=2.0, batch_size=4)
    cut = analyse_segment(video("03"), detector=yunet, classifier=classifier, sample_fps=2.0, batch_size=4,
                          should_cancel=should_cancel)
    assert cut.cancelled and not full.cancelled
    assert len(checks) == 2
    assert len(cut.observations) == 8  # two batches of 4 were classified, then it stopped
    assert cut.frames_analysed < full.frames_analysed


def test_cancellation_is_checked_when_no_faces_are_found(tmp_path, yunet, classifier):
    blank = _write_clip(tmp_path / "blank.mp4", seconds=20, fps=10)
    checks = []
    result = analyse_segment(blank, detector=yunet, classifier=classifier, sample_fps=5.0,
                             should_cancel=lambda: checks.append(1) or True)
    assert result.cancelled and checks == [1]
    assert result.frames_analysed == 16  # CANCEL_CHECK_FRAMES


def test_progress_is_monotonic_and_ends_at_one(yunet, classifier, monkeypatch):
    import ml.engine.pipeline as pipeline
    monkeypatch.setattr(pipeline, "PROGRESS_INTERVAL_S", 0.0)  # report at every opportunity
    seen = []
    analyse_segment(video("03"), detector=yunet, classifier=classifier, sample_fps=2.0, batch_size=4,
                    t_start=4.0, t_end=14.0, on_progress=seen.append)
    assert len(seen) >= 3
    assert seen == sorted(seen) and 0.0 <= seen[0] and seen[-1] == 1.0


def test_footage_without_faces_is_a_normal_result(tmp_path, yunet, classifier):
    blank = _write_clip(tmp_path / "blank.mp4", seconds=3, fps=10)
    result = analyse_segment(blank, detector=yunet, classifier=classifier, sample_fps=2.0)
    assert result.frames_analysed == 6 and result.faces_detected == 0 and result.observations == []
    assert not result.cancelled and not result.stopped_early
    summary = summarise(result.observations, result.frames_analysed, 3.0)
    assert summary["faces_detected"] == 0 and summary["dominant_emotion"] is None
    assert summary["emotion_shares"] == {label: 0.0 for label in EMOTIONS}


def test_still_image_footage(yunet, classifier):
    result = analyse_segment(photo("14"), detector=yunet, classifier=classifier, sample_fps=2.0)
    assert result.frames_analysed == 1 and result.faces_detected == 7
    assert {o.t for o in result.observations} == {0.0}
    assert sorted(o.track_id for o in result.observations) == list(range(7))
    timeline = aggregate_timeline(result.observations, 60.0, 0.0, frame_times=result.frame_times)
    assert len(timeline) == 1 and timeline[0]["faces"] == 7 and timeline[0]["frames"] == 1
    assert timeline[0]["mean_faces_per_frame"] == 7.0


def test_truncated_clip_gives_partial_result_that_says_so(half_mp4, yunet, classifier):
    result = analyse_segment(half_mp4, detector=yunet, classifier=classifier, sample_fps=2.0)
    assert result.stopped_early and "truncated" in result.warning
    assert 15 <= result.frames_analysed <= 25  # about half of 40
    assert result.faces_detected >= 15


def test_unreadable_file_raises_a_clear_error(tmp_path, yunet, classifier):
    text = tmp_path / "clip.mp4"
    text.write_text("no video here")
    with pytest.raises(VideoReadError, match="not a video"):
        analyse_segment(text, detector=yunet, classifier=classifier, sample_fps=2.0)


def test_segments_stitched_match_one_run(yunet, classifier):
    """Analysing in 1-second segments (two samples each) and stitching gives the same observations
    as one run, and on this crowd clip the same number of faces: 20 people walking toward the
    camera, some swaying back and forth between samples."""
    path = video("01")
    duration = probe_media(path).duration_s
    one = analyse_segment(path, detector=yunet, classifier=classifier, sample_fps=2.0)
    segments = [analyse_segment(path, detector=yunet, classifier=classifier, sample_fps=2.0,
                                t_start=float(s), t_end=float(s + 1)) for s in range(math.ceil(duration))]
    maps = stitch_tracks(segments)
    stitched = [o for seg, m in zip(segments, maps) for o in relabel_tracks(seg.observations, m)]
    assert [(o.t, o.x, o.y, o.w, o.h) for o in stitched] == [(o.t, o.x, o.y, o.w, o.h) for o in one.observations]
    unique_one = len({o.track_id for o in one.observations})
    unique_stitched = len({o.track_id for o in stitched})
    without_stitching = sum(s.track_count for s in segments)
    assert unique_stitched < without_stitching
    assert unique_stitched == unique_one


def test_analyse_footage_end_to_end(yunet, classifier):
    path = video("03")
    info = probe_media(path)
    out = analyse_footage(path, detector=yunet, classifier=classifier, sample_fps=2.0, duration_s=info.duration_s,
                          segment_s=5.0, bucket_s=5.0)
    assert out["frames_analysed"] == 40 and out["faces_detected"] == 40 and out["unique_faces"] == 1
    assert len(out["timeline"]) == 4
    assert sum(b["faces"] for b in out["timeline"]) == 40
    assert sum(b["frames"] for b in out["timeline"]) == 40
    assert out["dominant_emotion"] in EMOTIONS
    assert not out["cancelled"] and not out["stopped_early"] and out["wall_time_s"] > 0


# --- aggregation on observations with known answers ------------------------------------------

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


def _write_clip(path, seconds: int, fps: int):
    """A real mp4 of a plain wall: footage with no faces."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    assert writer.isOpened()
    frame = np.full((240, 320, 3), 127, np.uint8)
    for i in range(seconds * fps):
        frame[:, :, 0] = 100 + (i % 20)  # a little change, so frames are not identical
        writer.write(frame)
    writer.release()
    return path


def test_prefetching_changes_nothing_but_speed(yunet, classifier):
    import threading
    before = threading.active_count()
    a = analyse_segment(video("07"), detector=yunet, classifier=classifier, sample_fps=4.0, prefetch=True)
    b = analyse_segment(video("07"), detector=yunet, classifier=classifier, sample_fps=4.0, prefetch=False)
    assert [(o.t, o.track_id, o.x, o.y, o.w, o.h) for o in a.observations] == \
           [(o.t, o.track_id, o.x, o.y, o.w, o.h) for o in b.observations]
    assert a.frame_times == b.frame_times
    assert threading.active_count() == before  # the decode thread has ended


def test_prefetch_thread_stops_on_cancel_and_errors_reach_the_caller(tmp_path, yunet, classifier):
    import threading
    before = threading.active_count()
    result = analyse_segment(video("03"), detector=yunet, classifier=classifier, sample_fps=8.0, batch_size=2,
                             should_cancel=lambda: True)
    assert result.cancelled and threading.active_count() == before
    text = tmp_path / "clip.mp4"
    text.write_text("no video here")
    with pytest.raises(VideoReadError):
        analyse_segment(text, detector=yunet, classifier=classifier, sample_fps=2.0, prefetch=True)
    assert threading.active_count() == before


def test_decode_thread_ends_when_detection_fails(yunet, classifier):
    import threading

    class FailingAfterTwo:
        """The real detector, which then fails: the error reaches the caller, no thread lingers."""
        name = "yunet"

        def __init__(self):
            self.calls = 0

        def detect(self, frame):
            self.calls += 1
            if self.calls > 2:
                raise RuntimeError("detector failed")
            return yunet.detect(frame)

    before = threading.active_count()
    with pytest.raises(RuntimeError, match="detector failed"):
        analyse_segment(video("03"), detector=FailingAfterTwo(), classifier=classifier, sample_fps=4.0)
    assert threading.active_count() == before
