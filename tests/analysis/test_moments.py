"""Moments a user marks on an analysis: the service's rules, and the statistics the selector computes
over real stored observations (a crowd finalized by the real `analysis_finalize`)."""
from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from analysis import selectors, services
from analysis.models import Analysis, AnalysisSegment, FaceObservation, Moment
from ml.engine.comparison import compared_names
from tests.factories import AnalysisFactory, FootageFactory, ModelVersionFactory, ProjectFactory, UserFactory
from tests.reports.conftest import FPS, SAMPLE_FPS, make_crowd_analysis, probs_for

pytestmark = pytest.mark.django_db


def finalized_crowd(*, project, faces_at, duration: float = 20.0, name: str = "crowd.mp4") -> Analysis:
    """An analysis whose observations are `faces_at(t)` -> [(track, top expression, yaw)] at every
    sampled frame, finalized by the real `analysis_finalize`."""
    from analysis.services import analysis_finalize

    footage = FootageFactory(project=project, duration_s=duration, fps=FPS, frame_count=int(duration * FPS),
                             original_name=name)
    analysis = AnalysisFactory(footage=footage, model_version=ModelVersionFactory(), sample_fps=SAMPLE_FPS,
                               detector="yunet", status=Analysis.Status.RUNNING, segment_count=1, segments_done=1)
    frame_times = [k / SAMPLE_FPS for k in range(int(duration * SAMPLE_FPS))]
    rows = [(t, track, top, yaw) for t in frame_times for track, top, yaw in faces_at(t)]
    AnalysisSegment.objects.create(analysis=analysis, index=0, t_start=0.0, t_end=duration,
                                   status=AnalysisSegment.Status.DONE, frames_analysed=len(frame_times),
                                   track_count=max(r[1] for r in rows) + 1, frame_times=frame_times)
    FaceObservation.objects.bulk_create([
        FaceObservation(analysis=analysis, segment_index=0, t=t, frame_index=int(round(t * FPS)), track_id=track,
                        segment_track_id=track, x=20 + 60 * (track % 10), y=80, w=50, h=60, detector_score=0.9,
                        top_emotion=top, yaw=yaw, pitch=0.0, **probs_for(top, 0.7))
        for t, track, top, yaw in rows])
    analysis_finalize(analysis_id=analysis.pk)
    analysis.refresh_from_db()
    return analysis


def mark(analysis, name, t_start, t_end, **kwargs):
    return services.moment_create(analysis=analysis, name=name, t_start=t_start, t_end=t_end, **kwargs)


def refusal(analysis, name, t_start, t_end) -> dict:
    with pytest.raises(ValidationError) as caught:
        mark(analysis, name, t_start, t_end)
    error = caught.value
    return error.message_dict if hasattr(error, "error_dict") else {"__all__": error.messages}


# --- The service's rules --------------------------------------------------------------------------------


def test_a_moment_is_a_named_range_inside_the_footage(crowd):
    user = UserFactory()
    moment = mark(crowd, "  Opening   act ", 0, 10, created_by=user)
    assert (moment.name, moment.t_start, moment.t_end, moment.created_by) == ("Opening act", 0.0, 10.0, user)
    assert list(selectors.moments_for(crowd)) == [moment]
    # The end a person reads off a player may be a little past the last frame: it is kept inside the footage.
    assert mark(crowd, "Finale", 18, 20.04).t_end == 20.0


@pytest.mark.parametrize("name, t_start, t_end, field, words", [
    ("", 0, 5, "name", "needs a name"),
    ("   ", 0, 5, "name", "needs a name"),
    ("x" * 101, 0, 5, "name", "at most 100"),
    ("Backwards", 8, 5, "t_end", "end after it starts"),
    ("Empty", 5, 5, "t_end", "end after it starts"),
    ("Before", -1, 5, "t_start", "cannot start before"),
    ("Too long", 10, 25, "t_end", "within the footage, which is 20.0 s long"),
    ("Not a time", "soon", 5, "t_start", "in seconds"),
    ("Infinite", 0, float("inf"), "t_end", "in seconds"),
    ("Not a number", 0, float("nan"), "t_end", "in seconds"),
])
def test_refusals_name_the_field_and_say_why(crowd, name, t_start, t_end, field, words):
    errors = refusal(crowd, name, t_start, t_end)
    assert list(errors) == [field] and words in errors[field][0]
    assert not Moment.objects.exists()


def test_names_are_unique_within_an_analysis_whatever_their_case(crowd):
    mark(crowd, "Q&A", 0, 5)
    assert "already has a moment called “q&a”" in refusal(crowd, "q&a", 5, 10)["name"][0]
    other = make_crowd_analysis()
    assert mark(other, "Q&A", 0, 5).analysis == other   # another analysis may use the name


def test_only_a_succeeded_analysis_takes_moments_and_at_most_twelve():
    queued = AnalysisFactory(footage=FootageFactory(duration_s=60.0))
    assert "once the analysis has succeeded" in refusal(queued, "Early", 0, 5)["__all__"][0]
    done = AnalysisFactory(footage=FootageFactory(duration_s=60.0), status=Analysis.Status.SUCCEEDED)
    for k in range(services.MAX_MOMENTS_PER_ANALYSIS):
        mark(done, f"Part {k}", k, k + 1)
    assert "at most 12 moments" in refusal(done, "One more", 30, 31)["__all__"][0]
    services.moment_delete(moment=Moment.objects.filter(analysis=done).first())
    assert mark(done, "One more", 30, 31).pk


# --- Statistics over real observations -------------------------------------------------------------------


def test_moments_compare_side_by_side_with_intervals_and_flags(crowd):
    """The crowd: 0-10 s ten sad/neutral people, half of them facing the camera; 10-18 s ten others,
    happy, nine facing it; 18-20 s two happy people."""
    before = mark(crowd, "Before the break", 0, 10)
    after = mark(crowd, "After the break", 10, 18)
    finale = mark(crowd, "Finale", 18, 20)
    comparison = selectors.moment_comparison(crowd)
    assert [m["id"] for m in comparison["moments"]] == [before.pk, after.pk, finale.pk]
    first, second, last = (m["statistics"] for m in comparison["moments"])
    assert (first["tracks"], second["tracks"], last["tracks"]) == (10, 10, 2)
    assert (first["observations"], second["observations"], last["observations"]) == (200, 160, 8)
    assert first["shares"]["sad"]["value"] == pytest.approx(0.7)
    assert second["shares"]["happy"]["value"] == pytest.approx(0.7)
    assert second["shares"]["positive"]["value"] == pytest.approx(0.8)
    low, high = second["shares"]["happy"]["interval"]
    assert low < 0.7 < high
    assert first["attention"]["value"] == pytest.approx(0.5) and second["attention"]["value"] == pytest.approx(0.9)
    assert first["attention"]["observations_with_pose"] == 200
    assert first["valence"]["value"] < 0 < second["valence"]["value"]
    assert last["too_few_tracks"] and last["shares"]["happy"]["interval"] is None

    pairs = {(d["first"], d["second"]): d for d in comparison["differences"]}
    assert set(pairs) == {(before.pk, after.pk), (before.pk, finale.pk), (after.pk, finale.pk)}
    break_pair = pairs[(before.pk, after.pk)]
    assert {"happy", "sad", "positive", "negative", "valence"} <= set(break_pair["flagged"])
    attention = next(m for m in break_pair["metrics"] if m["metric"] == "attention")
    assert attention["difference"] == pytest.approx(0.4) and not attention["flagged"]
    # Two people are too few to flag anything against.
    assert pairs[(before.pk, finale.pk)]["flagged"] == [] and pairs[(after.pk, finale.pk)]["flagged"] == []
    assert comparison["method"]["unit"] == "face track" and comparison["method"]["alpha"] == 0.05


def test_a_moment_over_the_whole_footage_gives_finalizes_numbers(crowd):
    """The same engine and seed as finalize: a moment spanning the footage has the stored intervals."""
    whole = mark(crowd, "Whole evening", 0, 20)
    statistics = selectors.moment_comparison(crowd, [whole])["moments"][0]["statistics"]
    stored = crowd.summary["statistics"]
    assert statistics["tracks"] == stored["tracks"] == 22
    for name, interval in stored["intervals"].items():
        assert statistics["shares"][name]["interval"] == interval, name
    assert statistics["attention"] == stored["attention"]
    assert statistics["valence"] == stored["valence"] and statistics["arousal"] == stored["arousal"]


def test_the_comparison_is_cached_until_the_moments_change(crowd, django_assert_num_queries):
    mark(crowd, "Before the break", 0, 10)
    mark(crowd, "After the break", 10, 18)
    first = selectors.moment_comparison(crowd)
    with django_assert_num_queries(1):   # the moments; the observations are not read again
        assert selectors.moment_comparison(crowd)["differences"] == first["differences"]
    services.moment_delete(moment=Moment.objects.get(name="After the break"))
    again = selectors.moment_comparison(crowd)
    assert len(again["moments"]) == 1 and again["differences"] == []


def test_no_moments_or_an_unfinished_analysis_compare_nothing(crowd):
    assert selectors.moment_comparison(crowd)["moments"] == []
    running = AnalysisFactory(status=Analysis.Status.RUNNING)
    assert selectors.moment_comparison(running) == {"names": compared_names(), "moments": [],
                                                    "differences": [], "method": None}


def test_analyses_compare_with_the_footage_before_them():
    """Three footage of one project: the crowd, the same crowd again, then an all-happy crowd. Each is
    compared with the one before it: nothing between the first two, happiness against the third."""
    project = ProjectFactory()
    first = make_crowd_analysis(project=project)
    second = make_crowd_analysis(project=project)
    happy = finalized_crowd(project=project, faces_at=lambda t: [(k, "happy", 0.0) for k in range(12)])
    comparison = selectors.analyses_comparison([first, second, happy])
    assert [a["id"] for a in comparison["analyses"]] == [first.pk, second.pk, happy.pk]
    # Each analysis' intervals are the ones finalize stored (same engine, same seed).
    for row, analysis in zip(comparison["analyses"], (first, second, happy)):
        stored = analysis.summary["statistics"]
        assert row["statistics"]["shares"]["happy"]["interval"] == stored["intervals"]["happy"]
        assert row["statistics"]["valence"] == stored["valence"]
    pairs = [(d["first"], d["second"], d["flagged"]) for d in comparison["differences"]]
    assert pairs[0] == (first.pk, second.pk, [])
    assert pairs[1][:2] == (second.pk, happy.pk) and {"happy", "valence"} <= set(pairs[1][2])
    assert len(pairs) == 2   # consecutive pairs only


def test_moments_are_listed_searched_and_filtered_in_the_admin(client, crowd):
    from django.urls import reverse

    mark(crowd, "Opening act", 0, 10)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = reverse("admin:analysis_moment_changelist")
    assert "Opening act" in client.get(changelist, {"q": "opening"}).content.decode()
    organisation = crowd.footage.project.organisation_id
    filtered = client.get(changelist, {"analysis__footage__project__organisation__id__exact": organisation})
    assert filtered.status_code == 200 and "Opening act" in filtered.content.decode()
