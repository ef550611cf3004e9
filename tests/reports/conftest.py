"""Synthetic analyses with known answers, for the report selectors, exports, figures and pages.

The scene (20 s of footage at 24 fps, sampled at 2 fps: 40 frames at t = 0, 0.5, ... 19.5):
  track 0  in every frame:   happy  for t < 10, neutral for 10 <= t < 15, fear  for t >= 15
  track 1  for t < 10:       sad    for t < 5,  happy   for 5 <= t < 10
  track 2  for t >= 10:      neutral for t < 15, angry  for t >= 15
so 80 observations: happy 30, neutral 20, fear 10, sad 10, angry 10; 3 tracks; the most positive
window is 5-10 s (both faces happy), the most negative 15-20 s (fear and angry).
The top emotion gets probability TOP_P[track]; the other six share the rest equally.

Reports only read what finalize stored, so the scene's timeline is stored as finalize stores it: the
engine's bucket rule and aggregation (`store_timeline`), with 1 s windows (EMO7ION_BUCKET_SECONDS=1).
"""
from __future__ import annotations

import pytest

from accounts.models import Role
from analysis.models import Analysis, FaceObservation, TimelineBucket
from ml.engine.labels import EMOTIONS
from ml.engine.timeline import aggregate_timeline, bucket_seconds
from tests.factories import AnalysisFactory, FootageFactory, ModelVersionFactory, ProjectFactory, member_of

FPS = 24
SAMPLE_FPS = 2.0
DURATION = 20.0
TOP_P = {0: 0.7, 1: 0.6, 2: 0.5}
SCENE_BUCKET_S = bucket_seconds(DURATION, SAMPLE_FPS, preferred_s=1.0)   # 1 s: 20 windows of 2 frames


def scene_top(track: int, t: float) -> str | None:
    if track == 0:
        return "happy" if t < 10 else ("neutral" if t < 15 else "fear")
    if track == 1:
        return None if t >= 10 else ("sad" if t < 5 else "happy")
    if track == 2:
        return None if t < 10 else ("neutral" if t < 15 else "angry")
    return None


def probs_for(top: str, top_p: float) -> dict[str, float]:
    rest = (1.0 - top_p) / (len(EMOTIONS) - 1)
    return {f"p_{e}": (top_p if e == top else rest) for e in EMOTIONS}


def add_scene(analysis: Analysis, *, segment_s: float = 10.0, offset_track: int = 0) -> list[FaceObservation]:
    rows = []
    for k in range(int(DURATION * SAMPLE_FPS)):
        t = k / SAMPLE_FPS
        for track in (0, 1, 2):
            top = scene_top(track, t)
            if top is None:
                continue
            rows.append(FaceObservation(
                analysis=analysis, segment_index=int(t // segment_s), t=t, frame_index=int(round(t * FPS)),
                track_id=track + offset_track, x=40 + 120 * track, y=60, w=80, h=80, detector_score=0.9,
                top_emotion=top, **probs_for(top, TOP_P[track])))
    return FaceObservation.objects.bulk_create(rows)


def store_timeline(analysis: Analysis, bucket_s: float) -> list[TimelineBucket]:
    """What finalize stores: the engine's buckets over the analysis' observations (frames counted on
    the sampling grid, as the segments' frame times would give them)."""
    footage = analysis.footage
    rows = list(analysis.observations.values("t", "track_id", *(f"p_{e}" for e in EMOTIONS)))
    buckets = aggregate_timeline(rows, bucket_s, footage.duration_s or 0.0, sample_fps=analysis.sample_fps,
                                 fps=footage.fps)
    return TimelineBucket.objects.bulk_create([TimelineBucket(analysis=analysis, **b) for b in buckets])


@pytest.fixture
def org_member(db):
    """(organisation, viewer user) of organisation A."""
    project = ProjectFactory()
    return project.organisation, member_of(project.organisation, Role.VIEWER)


@pytest.fixture
def scene_analysis(db):
    """A succeeded analysis of the scene above, with finalize's timeline buckets but no stored summary
    (so the key figures are counted from the observations)."""
    footage = FootageFactory(duration_s=DURATION, fps=FPS, frame_count=int(DURATION * FPS))
    analysis = AnalysisFactory(footage=footage, model_version=ModelVersionFactory(), sample_fps=SAMPLE_FPS,
                               status=Analysis.Status.SUCCEEDED, progress=1.0)
    add_scene(analysis)
    store_timeline(analysis, SCENE_BUCKET_S)
    return analysis


@pytest.fixture
def viewer(scene_analysis):
    return member_of(scene_analysis.footage.project.organisation, Role.VIEWER)


# --- A crowd, finalized for real: intervals over tracks, attention and derived valence -----------------
#
# 20 s sampled at 2 fps (40 frames), finalize's default rule: ten 2 s windows of 4 frames.
#   tracks 0-9   for t < 10:        sad (0-6) or neutral (7-9); even tracks face the camera, odd ones look 70° away
#   tracks 10-19 for 10 <= t < 18:  happy (10-16), surprise (17), neutral (18-19); all face it but track 19 (50°)
#   tracks 20-21 for t >= 18:       happy: the last window has two tracks, too few for an interval
CROWD_DURATION = 20.0


def crowd_faces(t: float) -> list[tuple[int, str, float]]:
    """(track, top expression, yaw) of every face at time t."""
    if t < 10:
        return [(k, "sad" if k < 7 else "neutral", 0.0 if k % 2 == 0 else 70.0) for k in range(10)]
    if t < 18:
        return [(k, "happy" if k < 17 else ("surprise" if k == 17 else "neutral"), 50.0 if k == 19 else -5.0)
                for k in range(10, 20)]
    return [(20, "happy", 0.0), (21, "happy", 5.0)]


def make_crowd_analysis(*, project=None, with_pose: bool = True) -> Analysis:
    """An analysis of the crowd above, its observations written as a segment writes them, then
    finalized by the real `analysis_finalize` (what the reports read is what finalize stores)."""
    from analysis.models import AnalysisSegment
    from analysis.services import analysis_finalize

    footage = FootageFactory(duration_s=CROWD_DURATION, fps=FPS, frame_count=int(CROWD_DURATION * FPS),
                             original_name="gala-crowd.mp4", **({"project": project} if project else {}))
    analysis = AnalysisFactory(footage=footage, model_version=ModelVersionFactory(), sample_fps=SAMPLE_FPS,
                               detector="yunet" if with_pose else "haar", status=Analysis.Status.RUNNING,
                               segment_count=1, segments_done=1)
    frame_times = [k / SAMPLE_FPS for k in range(int(CROWD_DURATION * SAMPLE_FPS))]
    AnalysisSegment.objects.create(analysis=analysis, index=0, t_start=0.0, t_end=CROWD_DURATION,
                                   status=AnalysisSegment.Status.DONE, frames_analysed=len(frame_times),
                                   track_count=22, frame_times=frame_times)
    FaceObservation.objects.bulk_create([
        FaceObservation(analysis=analysis, segment_index=0, t=t, frame_index=int(round(t * FPS)), track_id=track,
                        segment_track_id=track, x=20 + 60 * (track % 10), y=80, w=50, h=60, detector_score=0.9,
                        top_emotion=top, yaw=yaw if with_pose else None, pitch=0.0 if with_pose else None,
                        **probs_for(top, 0.7))
        for t in frame_times for track, top, yaw in crowd_faces(t)])
    analysis_finalize(analysis_id=analysis.pk)
    analysis.refresh_from_db()
    return analysis


@pytest.fixture
def crowd_analysis(db):
    return make_crowd_analysis()


@pytest.fixture
def crowd_viewer(crowd_analysis):
    return member_of(crowd_analysis.footage.project.organisation, Role.VIEWER)
