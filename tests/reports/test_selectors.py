"""Report selectors read what finalize stored (or aggregate in the database where it stored no summary)
and give the known answers of the synthetic scene."""
from __future__ import annotations

import pytest

from analysis import selectors as analysis_selectors
from analysis.models import Analysis, AnalysisSegment, TimelineBucket
from ml.engine.labels import EMOTIONS
from ml.engine.timeline import aggregate_timeline
from reports import formatting
from reports import selectors as reports
from tests.factories import AnalysisFactory, FootageFactory, ModelVersionFactory

from .conftest import DURATION, FPS, SAMPLE_FPS, SCENE_BUCKET_S, TOP_P, add_scene, store_timeline

pytestmark = pytest.mark.django_db


def test_key_figures_from_observations(scene_analysis):
    AnalysisSegment.objects.create(analysis=scene_analysis, index=0, t_start=0, t_end=10, frames_analysed=20)
    AnalysisSegment.objects.create(analysis=scene_analysis, index=1, t_start=10, t_end=20, frames_analysed=20)
    f = reports.analysis_key_figures(analysis=scene_analysis)
    assert f["faces_seen"] == 80
    assert f["unique_faces"] == 3
    assert f["frames_analysed"] == 40
    assert f["duration_s"] == DURATION and f["duration"] == "0:20"
    assert f["mean_faces_per_frame"] == pytest.approx(2.0)
    assert f["emotion_shares"] == pytest.approx({"angry": 10 / 80, "disgust": 0.0, "fear": 10 / 80, "happy": 30 / 80,
                                                 "sad": 10 / 80, "surprise": 0.0, "neutral": 20 / 80})
    assert f["dominant_emotion"] == "happy"
    assert f["positive_share"] == pytest.approx(30 / 80)
    assert f["negative_share"] == pytest.approx(30 / 80)
    assert f["neutral_share"] == pytest.approx(20 / 80)
    assert [g["name"] for g in f["group_rows"]] == ["positive", "negative", "neutral"]


def test_key_figures_read_finalize_summary_when_present(scene_analysis):
    # finalize's summary is the source of truth once written: the report must not recount differently.
    scene_analysis.summary = {"frames_analysed": 40, "faces_detected": 80, "unique_faces": 3, "duration_s": 20.0,
                              "emotion_shares": {"happy": 0.375, "neutral": 0.25, "fear": 0.125, "sad": 0.125,
                                                 "angry": 0.125}, "dominant_emotion": "happy"}
    scene_analysis.save()
    f = reports.analysis_key_figures(analysis=scene_analysis)
    assert (f["faces_seen"], f["unique_faces"], f["frames_analysed"]) == (80, 3, 40)
    assert f["emotion_shares"]["disgust"] == 0.0 and f["dominant_emotion"] == "happy"


def test_key_figures_of_an_analysis_without_faces(db):
    analysis = AnalysisFactory(status=Analysis.Status.SUCCEEDED)
    f = reports.analysis_key_figures(analysis=analysis)
    assert f["faces_seen"] == 0 and f["unique_faces"] == 0
    assert f["dominant_emotion"] is None
    assert f["positive_share"] == 0.0


def test_timeline_reads_the_buckets_finalize_stored(scene_analysis, django_assert_num_queries):
    """The report shows the engine's buckets as finalize stored them, bucket by bucket, in one query:
    no observation is bucketed again on a page view."""
    with django_assert_num_queries(1):
        timeline = reports.analysis_timeline(analysis=scene_analysis)
    assert timeline.bucket_s == 1.0          # 20 s at 2 fps: 1 s windows (2 frames each), 20 columns
    rows = list(scene_analysis.observations.values("t", "track_id", *(f"p_{e}" for e in EMOTIONS)))
    expected = aggregate_timeline(rows, 1.0, DURATION, sample_fps=SAMPLE_FPS, fps=FPS)
    assert len(timeline.buckets) == len(expected) == 20
    for got, want in zip(timeline.buckets, expected):
        assert got["t_start"] == pytest.approx(want["t_start"]) and got["t_end"] == pytest.approx(want["t_end"])
        assert (got["frames"], got["faces"], got["unique_tracks"]) == (want["frames"], want["faces"],
                                                                       want["unique_tracks"])
        assert got["emotion_counts"] == want["emotion_counts"]
        assert got["emotion_shares"] == pytest.approx(want["emotion_shares"], abs=1e-4)
        assert got["mean_probabilities"] == pytest.approx(want["mean_probabilities"], abs=1e-4)
        assert got["mean_faces_per_frame"] == pytest.approx(want["mean_faces_per_frame"], abs=1e-4)
    # spot-check the scene: 5-6 s is both faces happy; 15-16 s fear + angry.
    assert timeline.buckets[5]["emotion_shares"]["happy"] == 1.0
    assert timeline.buckets[15]["emotion_counts"] == {**{e: 0 for e in EMOTIONS}, "fear": 2, "angry": 2}


def test_stored_buckets_are_read_back_as_stored(scene_analysis):
    stored = list(TimelineBucket.objects.filter(analysis=scene_analysis).order_by("index"))
    timeline = reports.analysis_timeline(analysis=scene_analysis)
    assert [b["emotion_counts"] for b in timeline.buckets] == [
        {e: b.emotion_counts.get(e, 0) for e in EMOTIONS} for b in stored]
    # A row that omits zero counts (older finalize) still reads with every emotion present.
    TimelineBucket.objects.filter(analysis=scene_analysis, index=0).update(emotion_counts={"happy": 2},
                                                                          emotion_shares={"happy": 1.0})
    first = reports.analysis_timeline(analysis=scene_analysis).buckets[0]
    assert first["emotion_counts"] == {**{e: 0 for e in EMOTIONS}, "happy": 2}
    assert first["emotion_shares"]["sad"] == 0.0


def test_a_coarse_stored_bucket_is_shown_as_stored_not_recomputed(scene_analysis):
    """One owner for the timeline: the report never re-buckets observations to get finer windows
    (finalize's rule already gives a short clip about a dozen)."""
    TimelineBucket.objects.filter(analysis=scene_analysis).delete()
    TimelineBucket.objects.create(analysis=scene_analysis, index=0, t_start=0, t_end=20, frames=40, faces=80,
                                  emotion_counts={"happy": 30}, emotion_shares={"happy": 0.375})
    timeline = reports.analysis_timeline(analysis=scene_analysis)
    assert len(timeline.buckets) == 1 and timeline.bucket_s == 20.0
    assert timeline.buckets[0]["faces"] == 80


def test_an_analysis_without_stored_buckets_has_an_empty_timeline(db):
    timeline = reports.analysis_timeline(analysis=AnalysisFactory(status=Analysis.Status.SUCCEEDED))
    assert timeline.buckets == [] and timeline.bucket_s is None and timeline.is_empty


def test_key_moments_find_the_positive_and_negative_peaks(scene_analysis):
    timeline = reports.analysis_timeline(analysis=scene_analysis)
    moments = reports.analysis_key_moments(analysis=scene_analysis, timeline=timeline)
    positive = [m for m in moments if m["kind"] == "positive"]
    negative = [m for m in moments if m["kind"] == "negative"]
    assert positive[0]["t"] == 5.0 and positive[0]["frame_index"] == 5 * FPS
    assert (positive[0]["hits"], positive[0]["faces"]) == (2, 2) and positive[0]["bucket_share"] == 1.0
    assert negative[0]["t"] == 15.0 and negative[0]["frame_index"] == 15 * FPS
    assert (negative[0]["hits"], negative[0]["faces"]) == (2, 2)
    for group in (positive, negative):
        assert 1 <= len(group) <= reports.MOMENTS_PER_KIND
        times = sorted(m["t"] for m in group)
        # spread over the footage, not three neighbouring seconds of the same peak
        assert all(b - a >= DURATION / (2 * reports.MOMENTS_PER_KIND) - 1 for a, b in zip(times, times[1:]))
    assert positive[0]["timestamp"] == "0:05"


def test_tracks_page_sorts_and_paginates_in_the_database(scene_analysis):
    page, sort = reports.analysis_tracks_page(analysis=scene_analysis)
    assert sort == "-observations"
    rows = page.object_list
    assert [r["track_id"] for r in rows] == [0, 1, 2]  # 40, 20, 20 observations; ties by track id
    t0 = rows[0]
    assert (t0["first_seen"], t0["last_seen"], t0["observations"]) == (0.0, 19.5, 40)
    assert t0["means"]["happy"] == pytest.approx((20 * TOP_P[0] + 20 * 0.05) / 40)
    assert t0["dominant"] == "happy"

    page, _ = reports.analysis_tracks_page(analysis=scene_analysis, sort="first")
    assert [r["track_id"] for r in page.object_list] == [0, 1, 2]
    page, _ = reports.analysis_tracks_page(analysis=scene_analysis, sort="-first")
    assert [r["track_id"] for r in page.object_list] == [2, 0, 1]
    page, _ = reports.analysis_tracks_page(analysis=scene_analysis, sort="-angry")
    assert page.object_list[0]["track_id"] == 2

    page, _ = reports.analysis_tracks_page(analysis=scene_analysis, sort="track", page=2, per_page=2)
    assert page.paginator.count == 3 and page.paginator.num_pages == 2
    assert [r["track_id"] for r in page.object_list] == [2]
    # unknown sort keys fall back rather than reaching order_by()
    _, sort = reports.analysis_tracks_page(analysis=scene_analysis, sort="p_happy; DROP TABLE")
    assert sort == reports.DEFAULT_TRACK_SORT


def test_track_columns_toggle_direction():
    cols = {c["key"]: c for c in reports.track_columns("-observations")}
    assert cols["observations"]["state"] == "descending" and cols["observations"]["next_sort"] == "observations"
    assert cols["first"]["next_sort"] == "first" and cols["happy"]["next_sort"] == "-happy"


def test_model_info_quotes_the_reference_evaluation_never_the_latest(scene_analysis):
    """Issue 14's bug: an evaluation on another (6-class) set run later must not become the report's figure."""
    from ml.models import BiasAudit, Evaluation, JobStatus

    mv = scene_analysis.model_version
    mv.metrics = {"validation": {"accuracy": 0.61, "n": 70, "per_class": {"happy": {"recall": 0.8}}}}
    mv.metadata = {"training": {"dataset_name": "fer2013"}}
    mv.save()
    info = reports.analysis_model_info(analysis=scene_analysis)
    assert info["accuracy"] == 0.61 and info["headline"] == "61.0% on FER2013 PublicTest, 70 faces"
    assert info["per_class_recall"][0]["emotion"] == "happy" and info["bias_audit"] is None
    Evaluation.objects.create(model_version=mv, status=JobStatus.SUCCEEDED, data_path="/data/ckplus",
                              metrics={"accuracy": 0.76, "n": 900, "per_class": {}})
    BiasAudit.objects.create(model_version=mv, status=JobStatus.SUCCEEDED, verdict="flagged")
    info = reports.analysis_model_info(analysis=scene_analysis)
    assert info["accuracy"] == 0.61 and "/data" not in info["source"]
    assert info["bias_audit"].verdict == "flagged"


def _second_session(project, bucket_s: float) -> Analysis:
    """The same scene filmed again in the project, finalized with `bucket_s` windows."""
    other = AnalysisFactory(footage=FootageFactory(project=project, duration_s=DURATION, fps=FPS),
                            model_version=ModelVersionFactory(), sample_fps=SAMPLE_FPS,
                            status=Analysis.Status.SUCCEEDED)
    add_scene(other)
    store_timeline(other, bucket_s)
    return other


def test_project_comparison_and_aggregated_timeline(scene_analysis):
    project = scene_analysis.footage.project
    # A second session of the same event, and an older analysis of the first footage that must not count.
    other = _second_session(project, SCENE_BUCKET_S)
    stale = AnalysisFactory(footage=scene_analysis.footage, model_version=scene_analysis.model_version,
                            status=Analysis.Status.SUCCEEDED)
    Analysis.objects.filter(pk=stale.pk).update(finished_at="2000-01-01T00:00:00Z")
    Analysis.objects.filter(pk=scene_analysis.pk).update(finished_at="2024-01-01T00:00:00Z")
    AnalysisFactory(footage=FootageFactory(project=project), status=Analysis.Status.RUNNING)

    analyses = analysis_selectors.project_latest_analyses(project)
    assert [a.pk for a in analyses] == [scene_analysis.pk, other.pk]
    rows = reports.project_comparison(analyses=analyses)
    assert [r["faces_seen"] for r in rows] == [80, 80]
    assert rows[0]["emotion_shares"]["happy"] == pytest.approx(0.375)
    assert rows[1]["dominant_emotion"] == "happy"

    timeline = reports.project_timeline(analyses=analyses)
    assert len(timeline.buckets) == 20 and timeline.bucket_s == 1.0
    assert [b["faces"] for b in timeline.buckets] == [8] * 20          # 2 faces × 2 frames × 2 clips
    assert [b["frames"] for b in timeline.buckets] == [4] * 20
    assert timeline.buckets[0]["mean_faces_per_frame"] == 2.0
    assert timeline.buckets[15]["emotion_counts"]["angry"] == 4


def test_project_timeline_puts_narrower_windows_on_the_widest_stored_grid(scene_analysis):
    """A 2 s-window clip and a 1 s-window clip: the common window is 2 s; the 1 s windows add up in pairs."""
    project = scene_analysis.footage.project
    other = _second_session(project, 2.0)
    timeline = reports.project_timeline(analyses=[scene_analysis, other])
    assert timeline.bucket_s == 2.0 and len(timeline.buckets) == 10
    assert [b["faces"] for b in timeline.buckets] == [16] * 10     # 2 faces x 4 frames x 2 clips
    assert [b["frames"] for b in timeline.buckets] == [8] * 10
    assert timeline.buckets[-1]["t_end"] == DURATION
    assert timeline.buckets[8]["emotion_counts"]["angry"] == 8 and timeline.buckets[8]["emotion_shares"]["fear"] == 0.5
    assert reports.project_timeline(analyses=[]).buckets == []


def test_format_timestamp():
    assert formatting.format_timestamp(0) == "0:00"
    assert formatting.format_timestamp(7.5) == "0:07.5"
    assert formatting.format_timestamp(125) == "2:05"
    assert formatting.format_timestamp(3723) == "1:02:03"
