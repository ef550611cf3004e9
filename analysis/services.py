"""Writes: projects, footage upload and validation, and the analysis pipeline's steps.

The Celery tasks (analysis.tasks) and `manage.py analyse` call the same functions here, so the
worker and the command line run one pipeline:

    analysis_create -> analysis_plan -> analysis_segment_execute (per segment) -> analysis_finalize

Callers check permissions (views and the API through accounts.tenancy, the command through its
--user); these functions trust that they were allowed.
"""
from __future__ import annotations

import logging
import math
import secrets
import time
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.db.models.functions import Least
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from ml.engine.errors import EngineError, VideoReadError
from ml.engine.labels import EMOTIONS

from . import media
from .models import Analysis, AnalysisSegment, FaceObservation, Footage, Project, TimelineBucket
from .signals import analysis_finished

log = logging.getLogger(__name__)

# Timeline buckets: EMO7ION_BUCKET_SECONDS wide, but a long footage gets at most MAX_BUCKETS
# (a chart of 1,000 bars is unreadable and slow) and a short clip at least about MIN_BUCKETS
# (one bar for a 20 s clip says nothing). Never narrower than the sampling interval, which
# would leave empty buckets between samples. Widths are rounded up to a "nice" step.
MIN_BUCKETS = 12
MAX_BUCKETS = 120
NICE_STEPS = (0.25, 0.5, 1, 2, 3, 5, 10, 15, 20, 30, 60, 120, 180, 300, 600, 900, 1200, 1800, 3600)

# How often a running segment writes its progress (a DB write per frame would be wasteful).
PROGRESS_EVERY_S = 1.0
MAX_SAMPLE_FPS = 30.0
MIN_SAMPLE_FPS = 0.05


# --- Projects ---------------------------------------------------------------------------------------

def project_create(*, organisation, name: str, description: str = "", created_by) -> Project:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A project needs a name."})
    return Project.objects.create(organisation=organisation, name=name[:200], description=description or "",
                                  created_by=created_by)


def project_update(*, project: Project, **fields) -> Project:
    if "name" in fields:
        fields["name"] = fields["name"].strip()
        if not fields["name"]:
            raise ValidationError({"name": "A project needs a name."})
    for key, value in fields.items():
        setattr(project, key, value)
    if fields:
        project.save(update_fields=list(fields))
    return project


def project_delete(*, project: Project) -> None:
    # Rows cascade; stored files do not, and raw footage must not outlive its project.
    names = [n for n in Footage.objects.filter(project=project).values_list("file", flat=True) if n]
    storage = Footage._meta.get_field("file").storage
    with transaction.atomic():
        project.delete()
        transaction.on_commit(lambda: [storage.delete(name) for name in names])


# --- Footage ----------------------------------------------------------------------------------------

def _reject(footage: Footage, reason: str) -> Footage:
    footage.status = Footage.Status.REJECTED
    footage.rejection_reason = reason
    footage.save(update_fields=["status", "rejection_reason"])
    log.info("Footage %s rejected: %s", footage.pk, reason)
    return footage


def _size_limit_reason(size: int) -> str | None:
    limit = settings.EMO7ION_MAX_UPLOAD_BYTES
    if size > limit:
        return f"The file is {filesizeformat(size)}; the largest file this site accepts is {filesizeformat(limit)}."
    return None


def _footage_record(project: Project, name: str, size_bytes: int | None, uploaded_by) -> Footage:
    original_name = Path(name or "upload").name[:255] or "upload"
    return Footage.objects.create(project=project, original_name=original_name, uploaded_by=uploaded_by,
                                  status=Footage.Status.UPLOADING, size_bytes=size_bytes)


def footage_record_oversized_upload(*, project: Project, original_name: str, size_bytes: int,
                                    uploaded_by) -> Footage:
    """An upload the size limit stopped before storing any of it (emo7ion_site.uploads): recorded
    as rejected, with the reason, like every other refused upload."""
    footage = _footage_record(project, original_name, size_bytes, uploaded_by)
    return _reject(footage, _size_limit_reason(size_bytes))  # the handler stops only bodies over the limit


def footage_create_from_upload(*, project: Project, uploaded_file, uploaded_by) -> Footage:
    """Store an uploaded file under the organisation's prefix, then validate it by content.

    The Footage row is created first and kept whatever happens, so a rejected upload is
    recorded with its reason instead of vanishing. `uploaded_file` is any Django File
    (an UploadedFile from a form, or File(open(path, "rb")) from the command line).
    """
    footage = _footage_record(project, getattr(uploaded_file, "name", ""), uploaded_file.size, uploaded_by)
    reason = _size_limit_reason(uploaded_file.size or 0)
    if reason:
        return _reject(footage, reason)
    original_name = footage.original_name
    # A random prefix keeps keys unguessable and lets two uploads share a name.
    key_name = f"{secrets.token_hex(6)}-{default_storage.get_valid_name(original_name)}"
    try:
        footage.file.save(key_name, uploaded_file, save=False)
    except Exception as exc:  # storage down, disk full: the person should hear it, the record remains
        log.exception("Storing footage %s failed", footage.pk)
        return _reject(footage, f"The file could not be stored ({type(exc).__name__}); please try again.")
    footage.save(update_fields=["file"])
    return footage_validate_stored(footage=footage)


def footage_validate_stored(*, footage: Footage) -> Footage:
    """Read the stored object, record its sha256 and size, probe it by content and mark it
    `ready` or `rejected` with a reason a person understands. The direct-to-S3 upload flow
    calls this when the client says the upload is complete."""
    if not footage.file:
        return _reject(footage, "No file was received for this footage.")
    try:
        copy = media.local_copy_of_new(footage.file.name)
    except media.StoredFileMissing:
        return _reject(footage, "The upload did not arrive in storage; please upload the file again.")
    footage.sha256, footage.size_bytes = copy.sha256, copy.size_bytes
    footage.save(update_fields=["sha256", "size_bytes"])
    reason = _size_limit_reason(copy.size_bytes)
    if reason:
        return _reject(footage, reason)
    if copy.size_bytes == 0:
        return _reject(footage, f"{footage.original_name} is empty (0 bytes).")
    from ml.engine.video import probe_media
    try:
        info = probe_media(copy.path)
    except VideoReadError as exc:
        # The engine names the cache file; the person knows their file by its own name.
        return _reject(footage, str(exc).replace(copy.path.name, footage.original_name))
    except Exception as exc:  # OpenCV can raise its own errors on hostile input
        log.exception("Probing footage %s failed", footage.pk)
        return _reject(footage, f"{footage.original_name} could not be read as a video or image ({type(exc).__name__}).")
    footage.kind = Footage.Kind.IMAGE if info.kind == "image" else Footage.Kind.VIDEO
    footage.fps, footage.frame_count, footage.duration_s = info.fps, info.frame_count, info.duration_s
    footage.width, footage.height = info.width, info.height
    footage.status, footage.rejection_reason = Footage.Status.READY, ""
    footage.save(update_fields=["kind", "fps", "frame_count", "duration_s", "width", "height", "status",
                                "rejection_reason"])
    return footage


# --- Analyses: create and cancel ----------------------------------------------------------------------

def _validate_detector(detector: str | None) -> str:
    from ml.engine.detectors import DETECTOR_NAMES
    from ml.runtime import default_detector_name
    name = (detector or default_detector_name()).strip().lower()
    if name not in DETECTOR_NAMES:
        raise ValidationError({"detector": f"Unknown face detector {detector!r}; choose one of: "
                                           f"{', '.join(DETECTOR_NAMES)}."})
    if name == "yunet" and not (settings.EMO7ION_YUNET_MODEL and Path(settings.EMO7ION_YUNET_MODEL).is_file()):
        raise ValidationError({"detector": "The yunet detector is not installed on this server "
                                           "(EMO7ION_YUNET_MODEL); use haar, or ask an administrator."})
    return name


def _validate_sample_fps(sample_fps) -> float:
    value = settings.EMO7ION_DEFAULT_SAMPLE_FPS if sample_fps in (None, "") else sample_fps
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValidationError({"sample_fps": "The sample rate must be a number of frames per second."})
    if not math.isfinite(value) or not (MIN_SAMPLE_FPS <= value <= MAX_SAMPLE_FPS):
        raise ValidationError({"sample_fps": f"The sample rate must be between {MIN_SAMPLE_FPS:g} and "
                                             f"{MAX_SAMPLE_FPS:g} frames per second."})
    return value


def analysis_create(*, footage: Footage, created_by, model_version=None, detector: str | None = None,
                    sample_fps: float | None = None, enqueue: bool = True) -> Analysis:
    """Record a queued analysis and, once the transaction commits, hand it to a worker.

    `enqueue=False` is for the command line, which runs the same steps in-process."""
    if footage.status != Footage.Status.READY:
        raise ValidationError("Only footage that is ready can be analysed"
                              + (f" (this one was rejected: {footage.rejection_reason})"
                                 if footage.status == Footage.Status.REJECTED else "."))
    if footage.file_deleted_at or not footage.file:
        raise ValidationError("The raw file of this footage has been deleted, so it cannot be analysed again.")
    if model_version is None:
        from ml.registry import active_model_version
        model_version = active_model_version()
        if model_version is None:
            raise ValidationError("No emotion model is active yet. An administrator must register one "
                                  "(the shipped default model is missing from ml/default_model/).")
    analysis = Analysis.objects.create(
        footage=footage, model_version=model_version, detector=_validate_detector(detector),
        sample_fps=_validate_sample_fps(sample_fps), created_by=created_by, status=Analysis.Status.QUEUED)
    if enqueue:
        from . import tasks
        transaction.on_commit(lambda: tasks.start_analysis.delay(analysis.pk))
    return analysis


def analysis_cancel(*, analysis: Analysis, by) -> bool:
    """Stop a queued or running analysis. Running segments notice between batches. Returns
    False when it had already finished (then nothing changes)."""
    who = getattr(by, "get_username", lambda: "")() or "someone"
    changed = Analysis.objects.filter(pk=analysis.pk, status__in=[Analysis.Status.QUEUED, Analysis.Status.RUNNING]) \
        .update(status=Analysis.Status.CANCELLED, error=f"Cancelled by {who}.", finished_at=timezone.now())
    analysis.refresh_from_db()
    return bool(changed)


def _fail(analysis_id: int, reason: str) -> bool:
    """Mark failed unless it already ended; announce it after commit. Returns whether it changed."""
    changed = Analysis.objects.filter(pk=analysis_id, status__in=[Analysis.Status.QUEUED, Analysis.Status.RUNNING]) \
        .update(status=Analysis.Status.FAILED, error=reason[:2000], finished_at=timezone.now())
    if changed:
        log.warning("Analysis %s failed: %s", analysis_id, reason)
        _announce_finished(analysis_id)
    return bool(changed)


def analysis_fail(*, analysis: Analysis, reason: str) -> bool:
    return _fail(analysis.pk, reason)


def _announce_finished(analysis_id: int) -> None:
    def send():
        analysis = Analysis.objects.select_related("footage__project__organisation", "model_version").get(pk=analysis_id)
        analysis_finished.send(sender=Analysis, analysis=analysis)
    transaction.on_commit(send)


def human_reason(exc: BaseException, where: str) -> str:
    """What a person reads on the analysis page when a step failed."""
    from celery.exceptions import SoftTimeLimitExceeded
    if isinstance(exc, SoftTimeLimitExceeded):
        return f"{where} took longer than the time limit and was stopped. Try a lower sample rate."
    if isinstance(exc, media.StoredFileMissing):
        return f"{where}: {exc}"
    if isinstance(exc, EngineError):
        return f"{where}: {exc}"
    return f"{where} failed unexpectedly ({type(exc).__name__}: {exc}). The error was logged."


# --- Analyses: plan ---------------------------------------------------------------------------------

def segment_bounds(duration_s: float | None, segment_s: float) -> list[tuple[float, float]]:
    """Time slices of `segment_s` covering the footage (a still image is one slice)."""
    duration = float(duration_s or 0.0)
    if duration <= 0:
        return [(0.0, 0.0)]
    n = max(1, math.ceil(duration / segment_s - 1e-9))
    return [(round(i * segment_s, 6), round(min((i + 1) * segment_s, duration), 6)) for i in range(n)]


def analysis_plan(*, analysis_id: int) -> list[int]:
    """Split the footage into segments and mark the analysis running. Returns the indices of
    segments still to run (a redelivered plan task re-issues the unfinished ones only)."""
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().select_related("footage").get(pk=analysis_id)
        if analysis.status not in (Analysis.Status.QUEUED, Analysis.Status.RUNNING):
            log.info("Analysis %s is %s; nothing to plan", analysis_id, analysis.status)
            return []
        bounds = segment_bounds(analysis.footage.duration_s, settings.EMO7ION_SEGMENT_SECONDS)
        if not analysis.segments.exists():
            AnalysisSegment.objects.bulk_create(
                AnalysisSegment(analysis=analysis, index=i, t_start=a, t_end=b) for i, (a, b) in enumerate(bounds))
        if analysis.status == Analysis.Status.QUEUED:
            analysis.status, analysis.started_at = Analysis.Status.RUNNING, timezone.now()
            analysis.segment_count = len(bounds)
            analysis.save(update_fields=["status", "started_at", "segment_count"])
        return list(analysis.segments.exclude(status=AnalysisSegment.Status.DONE).values_list("index", flat=True))


# --- Analyses: one segment ----------------------------------------------------------------------------

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
    return Analysis.objects.filter(pk=analysis_id, status=Analysis.Status.RUNNING).exists()


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
    from ml import runtime
    from ml.engine.pipeline import analyse_segment

    analysis = Analysis.objects.select_related("footage", "model_version").get(pk=analysis_id)
    if analysis.status != Analysis.Status.RUNNING:
        log.info("Analysis %s is %s; segment %s skipped", analysis_id, analysis.status, index)
        return False
    segment = AnalysisSegment.objects.get(analysis=analysis, index=index)
    progress = _ProgressReporter(segment, analysis.segment_count)
    progress.restart()
    AnalysisSegment.objects.filter(pk=segment.pk).update(attempts=F("attempts") + 1, started_at=timezone.now(), error="")
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
    """`analysis_segment_run` for a worker: any error marks the analysis failed with a reason
    a person can read, and never escapes (the worker carries on with the next task)."""
    try:
        return analysis_segment_run(analysis_id=analysis_id, index=index)
    except Exception as exc:
        log.exception("Analysis %s segment %s failed", analysis_id, index)
        reason = human_reason(exc, _segment_label(analysis_id, index))
        AnalysisSegment.objects.filter(analysis_id=analysis_id, index=index).update(
            status=AnalysisSegment.Status.FAILED, error=reason[:2000])
        _fail(analysis_id, reason)
        return False


# --- Analyses: finalize -------------------------------------------------------------------------------

def bucket_seconds(duration_s: float | None, sample_fps: float, preferred_s: float | None = None) -> float:
    """Width of the timeline buckets for a footage (see MIN_BUCKETS / MAX_BUCKETS above).

    1 h at the default 60 s gives 60 buckets; 10 h gives 120 buckets of 5 min; a 20 s clip gives
    10 buckets of 2 s; a 4 s clip sampled at 2 fps gives 8 buckets of 0.5 s."""
    preferred = float(preferred_s or settings.EMO7ION_BUCKET_SECONDS)
    duration = float(duration_s or 0.0)
    if duration <= 0:
        return preferred
    width = min(preferred, duration / MIN_BUCKETS)
    width = max(width, duration / MAX_BUCKETS, 1.0 / sample_fps if sample_fps else 0.0)
    for step in NICE_STEPS:
        if step >= width - 1e-9:
            return float(step) if duration / step <= MAX_BUCKETS else width
    return width


class _Row:
    __slots__ = ("t", "track_id", "probs")

    def __init__(self, t, track_id, probs):
        self.t, self.track_id, self.probs = t, track_id, probs


def _observation_stream(analysis_id: int):
    """Observations as light objects, streamed from the database (a long crowd analysis has
    millions of rows: never hold them all as model instances)."""
    fields = ("t", "track_id", *FaceObservation.PROB_FIELDS)
    for row in FaceObservation.objects.filter(analysis_id=analysis_id).values_list(*fields).iterator(chunk_size=5000):
        yield _Row(row[0], row[1], row[2:])


def _relabel_tracks(analysis_id: int, segments: list[AnalysisSegment]) -> None:
    """Footage-wide track ids: tracks crossing a segment boundary keep one id (engine's
    stitch_tracks); derived from segment_track_id, so running this twice changes nothing."""
    from ml.engine.pipeline import stitch_tracks
    mappings = stitch_tracks([{"first_frame_boxes": s.first_frame_boxes, "last_frame_boxes": s.last_frame_boxes,
                               "track_count": s.track_count} for s in segments])
    for segment, mapping in zip(segments, mappings):
        if all(local == glob for local, glob in mapping.items()):
            FaceObservation.objects.filter(analysis_id=analysis_id, segment_index=segment.index) \
                .exclude(track_id=F("segment_track_id")).update(track_id=F("segment_track_id"))
            continue
        items = sorted(mapping.items())
        for start in range(0, len(items), 400):  # bounded CASE size for SQLite's parameter limit
            chunk = items[start:start + 400]
            FaceObservation.objects.filter(
                analysis_id=analysis_id, segment_index=segment.index,
                segment_track_id__in=[local for local, _ in chunk],
            ).update(track_id=Case(*[When(segment_track_id=local, then=Value(glob)) for local, glob in chunk],
                                   output_field=IntegerField()))


def analysis_finalize(*, analysis_id: int) -> Analysis | None:
    """Stitch tracks, write the timeline buckets and the summary, and mark the analysis
    succeeded, all in one transaction: a reader sees either no result or the whole one."""
    from ml.engine.pipeline import aggregate_timeline, summarise

    started = time.perf_counter()
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().select_related("footage", "model_version").get(pk=analysis_id)
        if analysis.status != Analysis.Status.RUNNING:
            log.info("Analysis %s is %s; finalize skipped", analysis_id, analysis.status)
            return None
        segments = list(analysis.segments.order_by("index"))
        unfinished = [s.index for s in segments if s.status != AnalysisSegment.Status.DONE]
        if unfinished:
            raise RuntimeError(f"segments {unfinished} have not finished")
        _relabel_tracks(analysis_id, segments)

        footage = analysis.footage
        duration = float(footage.duration_s or 0.0)
        frame_times = [t for s in segments for t in s.frame_times]
        bucket_s = bucket_seconds(duration, analysis.sample_fps)
        buckets = aggregate_timeline(_observation_stream(analysis_id), bucket_s, duration, EMOTIONS,
                                     frame_times=frame_times)
        TimelineBucket.objects.filter(analysis_id=analysis_id).delete()
        TimelineBucket.objects.bulk_create([TimelineBucket(
            analysis_id=analysis_id, index=b["index"], t_start=b["t_start"], t_end=b["t_end"], frames=b["frames"],
            faces=b["faces"], mean_faces_per_frame=b["mean_faces_per_frame"], unique_tracks=b["unique_tracks"],
            emotion_counts=b["emotion_counts"], emotion_shares=b["emotion_shares"],
            mean_probabilities=b["mean_probabilities"]) for b in buckets], batch_size=500)

        summary = summarise(_observation_stream(analysis_id), len(frame_times), duration, EMOTIONS)
        wall = sum(s.wall_time_s for s in segments) + (time.perf_counter() - started)
        summary.update({
            "detector": analysis.detector,
            "model_version": analysis.model_version.name,
            "model_sha256": analysis.model_version.sha256,
            "sample_fps": analysis.sample_fps,
            "bucket_s": bucket_s,
            "segments": len(segments),
            # Compute time (decode, detect, classify, store; summed over segments) plus this
            # step, not time spent waiting in the queue or loading the model.
            "wall_time_s": round(wall, 3),
            "warnings": [s.warning for s in segments if s.warning],
        })
        summary["frames_with_faces"] = FaceObservation.objects.filter(analysis_id=analysis_id) \
            .values("frame_index").distinct().count()
        if summary["faces_detected"] == 0:
            summary["note"] = ("No faces were found in this footage, so there is no emotion to report. "
                               "Faces must face the camera and be at least about 20 pixels tall.")
        elif summary["frames_with_faces"] < 0.25 * max(1, summary["frames_analysed"]):
            summary["note"] = (f"Faces were found in only {summary['frames_with_faces']} of "
                               f"{summary['frames_analysed']} sampled frames: treat these shares with caution.")
        Analysis.objects.filter(pk=analysis_id).update(
            status=Analysis.Status.SUCCEEDED, progress=1.0, summary=summary, error="", finished_at=timezone.now())
        _announce_finished(analysis_id)
    analysis.refresh_from_db()
    log.info("Analysis %s succeeded: %s faces in %s frames", analysis_id, summary["faces_detected"],
             summary["frames_analysed"])
    return analysis


def analysis_finalize_execute(*, analysis_id: int) -> None:
    """`analysis_finalize` for a worker: failures mark the analysis failed, never escape."""
    try:
        analysis_finalize(analysis_id=analysis_id)
    except Exception as exc:
        log.exception("Finalizing analysis %s failed", analysis_id)
        _fail(analysis_id, human_reason(exc, "Combining the segments' results"))


def analysis_plan_execute(*, analysis_id: int) -> list[int]:
    try:
        return analysis_plan(analysis_id=analysis_id)
    except Exception as exc:
        log.exception("Planning analysis %s failed", analysis_id)
        _fail(analysis_id, human_reason(exc, "Preparing the analysis"))
        return []


def analysis_run_inline(*, analysis: Analysis) -> Analysis:
    """Every step in this process, one segment after another: what `manage.py analyse` and the
    demo use. Same functions as the Celery tasks, so the results are the same."""
    for index in analysis_plan_execute(analysis_id=analysis.pk):
        if analysis_segment_execute(analysis_id=analysis.pk, index=index):
            analysis_finalize_execute(analysis_id=analysis.pk)
    analysis.refresh_from_db()
    return analysis


# --- Retention: raw footage goes after the organisation's retention period; aggregates stay.

def footage_delete_file(*, footage: Footage) -> bool:
    """Delete a footage's raw file, its local cached copy and its report thumbnails, keeping the
    record, its analyses, observations and timeline. Footage still being analysed is left alone.
    Returns whether anything was deleted."""
    if footage.file_deleted_at or not footage.file:
        return False
    if footage.analyses.filter(status__in=[Analysis.Status.QUEUED, Analysis.Status.RUNNING]).exists():
        return False
    from .thumbnails import footage_thumbnails_delete

    footage_thumbnails_delete(footage=footage)
    name = footage.file.name
    default_storage.delete(name)
    # The sha-keyed cache may serve an identical upload elsewhere: keep it while one still needs it.
    still_needed = Footage.objects.filter(sha256=footage.sha256, file_deleted_at__isnull=True).exclude(pk=footage.pk)
    if footage.sha256 and not still_needed.exists():
        media.cached_path(footage.sha256, name).unlink(missing_ok=True)
    footage.file_deleted_at = timezone.now()
    footage.save(update_fields=["file_deleted_at"])
    log.info("Retention: deleted the raw file of footage %s (%s)", footage.pk, name)
    return True


def footage_cache_prune() -> media.PruneResult:
    """Keep the local footage cache under EMO7ION_CACHE_MAX_BYTES (run daily with retention)."""
    return media.prune_cache(max_bytes=settings.EMO7ION_CACHE_MAX_BYTES)


def footage_apply_retention(*, now=None, dry_run: bool = False) -> list[int]:
    """Delete the raw files of footage older than its organisation's `footage_retention_days`.
    Returns the ids of the footage whose files were (or, with dry_run, would be) deleted."""
    from datetime import timedelta

    from accounts.models import Organisation

    now = now or timezone.now()
    done: list[int] = []
    for org in Organisation.objects.filter(footage_retention_days__isnull=False):
        due = Footage.objects.filter(project__organisation=org, file_deleted_at__isnull=True,
                                     created_at__lt=now - timedelta(days=org.footage_retention_days)).exclude(file="")
        for footage in due.order_by("pk"):
            if dry_run:
                done.append(footage.pk)
            elif footage_delete_file(footage=footage):
                done.append(footage.pk)
    return done
