"""One segment of an analysis: analyse its time slice of the footage and store the observations.

Idempotent: a segment run twice (a redelivered task, a duplicate enqueue) replaces what its earlier
try wrote and is counted once, so the last segment to finish knows it is the last.

Observations are streamed to the database while the segment runs, `OBSERVATION_BATCH_ROWS` at a time
(bulk_create), so a worker's memory does not grow with the footage's length; a segment that is
cancelled or fails takes its rows back. The detection schedule (`EMO7ION_DETECTION_SCHEDULE`, or the
one the analysis asked for in `summary["schedule"]`) is recorded on the analysis, with the time
spent per stage.

Liveness: a try first claims the segment (`attempts` + 1 names the try that owns it; a segment another
worker is analysing right now, its heartbeat fresh, is left to it) and then touches `heartbeat_at` every
few seconds while it works. When a try finds a newer one in its place (the watchdog took its silence for a
dead worker) it stops without writing another row. A storage outage while fetching the footage is raised as
`StorageUnavailable` before the claim, for the task to retry later.
"""
from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Least
from django.utils import timezone

from emo7ion_site.core.jobs import ERROR_MAX_CHARS, JobStatus, silent_for
from ml import runtime
from ml.engine.errors import EngineError, VideoReadError
from ml.engine.labels import EMOTIONS
from ml.engine.pipeline import analyse_segment
from ml.engine.schedule import DEFAULT_SCHEDULE, SCHEDULES

from .. import media
from ..models import Analysis, AnalysisSegment, FaceObservation
from .analyses import StorageUnavailable, analysis_step_run

log = logging.getLogger(__name__)

# How often a running segment writes its progress (a DB write per frame would be wasteful).
PROGRESS_EVERY_S = 1.0
# How often it touches its heartbeat at most (and at least a quarter of the watchdog's patience).
HEARTBEAT_EVERY_S = 10.0
# Observations written per bulk_create while a segment runs: memory holds at most this many rows.
OBSERVATION_BATCH_ROWS = 2000
# Faces per classifier call (faces of many frames: one `predict` per batch is what makes a CPU fast).
CLASSIFY_BATCH = 256
# Seconds per stage, summed over an analysis's segments (`summary["timings"]`).
TIMING_STAGES = ("decode", "detect", "classify", "store")


class SegmentSuperseded(Exception):
    """A newer try owns the segment now: this one stops and leaves the rows to it."""


def _fresh(heartbeat_at) -> bool:
    return silent_for(heartbeat_at) < settings.EMO7ION_WATCHDOG_STALE_AFTER_S


class _Claim:
    """This try's hold on its segment: taken by `take` (None when another worker is analysing the segment
    right now), checked before every write, renewed by `beat` (the heartbeat)."""

    def __init__(self, segment: AnalysisSegment, attempt: int):
        self.segment, self.attempt = segment, attempt
        self.last_beat = time.monotonic()
        self.beat_every = min(HEARTBEAT_EVERY_S, settings.EMO7ION_WATCHDOG_STALE_AFTER_S / 4)

    @classmethod
    def take(cls, segment: AnalysisSegment, worker: str = "") -> "_Claim | None":
        with transaction.atomic():
            current = AnalysisSegment.objects.select_for_update().get(pk=segment.pk)
            if current.status == AnalysisSegment.Status.RUNNING and _fresh(current.heartbeat_at):
                return None
            now = timezone.now()
            fields = dict(attempts=current.attempts + 1, started_at=now, heartbeat_at=now, error="", worker=worker[:200])
            if current.status != AnalysisSegment.Status.DONE:  # a done segment stays done: counted once
                fields["status"] = AnalysisSegment.Status.RUNNING
            AnalysisSegment.objects.filter(pk=segment.pk).update(**fields)
            # What an earlier try of this segment wrote goes, under the lock an older try writes under.
            FaceObservation.objects.filter(analysis_id=segment.analysis_id, segment_index=segment.index).delete()
        segment.progress = current.progress
        return cls(segment, current.attempts + 1)

    def mine(self):
        """The segment's row, if this try still owns it."""
        return AnalysisSegment.objects.filter(pk=self.segment.pk, attempts=self.attempt)

    def hold(self) -> None:
        """Lock the row until the transaction ends; SegmentSuperseded when a newer try took over."""
        if not self.mine().select_for_update().exists():
            raise SegmentSuperseded

    def beat(self, **fields) -> None:
        """Touch the heartbeat (with `fields`) when it is due or when there are fields to write."""
        now = time.monotonic()
        if fields or now - self.last_beat >= self.beat_every:
            if not self.mine().update(heartbeat_at=timezone.now(), **fields):
                raise SegmentSuperseded
            self.last_beat = now


class _ProgressReporter:
    """Adds this segment's share of progress to the Analysis row with F() updates, at most once a
    second, and beats the claim's heartbeat. A retried segment first takes back what its earlier try had
    added."""

    def __init__(self, claim: _Claim, segment_count: int):
        self.claim, self.segment = claim, claim.segment
        self.weight = 1.0 / max(1, segment_count)
        self.reported = 0.0
        self.last_write = 0.0

    def restart(self):
        earlier = self.segment.progress
        self.claim.beat(progress=0.0)
        if earlier:
            Analysis.objects.filter(pk=self.segment.analysis_id).update(progress=F("progress") - earlier * self.weight)

    def __call__(self, fraction: float, force: bool = False) -> None:
        fraction = min(1.0, max(0.0, float(fraction)))
        now = time.monotonic()
        if not force and (now - self.last_write < PROGRESS_EVERY_S or fraction <= self.reported):
            self.claim.beat()
            return
        delta = fraction - self.reported
        if delta <= 0:
            self.claim.beat()
            return
        self.claim.beat(progress=fraction)
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
            h=int(o.h), detector_score=float(o.score), top_emotion=top, yaw=o.yaw, pitch=o.pitch,
            **{f"p_{e}": p for e, p in zip(EMOTIONS, probs)}))
    return rows


class _ObservationWriter:
    """Receives a segment's observations batch by batch and writes them `OBSERVATION_BATCH_ROWS` at a
    time, while its try owns the segment; `discard()` deletes what this segment wrote."""

    def __init__(self, analysis: Analysis, claim: _Claim, labels: list[str]):
        self.analysis, self.claim, self.index, self.labels = analysis, claim, claim.segment.index, labels
        self.rows: list[FaceObservation] = []
        self.written = 0

    def add(self, observations) -> None:
        self.rows.extend(_observation_rows(self.analysis, self.index, observations, self.labels))
        if len(self.rows) >= OBSERVATION_BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            with transaction.atomic():
                self.claim.hold()
                FaceObservation.objects.bulk_create(self.rows, batch_size=OBSERVATION_BATCH_ROWS)
            self.written += len(self.rows)
            self.rows = []

    def discard(self) -> None:
        self.rows = []
        with transaction.atomic():
            self.claim.hold()  # a newer try's rows are not this one's to delete
            FaceObservation.objects.filter(analysis_id=self.analysis.pk, segment_index=self.index).delete()

    def discard_quietly(self) -> None:
        """`discard` while another error is on its way: that error is the one to report."""
        try:
            self.discard()
        except SegmentSuperseded:
            pass
        except Exception:
            log.exception("Analysis %s segment %s: could not delete its partial observations",
                          self.analysis.pk, self.index)


def schedule_for(analysis: Analysis) -> str:
    """The detection schedule an analysis runs with: the one it asked for, else the site's default."""
    requested = (analysis.summary or {}).get("schedule") or getattr(settings, "EMO7ION_DETECTION_SCHEDULE",
                                                                     DEFAULT_SCHEDULE)
    if requested not in SCHEDULES:
        raise EngineError(f"Unknown detection schedule {requested!r}; choose one of: {', '.join(SCHEDULES)}")
    return requested


def _record_schedule(analysis_id: int, result) -> None:
    """Say on the analysis which schedule made it, and add this segment's seconds per stage. Runs
    inside the transaction that counted the segment done, after its UPDATE of the analysis row, so
    that row is locked and concurrent segments add up instead of overwriting each other."""
    summary = Analysis.objects.values_list("summary", flat=True).get(pk=analysis_id) or {}
    timings = summary.get("timings") or {}
    summary.update(schedule=result.schedule, timings={
        stage: round(float(timings.get(stage, 0.0)) + float(result.timings.get(stage, 0.0)), 4)
        for stage in TIMING_STAGES})
    if result.schedule_stats:
        stats = {k: v for k, v in result.schedule_stats.items() if k != "options"}
        earlier = summary.get("schedule_stats") or {}
        summary["schedule_stats"] = {k: (earlier.get(k, 0) + v if isinstance(v, int) and k != "k_final" else v)
                                     for k, v in stats.items()}
    Analysis.objects.filter(pk=analysis_id).update(summary=summary)


def _boxes_json(boxes) -> dict:
    return {str(k): [int(v) for v in box] for k, box in (boxes or {}).items()}


def _footage_path(analysis: Analysis):
    """A local path to the footage. A missing file is StoredFileMissing (no try will find it); anything
    else that goes wrong while fetching it (a timeout, a refused connection: botocore's timeouts are
    OSErrors, which `media` reports as a file it cannot open) is the storage's trouble now:
    StorageUnavailable."""
    try:
        return media.local_path_for(analysis.footage)
    except media.StoredFileMissing as exc:
        if exc.__cause__ is None or isinstance(exc.__cause__, FileNotFoundError):
            raise
        error = exc.__cause__
    except Exception as exc:
        error = exc
    raise StorageUnavailable(f"The footage could not be read from storage ({type(error).__name__}: {error})") \
        from error


def analysis_segment_run(*, analysis_id: int, index: int, worker: str = "") -> bool:
    """Analyse one segment and store its observations. Idempotent: what an earlier try wrote
    for this segment is replaced. Returns True when this was the last segment to finish (the
    caller then runs finalize). Raises on failure; `analysis_segment_execute` turns that into a
    failed analysis. `worker` names who runs it (recorded on the segment)."""
    analysis = Analysis.objects.select_related("footage", "model_version").get(pk=analysis_id)
    if analysis.status != JobStatus.RUNNING:
        log.info("Analysis %s is %s; segment %s skipped", analysis_id, analysis.status, index)
        return False
    segment = AnalysisSegment.objects.get(analysis=analysis, index=index)
    # The footage and the models come before the claim: a storage outage is retried later with the segment
    # untouched, and the seconds a first model load takes are not silence on a claimed segment.
    path = _footage_path(analysis)
    classifier = runtime.get_classifier(analysis.model_version)
    detector = runtime.get_detector(analysis.detector)
    if list(classifier.labels) != list(analysis.model_version.labels) or set(classifier.labels) != set(EMOTIONS):
        raise EngineError(f"Model {analysis.model_version} does not predict the seven FER2013 emotions "
                          f"(its labels: {', '.join(classifier.labels)})")
    claim = _Claim.take(segment, worker)
    if claim is None:
        log.info("Analysis %s segment %s: another worker is analysing it right now; this delivery does nothing",
                 analysis_id, index)
        return False
    try:
        return _analyse_claimed(analysis, claim, path, classifier, detector)
    except SegmentSuperseded:
        log.warning("Analysis %s segment %s: a newer try took it over; this one stopped", analysis_id, index)
        return False


def _analyse_claimed(analysis: Analysis, claim: _Claim, path, classifier, detector) -> bool:
    analysis_id, segment = analysis.pk, claim.segment
    index = segment.index
    progress = _ProgressReporter(claim, analysis.segment_count)
    progress.restart()
    is_last_segment = index == analysis.segment_count - 1
    writer = _ObservationWriter(analysis, claim, list(classifier.labels))
    try:
        result = analyse_segment(
            path, detector=detector, classifier=classifier, sample_fps=analysis.sample_fps,
            t_start=segment.t_start, t_end=None if is_last_segment else segment.t_end,
            should_cancel=lambda: not _still_running(analysis_id), on_progress=progress, batch_size=CLASSIFY_BATCH,
            schedule=schedule_for(analysis), on_observations=writer.add)
        writer.flush()
    except SegmentSuperseded:
        raise
    except Exception as exc:
        writer.discard_quietly()
        if isinstance(exc, EngineError):
            # The engine names the local (cache) file; the person knows it by the name they uploaded.
            raise type(exc)(str(exc).replace(path.name, analysis.footage.original_name)) from exc
        raise
    if result.cancelled:
        writer.discard()
        log.info("Analysis %s segment %s stopped: the analysis is no longer running", analysis_id, index)
        claim.mine().filter(status=AnalysisSegment.Status.RUNNING).update(status=AnalysisSegment.Status.PENDING)
        return False

    if result.stopped_early:
        writer.discard()
        # Whatever was read before the break is only part of this segment: never let it pass as
        # the whole (upload validation normally catches such files before they get here).
        raise VideoReadError((result.warning or "The footage stopped decoding early (truncated or corrupt file)")
                             .replace(path.name, analysis.footage.original_name))
    with transaction.atomic():
        claim.hold()
        stats = dict(frames_analysed=result.frames_analysed, faces_detected=result.faces_detected,
                     track_count=result.track_count, wall_time_s=round(result.wall_time_s, 4),
                     first_frame_boxes=_boxes_json(result.first_frame_boxes),
                     last_frame_boxes=_boxes_json(result.last_frame_boxes),
                     frame_times=[round(float(t), 4) for t in result.frame_times],
                     warning=(result.warning or "")[:2000], finished_at=timezone.now())
        claim.mine().update(**stats)
        # Count each segment once, however often it ran: only the try that flips it to done counts.
        first_time_done = claim.mine().exclude(status=AnalysisSegment.Status.DONE).update(
            status=AnalysisSegment.Status.DONE)
        progress(1.0, force=True)
        if first_time_done:
            # The UPDATE locks the analysis row until commit, so concurrent segments see each
            # other's increments and exactly one of them reads segments_done == segment_count.
            Analysis.objects.filter(pk=analysis_id).update(segments_done=F("segments_done") + 1)
            _record_schedule(analysis_id, result)
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


def analysis_segment_execute(*, analysis_id: int, index: int, storage_try: int = 1, storage_tries: int = 1,
                             worker: str = "") -> bool:
    """`analysis_segment_run` for a worker: any error marks the segment and the analysis failed with
    a reason a person can read, and never escapes (the worker carries on with the next task). Except a
    storage outage on try `storage_try` of `storage_tries`: before the last it is raised
    (StorageUnavailable) for the task to retry; on the last the reason says how often it tried."""
    def mark_segment_failed(reason: str) -> None:
        AnalysisSegment.objects.filter(analysis_id=analysis_id, index=index).update(
            status=AnalysisSegment.Status.FAILED, error=reason[:ERROR_MAX_CHARS])

    def step() -> bool:
        try:
            return analysis_segment_run(analysis_id=analysis_id, index=index, worker=worker)
        except StorageUnavailable as exc:
            if storage_try < storage_tries or storage_tries <= 1:
                raise
            raise StorageUnavailable(f"{exc}; tried {storage_tries} times") from exc

    return analysis_step_run(analysis_id=analysis_id, step=step, where=lambda: _segment_label(analysis_id, index),
                             on_failure=mark_segment_failed, failed=False,
                             retry_on=(StorageUnavailable,) if storage_try < storage_tries else ())
