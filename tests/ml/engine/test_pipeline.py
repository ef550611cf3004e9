"""The frame pipeline on real clips with a real (tiny, trained) classifier: any frame source
(`analyse_frames`) and a file's segments (`analyse_segment`). The timeline aggregation has its own
tests in test_timeline.py."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from ml.engine.errors import VideoReadError
from ml.engine.labels import EMOTIONS
from ml.engine.pipeline import analyse_footage, analyse_frames, analyse_segment, relabel_tracks
from ml.engine.timeline import aggregate_timeline, summarise
from ml.engine.tracker import stitch_tracks
from ml.engine.video import probe_media

from .conftest import decoded_frames, photo, video


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


def test_frames_from_a_list_give_the_observations_of_the_same_frames_in_a_file(tmp_path, yunet, classifier):
    """`analyse_frames` needs no file: fed the decoded frames of a clip from memory, it finds what
    `analyse_segment` finds reading that clip (the seam a live camera uses)."""
    path = tmp_path / "webcam-5fps.mp4"
    source = cv2.VideoCapture(str(video("07")))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (640, 360))
    for _ in range(12):
        ok, frame = source.read()
        assert ok
        writer.write(cv2.resize(frame, (640, 360)))
    source.release()
    writer.release()
    in_memory = [(i / 5.0, frame) for i, frame in enumerate(decoded_frames(path))]
    assert len(in_memory) == 12

    from_file = analyse_segment(path, detector=yunet, classifier=classifier, sample_fps=5.0, batch_size=4)
    from_list = analyse_frames(in_memory, detector=yunet, classifier=classifier, batch_size=4)

    assert from_file.faces_detected >= 10  # one person facing a webcam, in (nearly) every frame
    assert from_list.frames_analysed == from_file.frames_analysed == 12
    assert from_list.frame_times == pytest.approx(from_file.frame_times, abs=1e-3)
    assert [(o.frame_index, o.track_id, o.x, o.y, o.w, o.h, o.score) for o in from_list.observations] == \
           [(o.frame_index, o.track_id, o.x, o.y, o.w, o.h, o.score) for o in from_file.observations]
    assert [o.t for o in from_list.observations] == pytest.approx([o.t for o in from_file.observations], abs=1e-3)
    np.testing.assert_allclose(np.stack([o.probs for o in from_list.observations]),
                               np.stack([o.probs for o in from_file.observations]), atol=1e-5)
    assert from_list.track_count == from_file.track_count
    assert from_list.last_frame_boxes == from_file.last_frame_boxes

    # A source that knows its frame numbers keeps them (a file segment starting part way does).
    numbered = analyse_frames(((t, frame, 100 + i) for i, (t, frame) in enumerate(in_memory)),
                              detector=yunet, classifier=classifier)
    assert {o.frame_index for o in numbered.observations} == {o.frame_index + 100 for o in from_list.observations}


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


class SlowStages:
    """A frame source, detector and classifier that record how far each stage runs ahead of the next:
    the detector is slow (the source must wait), then the classifier is slow (detection must wait)."""

    def __init__(self, detect_s: float = 0.0, classify_s: float = 0.0, faces_per_frame: int = 3):
        import threading
        self.detect_s, self.classify_s, self.faces_per_frame = detect_s, classify_s, faces_per_frame
        self.pulled = self.detected_frames = self.detected_faces = self.classified = 0
        self.source_lead: list[int] = []   # frames read but not yet detected
        self.faces_waiting: list[int] = []  # faces detected but not yet classified
        self.threads: set[str] = set()
        self.labels, self.input_size, self.name = list(EMOTIONS), 48, "stub"
        self._lock = threading.Lock()

    def frames(self, n: int):
        frame = np.zeros((120, 160, 3), np.uint8)
        for i in range(n):
            self.pulled += 1
            yield i / 25.0, frame

    def detect(self, frame):
        import threading
        import time as _time
        from ml.engine.detectors import FaceBox
        self.threads.update(t.name for t in threading.enumerate())
        _time.sleep(self.detect_s)
        self.source_lead.append(self.pulled - self.detected_frames)
        with self._lock:
            self.faces_waiting.append(self.detected_faces - self.classified)
        self.detected_frames += 1
        self.detected_faces += self.faces_per_frame
        return [FaceBox(10 + 40 * i, 10, 30, 36, score=0.9) for i in range(self.faces_per_frame)]

    def predict_proba(self, faces, batch_size=256):
        import threading
        import time as _time
        self.threads.add(f"classified on {threading.current_thread().name}")
        _time.sleep(self.classify_s)
        with self._lock:
            self.classified += len(faces)
        return np.full((len(faces), 7), 1 / 7, np.float32)


def test_every_stage_is_bounded_when_the_next_one_is_slow():
    """A slow detector never lets decoded frames pile up (at most PREFETCH_DEPTH ahead), and a slow
    classifier never lets detected faces pile up (at most the batches in flight plus one): a long
    footage costs no more memory than a short one, whichever stage is the bottleneck."""
    from ml.engine.video import PREFETCH_DEPTH

    slow_detector = SlowStages(detect_s=0.01)
    result = analyse_frames(slow_detector.frames(60), detector=slow_detector, classifier=slow_detector,
                            batch_size=8, prefetch=True, cpus=2)
    assert result.frames_analysed == 60 and len(result.observations) == 180
    assert max(slow_detector.source_lead) <= PREFETCH_DEPTH + 2
    assert max(slow_detector.source_lead) >= 2  # and the reader did run ahead: decoding overlapped

    slow_classifier = SlowStages(classify_s=0.05)
    result = analyse_frames(slow_classifier.frames(60), detector=slow_classifier, classifier=slow_classifier,
                            batch_size=8, prefetch=True, cpus=2)
    assert result.frames_analysed == 60 and len(result.observations) == 180
    # In flight: one batch being classified, one being filled, and the frame that filled it.
    assert max(slow_classifier.faces_waiting) <= 2 * 8 + 3
    assert max(slow_classifier.faces_waiting) > 8  # detection went on while a batch was classified


def test_threads_follow_the_cores_available(monkeypatch):
    import os
    import threading

    before = threading.active_count()
    two = SlowStages()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    result = analyse_frames(two.frames(40), detector=two, classifier=two, batch_size=8, prefetch=True)
    assert result.cpus == 2 and {"emo7ion-decode"} <= two.threads
    assert any(name.startswith("emo7ion-classify") for name in two.threads)

    one = SlowStages()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3})
    result = analyse_frames(one.frames(40), detector=one, classifier=one, batch_size=8, prefetch=True)
    assert result.cpus == 1 and not any("emo7ion" in name for name in one.threads)
    assert "classified on MainThread" in one.threads
    assert [o.track_id for o in result.observations] == [o.track_id for o in analyse_frames(
        two.frames(40), detector=two, classifier=two, batch_size=8).observations]

    # One frame at a time (a live source): nothing to overlap, so no thread is started for it.
    frame_by_frame = SlowStages()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1})
    result = analyse_frames(frame_by_frame.frames(1), detector=frame_by_frame, classifier=frame_by_frame)
    assert len(result.observations) == 3 and frame_by_frame.threads >= {"classified on MainThread"}
    assert not any("emo7ion" in name for name in frame_by_frame.threads)
    assert threading.active_count() == before


def test_streamed_observations_are_the_ones_a_run_keeps(yunet, classifier):
    """With `on_observations`, batches are handed over as they are classified and not kept: the
    same observations, in the same order, and the time spent storing them is measured."""
    batches = []
    streamed = analyse_segment(video("07"), detector=yunet, classifier=classifier, sample_fps=10.0, batch_size=4,
                               on_observations=batches.append)
    kept = analyse_segment(video("07"), detector=yunet, classifier=classifier, sample_fps=10.0, batch_size=4)
    assert streamed.observations == [] and len(batches) >= 5 and all(len(b) <= 4 for b in batches)
    flat = [o for batch in batches for o in batch]
    assert [(o.t, o.track_id, o.x, o.y, o.w, o.h) for o in flat] == \
           [(o.t, o.track_id, o.x, o.y, o.w, o.h) for o in kept.observations]
    assert streamed.faces_detected == kept.faces_detected == len(flat)
    assert set(streamed.timings) == {"decode", "detect", "classify", "store"}


def test_adaptive_schedule_through_the_pipeline(yunet, classifier):
    """A webcam clip at every frame: the adaptive schedule finds the one face in (nearly) every frame
    the full schedule does, with fewer full detections, and the result says which schedule ran."""
    full = analyse_segment(video("07"), detector=yunet, classifier=classifier, sample_fps=30.0)
    adaptive = analyse_segment(video("07"), detector=yunet, classifier=classifier, sample_fps=30.0,
                               schedule="adaptive")
    assert full.schedule == "full" and adaptive.schedule == "adaptive"
    assert full.frames_analysed == adaptive.frames_analysed == 72
    assert adaptive.faces_detected >= 0.95 * full.faces_detected and full.faces_detected >= 65
    assert adaptive.unique_faces == 1
    assert adaptive.schedule_stats["full_detections"] < adaptive.frames_analysed
    assert full.schedule_stats["full_detections"] == 72
    # ... and what ran the detector's network (ONNX Runtime, the default where installed).
    assert full.schedule_stats["detector_runtime"] == adaptive.schedule_stats["detector_runtime"] == "onnxruntime"
