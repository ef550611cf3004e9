"""One segment of an analysis: analyse its time slice of the footage and store the observations.

Idempotent: a segment run twice (a redelivered task, a duplicate enqueue) replaces what its earlier
try wrote and is counted once, so the last segment to finish knows it is the last.
"""
from __future__ import annotations

import logging
import time

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from emo7ion_site.core.jobs import ERROR_MAX_CHARS, JobStatus
from ml import runtime
from ml.engine.errors import EngineError, VideoReadError
from ml.engine.labels import EMOTIONS
from ml.engine.pipeline import analyse_segment

from .. import media
from ..models import Analysis, AnalysisSegment, FaceObservation
from .analyses import analysis_step_run

log = logging.getLogger(__name__)

# How often a running segment writes its progress (a DB write per frame would be wasteful).
PROGRESS_EVERY_S = 1.0


class _ProgressReporter:
    """Adds this segment's share of progress to the Analysis row with F() updates, at most once a
    second. A retried segment first takes back what its earlier try had added."""

    def __init__(self, segment: AnalysisSegment, segment_count: int):
        self.segment = segment
        self.weight = 1.0 / max(1, segment_count)
        self.reported = 0.0
        self.last_write = 0.0

    def restart(self):
        earlier = self.segment.progress
        AnalysisSegment.objects.filter(pk=self.segment.pk).update(progress=0.0)
        if earlier:
            Analysis.objects.filter(pk=self.segment.analysis_id).update(progress=F("progress") - earlier * self.weight)

    def __call__(self, fraction: float, force: bool = False) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        now = time.monotonic()
        if not force and (now - self.last_write < PROGRESS_EVERY_S or fraction <= self.reported):
            return
        delta = fraction - self.reported
        if delta <= 0:
            return
        AnalysisSegment.objects.filter(pk=self.segment.pk).update(progress=fraction)
        Analysis.objects.filter(pk=self.segment.analysis_id).update(
            progress=Least(F("progress") + delta * self.weight, Value(1.0)))
        self.reported, self.last_write = fraction, now


def _still_running(analysis_id: int) -> bool:
    return Analysis.objects.filter(pk=analysis_id, status=JobStatus.RUNNING).exists()


def _observation_rows(analysis: Analysis, index: int, observations, labels: list[str]) -> list[FaceObservation]:
    # The model's metadata names its classes; store them under the FER2013 names we keep.
    order = [labels.index(e) for e in EMOTIONS]
    rows = []
    for o in observations:
        probs = [float(o.probs[i]) for i in order]
        top = EMOTIONS[max(range(len(EMOTIONS)), key=probs.__getitem__)]
        rows.append(FaceObservation(
            analysis=analysis, segment_index=index, t=float(o.t), frame_index=int(o.frame_index),
            track_id=int(o.track_id), segment_track_id=int(o.track_id), x=int(o.x), y=int(o.y), w=int(o.w),
            h=int(o.h), detector_score=float(o.score), top_emotion=top,
            **{f"p_{e}": p for e, p in zip(EMOTIONS, probs)}))
    return rows


def _boxes_json(boxes) -> dict:
    return {str(k): [int(v) for v in box] for k, box in (boxes or {}).items()}


def analysis_segment_run(*, analysis_id: int, index: int) -> bool:
    """Analyse one segment and store its observations. Idempotent: what an earlier try wrote
    for this segment is replaced. Returns True when this was the last segment to finish (the
    caller then runs finalize). Raises on failure; `analysis_segment_execute` turns that into a
    failed analysis."""
    analysis = Analysis.objects.select_related("footage", "model_version").get(pk=analysis_id)
    if analysis.status != JobStatus.RUNNING:
        log.info("Analysis %s is %s; segment %s skipped", analysis_id, analysis.status, index)
        return False
    segment = AnalysisSegment.objects.get(analysis=analysis, index=index)
    progress = _ProgressReporter(segment, analysis.segment_count)
    progress.restart()
    AnalysisSegment.objects.filter(pk=segment.pk).update(attempts=F("attempts") + 1, started_at=timezone.now(),
                                                         error="")
    # A segment that is already done stays done (so it is never counted twice).
    AnalysisSegment.objects.filter(pk=segment.pk).exclude(status=AnalysisSegment.Status.DONE).update(
        status=AnalysisSegment.Status.RUNNING)

    path = media.local_path_for(analysis.footage)
    classifier = runtime.get_classifier(analysis.model_version)
    detector = runtime.get_detector(analysis.detector)
    if list(classifier.labels) != list(analysis.model_version.labels) or set(classifier.labels) != set(EMOTIONS):
        raise EngineError(f"Model {analysis.model_version} does not predict the seven FER2013 emotions "
                          f"(its labels: {', '.join(classifier.labels)})")
    is_last_segment = index == analysis.segment_count - 1
    try:
        result = analyse_segment(
            path, detector=detector, classifier=classifier, sample_fps=analysis.sample_fps,
            t_start=segment.t_start, t_end=None if is_last_segment else segment.t_end,
            should_cancel=lambda: not _still_running(analysis_id), on_progress=progress)
    except EngineError as exc:
        # The engine names the local (cache) file; the person knows it by the name they uploaded.
        raise type(exc)(str(exc).replace(path.name, analysis.footage.original_name)) from exc
    if result.cancelled:
        log.info("Analysis %s segment %s stopped: the analysis is no longer running", analysis_id, index)
        AnalysisSegment.objects.filter(pk=segment.pk, status=AnalysisSegment.Status.RUNNING).update(
            status=AnalysisSegment.Status.PENDING)
        return False

    if result.stopped_early:
        # Whatever was read before the break is only part of this segment: never let it pass as
        # the whole (upload validation normally catches such files before they get here).
        raise VideoReadError((result.warning or "The footage stopped decoding early (truncated or corrupt file)")
                             .replace(path.name, analysis.footage.original_name))
    rows = _observation_rows(analysis, index, result.observations, list(classifier.labels))
    with transaction.atomic():
        FaceObservation.objects.filter(analysis_id=analysis_id, segment_index=index).delete()
        FaceObservation.objects.bulk_create(rows, batch_size=2000)
        stats = dict(frames_analysed=result.frames_analysed, faces_detected=result.faces_detected,
                     track_count=result.track_count, wall_time_s=round(result.wall_time_s, 4),
                     first_frame_boxes=_boxes_json(result.first_frame_boxes),
                     last_frame_boxes=_boxes_json(result.last_frame_boxes),
                     frame_times=[round(float(t), 4) for t in result.frame_times],
                     warning=(result.warning or "")[:2000], finished_at=timezone.now())
        AnalysisSegment.objects.filter(pk=segment.pk).update(**stats)
        # Count each segment once, however often it ran: only the try that flips it to done counts.
        first_time_done = AnalysisSegment.objects.filter(pk=segment.pk).exclude(
            status=AnalysisSegment.Status.DONE).update(status=AnalysisSegment.Status.DONE)
        progress(1.0, force=True)
        if first_time_done:
            # The UPDATE locks the analysis row until commit, so concurrent segments see each
            # other's increments and exactly one of them reads segments_done == segment_count.
            Analysis.objects.filter(pk=analysis_id).update(segments_done=F("segments_done") + 1)
        done, count = Analysis.objects.filter(pk=analysis_id).values_list("segments_done", "segment_count").get()
        # A redelivered segment (its worker died after this commit but before finalize ran) also
        # answers True when all are done; finalize is idempotent and runs only while `running`.
        return done >= count


def _segment_label(analysis_id: int, index: int) -> str:
    segment = AnalysisSegment.objects.filter(analysis_id=analysis_id, index=index).first()
    count = Analysis.objects.filter(pk=analysis_id).values_list("segment_count", flat=True).first() or 1
    if segment is None or count <= 1:
        return "Analysing the footage"
    return f"Analysing segment {index + 1} of {count} ({segment.t_start:g}–{segment.t_end:g} s)"


def analysis_segment_execute(*, analysis_id: int, index: int) -> bool:
    """`analysis_segment_run` for a worker: any error marks the segment and the analysis failed with
    a reason a person can read, and never escapes (the worker carries on with the next task)."""
    def mark_segment_failed(reason: str) -> None:
        AnalysisSegment.objects.filter(analysis_id=analysis_id, index=index).update(
            status=AnalysisSegment.Status.FAILED, error=reason[:ERROR_MAX_CHARS])

    return analysis_step_run(analysis_id=analysis_id, step=lambda: analysis_segment_run(analysis_id=analysis_id,
                                                                                        index=index),
                             where=lambda: _segment_label(analysis_id, index), on_failure=mark_segment_failed,
                             failed=False)
