"""What the live worker writes: a session's results stored as an analysis, while it runs and when it stops.

A session is recorded in chunks (EMO7ION_LIVE_CHUNK_SECONDS, 60 s): each chunk is one
AnalysisSegment, with its own tracker, so finalize stitches tracks across chunks exactly as it
stitches the segments of an uploaded footage. The worker stores a chunk's new observations, frame
times and track boundaries every 2 s, so a worker that dies loses at most that much.

When the session stops, the open chunk is closed and `analysis.services.analysis_finalize` computes
the timeline buckets and the summary: the report, API, exports and webhooks then work as for an upload.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import F, Max, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from analysis.models import Analysis, AnalysisSegment, FaceObservation, Footage
from analysis.services import analysis_fail, analysis_finalize, human_reason
from emo7ion_site.core.jobs import JobStatus
from ml.engine.labels import EMOTIONS

from ..models import LiveSession

log = logging.getLogger(__name__)


@dataclass
class ChunkUpdate:
    """What a worker hands over for one chunk since its last store."""
    analysis_id: int
    session_id: int
    index: int
    t_start: float
    t_end: float
    faces: list = field(default_factory=list)          # (t, frame_index, inference.Face)
    frame_times: list = field(default_factory=list)    # every frame of the chunk so far (not only new ones)
    first_frame_boxes: dict = field(default_factory=dict)
    last_frame_boxes: dict = field(default_factory=dict)
    track_count: int = 0
    faces_detected: int = 0                            # in the chunk so far
    wall_time_s: float = 0.0                           # in the chunk so far
    received: int = 0                                  # since the last store
    analysed: int = 0
    dropped: int = 0


def live_resume_point(*, analysis_id: int) -> tuple[int, int]:
    """(next chunk index, next frame index) for a session a worker takes up, e.g. after a restart:
    what an earlier worker stored is kept and its open chunk closed."""
    AnalysisSegment.objects.filter(analysis_id=analysis_id, status=AnalysisSegment.Status.RUNNING) \
        .update(status=AnalysisSegment.Status.DONE, finished_at=timezone.now())
    last_index = AnalysisSegment.objects.filter(analysis_id=analysis_id).aggregate(m=Max("index"))["m"]
    last_frame = FaceObservation.objects.filter(analysis_id=analysis_id).aggregate(m=Max("frame_index"))["m"]
    frames = sum(len(ts) for ts in AnalysisSegment.objects.filter(analysis_id=analysis_id)
                 .values_list("frame_times", flat=True))
    return (0 if last_index is None else last_index + 1), max(frames, 0 if last_frame is None else last_frame + 1)


def live_chunk_open(*, analysis_id: int, index: int, t_start: float) -> None:
    AnalysisSegment.objects.update_or_create(
        analysis_id=analysis_id, index=index,
        defaults={"t_start": t_start, "t_end": t_start, "status": AnalysisSegment.Status.RUNNING, "attempts": 1,
                  "started_at": timezone.now()})
    Analysis.objects.filter(pk=analysis_id).update(segment_count=Greatest(F("segment_count"), Value(index + 1)))


def _observation(update: ChunkUpdate, t: float, frame_index: int, face) -> FaceObservation:
    x, y, w, h = face.box
    return FaceObservation(
        analysis_id=update.analysis_id, segment_index=update.index, t=t, frame_index=frame_index,
        track_id=face.track_id, segment_track_id=face.track_id, x=x, y=y, w=w, h=h, detector_score=face.score,
        top_emotion=face.emotion, **{f"p_{e}": float(p) for e, p in zip(EMOTIONS, face.probs)})


def live_chunk_store(*, update: ChunkUpdate, close: bool = False) -> None:
    """Store a chunk's new observations and its bookkeeping; `close` marks the chunk done."""
    with transaction.atomic():
        FaceObservation.objects.bulk_create([_observation(update, t, i, face) for t, i, face in update.faces],
                                            batch_size=2000)
        AnalysisSegment.objects.filter(analysis_id=update.analysis_id, index=update.index).update(
            t_end=update.t_end, frame_times=[round(float(t), 4) for t in update.frame_times],
            frames_analysed=len(update.frame_times), faces_detected=update.faces_detected,
            track_count=update.track_count, first_frame_boxes={str(k): v for k, v in update.first_frame_boxes.items()},
            last_frame_boxes={str(k): v for k, v in update.last_frame_boxes.items()},
            wall_time_s=round(update.wall_time_s, 4), progress=1.0 if close else 0.0)
        if close:
            AnalysisSegment.objects.filter(analysis_id=update.analysis_id, index=update.index).exclude(
                status=AnalysisSegment.Status.DONE).update(status=AnalysisSegment.Status.DONE,
                                                           finished_at=timezone.now())
        LiveSession.objects.filter(pk=update.session_id).update(
            frames_received=F("frames_received") + update.received,
            frames_analysed=F("frames_analysed") + update.analysed,
            frames_dropped=F("frames_dropped") + update.dropped, last_frame_at=timezone.now())
        Footage.objects.filter(analyses=update.analysis_id).update(
            duration_s=Greatest(F("duration_s"), Value(round(float(update.t_end), 3))))


def live_session_set_state(*, session_id: int, state: str, message: str = "", from_states=None) -> bool:
    """A state the worker observed (running, reconnecting). Returns whether it changed; `from_states`
    keeps a stop or pause that a person asked for from being overwritten."""
    rows = LiveSession.objects.filter(pk=session_id)
    if from_states is not None:
        rows = rows.filter(state__in=from_states)
    return bool(rows.exclude(state=state, state_message=message).update(state=state, state_message=message[:500]))


def live_session_finish(*, session_id: int) -> LiveSession:
    """Close what is open, finalize the analysis (timeline, summary, webhooks) and mark the session
    stopped; any failure marks both failed with a reason. Finishing twice changes nothing."""
    session = LiveSession.objects.select_related("analysis").get(pk=session_id)
    if session.state in (LiveSession.State.STOPPED, LiveSession.State.FAILED):
        return session
    analysis_id = session.analysis_id
    state, message = LiveSession.State.STOPPED, "Stopped. The report is ready."
    try:
        with transaction.atomic():
            segments = AnalysisSegment.objects.filter(analysis_id=analysis_id)
            segments.exclude(status=AnalysisSegment.Status.DONE).update(
                status=AnalysisSegment.Status.DONE, progress=1.0, finished_at=timezone.now())
            count = segments.count()
            Analysis.objects.filter(pk=analysis_id).update(segment_count=count, segments_done=count)
        if analysis_finalize(analysis_id=analysis_id) is None:
            status = Analysis.objects.values_list("status", flat=True).get(pk=analysis_id)
            if status != JobStatus.SUCCEEDED:
                state, message = LiveSession.State.STOPPED, f"Stopped: the analysis was {status}."
    except Exception as exc:
        log.exception("Live session %s: finalize failed", session_id)
        reason = human_reason(exc, "Storing the live session's report")
        analysis_fail(analysis_id=analysis_id, reason=reason)
        state, message = LiveSession.State.FAILED, reason
    LiveSession.objects.filter(pk=session_id).update(state=state, state_message=message[:500],
                                                     stopped_at=timezone.now())
    session.refresh_from_db()
    return session


def live_session_fail(*, session_id: int, reason: str) -> None:
    session = LiveSession.objects.get(pk=session_id)
    analysis_fail(analysis_id=session.analysis_id, reason=reason)
    LiveSession.objects.filter(pk=session_id).update(state=LiveSession.State.FAILED, state_message=reason[:500],
                                                     stopped_at=timezone.now())
