"""The pipeline steps the workers and the command line share: plan, segments, finalize.

These run the steps in this process on real clips with the tiny trained model; the worker
process itself is exercised in tests/integration.
"""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage

from analysis import services, tasks
from analysis.models import Analysis, AnalysisSegment, FaceObservation, TimelineBucket
from analysis.signals import analysis_finished
from ml.engine.labels import EMOTIONS

from .conftest import clip, faceless_clip, upload

OBS_FIELDS = ("segment_index", "t", "frame_index", "track_id", "segment_track_id", "x", "y", "w", "h",
              "detector_score", *FaceObservation.PROB_FIELDS, "top_emotion")


def observations(analysis):
    return list(FaceObservation.objects.filter(analysis=analysis).order_by("segment_index", "t", "x", "y")
                .values_list(*OBS_FIELDS))


@pytest.fixture
def webcam(project_a, alice):
    return upload(project_a, clip("07_*"), alice)


def start(footage, user, **kw):
    return services.analysis_create(footage=footage, created_by=user, detector=kw.pop("detector", "haar"),
                                    enqueue=False, **kw)


def test_inline_run_succeeds_with_summary_buckets_and_observations(webcam, alice, model_version):
    analysis = services.analysis_run_inline(analysis=start(webcam, alice, sample_fps=5))

    assert analysis.status == Analysis.Status.SUCCEEDED, analysis.error
    assert analysis.progress == 1.0 and analysis.finished_at and analysis.started_at
    s = analysis.summary
    assert s["frames_analysed"] == 12  # 2.4 s at 5 fps
    assert s["faces_detected"] == FaceObservation.objects.filter(analysis=analysis).count() > 0
    assert s["faces_detected"] >= 10  # one person facing a webcam: found in (nearly) every frame
    assert s["unique_faces"] == 1
    assert s["duration_s"] == pytest.approx(2.4, abs=0.05)
    assert set(s["emotion_shares"]) == set(EMOTIONS)
    assert sum(s["emotion_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert s["dominant_emotion"] in EMOTIONS
    assert s["detector"] == "haar" and s["model_version"] == model_version.name
    assert s["wall_time_s"] > 0
    assert s["schedule"] in ("full", "adaptive")  # which detection schedule made it survives finalize
    assert set(s["timings"]) >= {"decode", "detect", "classify"}
    buckets = list(TimelineBucket.objects.filter(analysis=analysis))
    assert 4 <= len(buckets) <= 120
    assert sum(b.faces for b in buckets) == s["faces_detected"]
    assert sum(b.frames for b in buckets) == s["frames_analysed"]
    assert buckets[0].t_start == 0 and buckets[-1].t_end == pytest.approx(s["duration_s"], abs=0.01)
    # Each observation's top emotion is its most probable one.
    for row in FaceObservation.objects.filter(analysis=analysis):
        probs = {e: getattr(row, f"p_{e}") for e in EMOTIONS}
        assert row.top_emotion == max(probs, key=probs.get)
        assert sum(probs.values()) == pytest.approx(1.0, abs=1e-3)


def test_segments_are_planned_by_time_and_tracks_stitched_across_them(webcam, alice, model_version, settings):
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    analysis = services.analysis_run_inline(analysis=start(webcam, alice, sample_fps=5))

    assert analysis.status == Analysis.Status.SUCCEEDED, analysis.error
    segments = list(AnalysisSegment.objects.filter(analysis=analysis).order_by("index"))
    assert [(s.t_start, s.t_end) for s in segments] == [(0.0, 1.0), (1.0, 2.0), (2.0, pytest.approx(2.4, abs=0.05))]
    assert all(s.status == "done" and s.attempts == 1 for s in segments)
    assert analysis.segment_count == analysis.segments_done == 3
    assert sum(s.frames_analysed for s in segments) == analysis.summary["frames_analysed"] == 12
    # Every segment starts its local track ids at 0; after stitching, the one face is one track.
    assert set(FaceObservation.objects.filter(analysis=analysis).values_list("segment_track_id", flat=True)) == {0}
    assert analysis.summary["unique_faces"] == 1
    assert set(FaceObservation.objects.filter(analysis=analysis).values_list("track_id", flat=True)) == {0}


def test_a_segment_task_run_twice_leaves_exactly_the_same_observations(webcam, alice, model_version, settings):
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    analysis = start(webcam, alice, sample_fps=5)
    assert services.analysis_plan(analysis_id=analysis.pk) == [0, 1, 2]

    tasks.analyse_segment(analysis.pk, 1)  # the task body, run here as a worker would run it
    first = observations(analysis)
    assert first, "segment 1 of a webcam clip has faces"
    tasks.analyse_segment(analysis.pk, 1)  # a redelivery: acks_late runs it again
    assert observations(analysis) == first

    segment = AnalysisSegment.objects.get(analysis=analysis, index=1)
    assert segment.attempts == 2 and segment.status == "done"
    analysis.refresh_from_db()
    assert analysis.segments_done == 1  # counted once, however often it ran
    assert analysis.status == Analysis.Status.RUNNING
    assert 0.3 < analysis.progress < 0.35  # one third, not two thirds

    tasks.analyse_segment(analysis.pk, 0)
    tasks.analyse_segment(analysis.pk, 2)  # the last one to finish runs finalize
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.SUCCEEDED and analysis.segments_done == 3
    assert analysis.summary["faces_detected"] == FaceObservation.objects.filter(analysis=analysis).count()

    # Finalize twice: same buckets, same summary (track ids derive from segment-local ones).
    buckets = list(TimelineBucket.objects.filter(analysis=analysis).values_list("t_start", "faces", "emotion_counts"))
    Analysis.objects.filter(pk=analysis.pk).update(status=Analysis.Status.RUNNING)
    services.analysis_finalize(analysis_id=analysis.pk)
    assert list(TimelineBucket.objects.filter(analysis=analysis).values_list("t_start", "faces", "emotion_counts")) \
        == buckets
    assert Analysis.objects.get(pk=analysis.pk).summary["unique_faces"] == analysis.summary["unique_faces"]


def test_footage_without_faces_succeeds_with_zero_faces_and_says_so(project_a, alice, model_version, tmp_path):
    """Decision: no faces is a result, not an error. The analysis succeeds and says so plainly."""
    footage = upload(project_a, faceless_clip(tmp_path / "coffee.mp4"), alice)
    assert footage.status == "ready", footage.rejection_reason
    analysis = services.analysis_run_inline(analysis=start(footage, alice, sample_fps=2))

    assert analysis.status == Analysis.Status.SUCCEEDED, analysis.error
    s = analysis.summary
    assert s["faces_detected"] == 0 and s["unique_faces"] == 0 and s["frames_with_faces"] == 0
    assert s["frames_analysed"] == 6
    assert s["dominant_emotion"] is None
    assert set(s["emotion_shares"].values()) == {0.0}
    assert s["note"].startswith("No faces were found in this footage")
    buckets = TimelineBucket.objects.filter(analysis=analysis)
    assert buckets.exists() and all(b.faces == 0 for b in buckets)


def test_overhead_crowd_without_usable_faces_ends_clearly(project_a, alice, model_version, yunet_model_path,
                                                          settings):
    """../shared's 08 clip: a dense crowd seen from above. Detectors find at most a few spurious
    boxes among a hundred heads; the analysis ends `succeeded` with numbers that say so."""
    settings.EMO7ION_YUNET_MODEL = str(yunet_model_path)
    footage = upload(project_a, clip("08_*"), alice)
    assert footage.status == "ready", footage.rejection_reason
    analysis = services.analysis_run_inline(analysis=start(footage, alice, detector="yunet", sample_fps=2))

    assert analysis.status == Analysis.Status.SUCCEEDED, analysis.error
    s = analysis.summary
    assert s["frames_analysed"] == 11
    assert s["faces_detected"] / s["frames_analysed"] < 2  # of ~100 people in view: none usable
    assert s["frames_with_faces"] <= s["frames_analysed"]


def test_cancelled_analysis_is_not_run_and_stays_cancelled(webcam, alice, model_version):
    analysis = start(webcam, alice)
    services.analysis_plan(analysis_id=analysis.pk)
    assert services.analysis_cancel(analysis=analysis, by=alice)
    assert analysis.status == Analysis.Status.CANCELLED and "alice" in analysis.error

    assert services.analysis_segment_execute(analysis_id=analysis.pk, index=0) is False
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.CANCELLED
    assert not FaceObservation.objects.filter(analysis=analysis).exists()
    assert services.analysis_cancel(analysis=analysis, by=alice) is False  # already over


def test_cancellation_is_noticed_while_a_segment_runs(webcam, alice, model_version, monkeypatch):
    """Cancel after the third frame: the segment stops at its next check, stores nothing."""
    from ml import runtime
    real = runtime.get_detector("haar")
    analysis = start(webcam, alice, sample_fps=10)
    services.analysis_plan(analysis_id=analysis.pk)

    class CancelsAfterThreeFrames:
        name = real.name
        frames = 0

        def detect(self, frame):
            self.frames += 1
            if self.frames == 3:
                services.analysis_cancel(analysis=analysis, by=alice)
            return real.detect(frame)

    detector = CancelsAfterThreeFrames()
    monkeypatch.setattr(runtime, "get_detector", lambda name=None, **kw: detector)
    assert services.analysis_segment_execute(analysis_id=analysis.pk, index=0) is False
    assert 3 <= detector.frames < 24  # it stopped before the end of the 24 sampled frames
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.CANCELLED
    assert not FaceObservation.objects.filter(analysis=analysis).exists()
    assert not TimelineBucket.objects.filter(analysis=analysis).exists()


def test_a_failing_segment_marks_the_analysis_failed_with_a_reason(webcam, alice, model_version):
    analysis = start(webcam, alice)
    services.analysis_plan(analysis_id=analysis.pk)
    default_storage.delete(webcam.file.name)  # the stored file vanished under the analysis

    assert services.analysis_segment_execute(analysis_id=analysis.pk, index=0) is False  # no exception
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.FAILED
    assert analysis.error.startswith("Analysing the footage: The stored file") and "missing" in analysis.error
    assert AnalysisSegment.objects.get(analysis=analysis, index=0).status == "failed"
    assert not TimelineBucket.objects.filter(analysis=analysis).exists()


def test_a_file_corrupted_after_validation_fails_instead_of_giving_partial_results(webcam, alice, model_version):
    analysis = start(webcam, alice, sample_fps=5)
    services.analysis_plan(analysis_id=analysis.pk)
    path = default_storage.path(webcam.file.name)
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])

    services.analysis_segment_execute(analysis_id=analysis.pk, index=0)
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.FAILED
    assert webcam.original_name in analysis.error
    assert not TimelineBucket.objects.filter(analysis=analysis).exists()


def test_finished_signal_is_sent_after_commit_for_success_and_failure(webcam, alice, model_version,
                                                                      django_capture_on_commit_callbacks):
    received = []

    def receiver(sender, analysis, **kwargs):
        received.append((sender, analysis.pk, analysis.status))

    analysis_finished.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ok = services.analysis_run_inline(analysis=start(webcam, alice, sample_fps=2))
        with django_capture_on_commit_callbacks(execute=True):
            bad = start(webcam, alice)
            services.analysis_fail(analysis=bad, reason="test failure")
        with django_capture_on_commit_callbacks(execute=True):
            cancelled = start(webcam, alice)
            services.analysis_cancel(analysis=cancelled, by=alice)
    finally:
        analysis_finished.disconnect(receiver)
    assert received == [(Analysis, ok.pk, "succeeded"), (Analysis, bad.pk, "failed")]


def test_analysis_create_checks_its_input(project_a, alice, webcam, model_version, settings):
    with pytest.raises(ValidationError, match="Unknown face detector"):
        start(webcam, alice, detector="dlib")
    with pytest.raises(ValidationError, match="between"):
        start(webcam, alice, sample_fps=0)
    with pytest.raises(ValidationError, match="between"):
        start(webcam, alice, sample_fps=1000)
    settings.EMO7ION_YUNET_MODEL = ""
    with pytest.raises(ValidationError, match="yunet detector is not installed"):
        start(webcam, alice, detector="yunet")
    rejected = upload(project_a, clip("07_*"), alice, name="x.mp4")
    rejected.status, rejected.rejection_reason = "rejected", "broken"
    with pytest.raises(ValidationError, match="rejected: broken"):
        start(rejected, alice)


def test_analysis_create_enqueues_only_after_commit(webcam, alice, model_version, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        analysis = services.analysis_create(footage=webcam, created_by=alice)
    assert len(callbacks) == 1  # start_analysis.delay, once the row is visible to workers
    assert analysis.status == Analysis.Status.QUEUED
    assert analysis.model_version == model_version  # the active version by default
    assert analysis.sample_fps == settings_default_fps()


def settings_default_fps():
    from django.conf import settings
    return settings.EMO7ION_DEFAULT_SAMPLE_FPS


def test_segment_bounds_cover_the_footage():
    assert services.segment_bounds(150, 60) == [(0, 60), (60, 120), (120, 150)]
    assert services.segment_bounds(120, 60) == [(0, 60), (60, 120)]
    assert services.segment_bounds(0, 60) == [(0.0, 0.0)]  # a still image


def test_a_still_image_is_one_frame_footage(project_a, alice, model_version, yunet_model_path, settings):
    from tests.conftest import shared_glob
    settings.EMO7ION_YUNET_MODEL = str(yunet_model_path)
    footage = upload(project_a, shared_glob("media/photos", "12_*"), alice)
    analysis = services.analysis_run_inline(analysis=start(footage, alice, detector="yunet"))

    assert analysis.status == Analysis.Status.SUCCEEDED, analysis.error
    s = analysis.summary
    assert s["frames_analysed"] == 1 and s["duration_s"] == 0.0
    assert s["faces_detected"] == s["unique_faces"] > 0  # every face is its own track in one frame
    buckets = list(TimelineBucket.objects.filter(analysis=analysis))
    assert len(buckets) == 1 and buckets[0].faces == s["faces_detected"] and buckets[0].frames == 1


def test_key_moment_thumbnails_exist_before_the_analysis_shows_as_succeeded(webcam, alice, model_version):
    """Derived results (the reports' thumbnails) are made inside finalize, before `succeeded` is visible:
    a report opened the moment the analysis succeeds shows them, not placeholders."""
    from analysis.signals import analysis_results_stored

    seen = []

    def record(sender, analysis, **kwargs):
        seen.append(Analysis.objects.values_list("status", flat=True).get(pk=analysis.pk))
    analysis_results_stored.connect(record, dispatch_uid="test-record")
    try:
        analysis = services.analysis_run_inline(analysis=start(webcam, alice, sample_fps=5))
    finally:
        analysis_results_stored.disconnect(dispatch_uid="test-record")
    assert analysis.status == Analysis.Status.SUCCEEDED, analysis.error
    assert seen == [Analysis.Status.RUNNING]
    from reports import thumbnails
    assert default_storage.listdir(thumbnails.thumbnail_folder(analysis))[1], "finalize stored no thumbnail"


def test_observations_are_streamed_in_batches_and_the_schedule_is_recorded(webcam, alice, model_version, settings,
                                                                            monkeypatch):
    """A segment writes its observations while it runs, a few rows per bulk_create (never all at the
    end), and the analysis says which detection schedule made it and how long each stage took."""
    from analysis.services import segments
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    monkeypatch.setattr(segments, "OBSERVATION_BATCH_ROWS", 3)
    monkeypatch.setattr(segments, "CLASSIFY_BATCH", 2)
    writes = []
    real_bulk_create = FaceObservation.objects.bulk_create
    monkeypatch.setattr(FaceObservation.objects, "bulk_create",
                        lambda rows, **kw: writes.append(len(rows)) or real_bulk_create(rows, **kw))
    analysis = start(webcam, alice, sample_fps=5)
    services.analysis_plan(analysis_id=analysis.pk)

    tasks.analyse_segment(analysis.pk, 1)
    rows = FaceObservation.objects.filter(analysis=analysis, segment_index=1).count()
    assert rows >= 4 and sum(writes) == rows
    assert len(writes) >= 2 and max(writes) <= 4  # 3 rows, or 4 when a batch of 2 crossed the line
    analysis.refresh_from_db()
    assert analysis.summary["schedule"] == "adaptive"  # the site's default
    assert set(analysis.summary["timings"]) == {"decode", "detect", "classify", "store"}
    assert analysis.summary["schedule_stats"]["frames"] == 5
    first = dict(analysis.summary["timings"])

    tasks.analyse_segment(analysis.pk, 0)  # a second segment adds its seconds
    analysis.refresh_from_db()
    assert analysis.summary["schedule_stats"]["frames"] == 10
    assert analysis.summary["timings"]["detect"] > first["detect"]


def test_the_schedule_setting_selects_todays_full_detection(webcam, alice, model_version, settings):
    settings.EMO7ION_SEGMENT_SECONDS = 1.0
    settings.EMO7ION_DETECTION_SCHEDULE = "full"
    analysis = start(webcam, alice, sample_fps=5)
    services.analysis_plan(analysis_id=analysis.pk)
    tasks.analyse_segment(analysis.pk, 0)
    analysis.refresh_from_db()
    assert analysis.summary["schedule"] == "full"
    assert analysis.summary["schedule_stats"]["full_detections"] == analysis.summary["schedule_stats"]["frames"] == 5


def test_a_cancelled_segment_takes_back_the_rows_it_streamed(webcam, alice, model_version, monkeypatch):
    """Rows are written while the segment runs; when the analysis is cancelled part way, the segment
    deletes what it wrote, so a cancelled analysis holds no half segment."""
    from analysis.services import segments
    from ml import runtime
    monkeypatch.setattr(segments, "OBSERVATION_BATCH_ROWS", 1)
    monkeypatch.setattr(segments, "CLASSIFY_BATCH", 1)
    real = runtime.get_detector("haar")
    analysis = start(webcam, alice, sample_fps=10)
    services.analysis_plan(analysis_id=analysis.pk)
    written = []

    class CancelsAfterTwelveFrames:
        name = real.name
        frames = 0

        def detect(self, frame):
            self.frames += 1
            if self.frames == 12:
                written.append(FaceObservation.objects.filter(analysis=analysis).count())
                services.analysis_cancel(analysis=analysis, by=alice)
            return real.detect(frame)

    monkeypatch.setattr(runtime, "get_detector", lambda name=None, **kw: CancelsAfterTwelveFrames())
    assert services.analysis_segment_execute(analysis_id=analysis.pk, index=0) is False
    assert written and written[0] >= 5  # rows were in the database before the end
    assert not FaceObservation.objects.filter(analysis=analysis).exists()
    analysis.refresh_from_db()
    assert analysis.status == Analysis.Status.CANCELLED
