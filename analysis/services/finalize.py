"""Finalize: once every segment is done, stitch tracks across segments, store the timeline and the
summary, and mark the analysis succeeded, in one transaction.

What the reports show is stored here, computed by the engine's one timeline owner
(`ml.engine.timeline`): per bucket the frames looked at, faces, unique tracks, top-emotion counts and
shares, and mean probabilities; and by `ml.engine.crowd`: per bucket and for the whole footage, the
95% intervals of those shares (a bootstrap over face tracks), the share facing the camera
(attention), the derived valence and arousal, and the engagement summary (`summary["statistics"]`).
Pages, exports and the API read these rows; nothing recounts them.
"""
from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone

from emo7ion_site.core.jobs import JobStatus, enqueue_on_commit, task_id
from ml.engine.crowd import crowd_timeline
from ml.engine.labels import EMOTIONS
from ml.engine.timeline import aggregate_timeline, bucket_seconds, summarise
from ml.engine.tracker import stitch_tracks

from ..models import Analysis, AnalysisSegment, FaceObservation, TimelineBucket
from ..signals import analysis_results_stored
from .analyses import analysis_step_run, announce_finished

log = logging.getLogger(__name__)

# Every field of an engine bucket, stored as it is.
BUCKET_FIELDS = ("index", "t_start", "t_end", "frames", "faces", "mean_faces_per_frame", "unique_tracks",
                 "emotion_counts", "emotion_shares", "mean_probabilities")


class _Row:
    __slots__ = ("t", "track_id", "probs", "yaw", "pitch")

    def __init__(self, t, track_id, probs, yaw=None, pitch=None):
        self.t, self.track_id, self.probs, self.yaw, self.pitch = t, track_id, probs, yaw, pitch


def _observation_stream(analysis_id: int):
    """Observations as light objects, streamed from the database (a long crowd analysis has
    millions of rows: never hold them all as model instances)."""
    fields = ("t", "track_id", "yaw", "pitch", *FaceObservation.PROB_FIELDS)
    for row in FaceObservation.objects.filter(analysis_id=analysis_id).values_list(*fields).iterator(chunk_size=5000):
        yield _Row(row[0], row[1], row[4:], row[2], row[3])


def _relabel_tracks(analysis_id: int, segments: list[AnalysisSegment]) -> None:
    """Footage-wide track ids: tracks crossing a segment boundary keep one id (engine's
    stitch_tracks); derived from segment_track_id, so running this twice changes nothing."""
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
    started = time.perf_counter()
    with transaction.atomic():
        analysis = Analysis.objects.select_for_update().select_related("footage", "model_version").get(pk=analysis_id)
        if analysis.status != JobStatus.RUNNING:
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
        bucket_s = bucket_seconds(duration, analysis.sample_fps, preferred_s=settings.EMO7ION_BUCKET_SECONDS)
        buckets = aggregate_timeline(_observation_stream(analysis_id), bucket_s, duration, EMOTIONS,
                                     frame_times=frame_times)
        crowd = crowd_timeline(_observation_stream(analysis_id), bucket_s, duration, EMOTIONS,
                               frames_analysed=len(frame_times))
        TimelineBucket.objects.filter(analysis_id=analysis_id).delete()
        TimelineBucket.objects.bulk_create(
            [TimelineBucket(analysis_id=analysis_id, **{f: b[f] for f in BUCKET_FIELDS},
                            **{f: stats[f] for f in TimelineBucket.STATISTICS_FIELDS})
             for b, stats in zip(buckets, crowd["buckets"])],
            batch_size=500)

        recorded = analysis.summary or {}  # what the segments recorded: the schedule and seconds per stage
        summary = summarise(_observation_stream(analysis_id), len(frame_times), duration, EMOTIONS)
        summary.update({k: recorded[k] for k in ("schedule", "schedule_stats", "timings") if k in recorded})
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
            "statistics": crowd["summary"],
        })
        summary["frames_with_faces"] = FaceObservation.objects.filter(analysis_id=analysis_id) \
            .values("frame_index").distinct().count()
        if summary["faces_detected"] == 0:
            summary["note"] = ("No faces were found in this footage, so there is no emotion to report. "
                               "Faces must face the camera and be at least about 20 pixels tall.")
        elif summary["frames_with_faces"] < 0.25 * max(1, summary["frames_analysed"]):
            summary["note"] = (f"Faces were found in only {summary['frames_with_faces']} of "
                               f"{summary['frames_analysed']} sampled frames: treat these shares with caution.")
        analysis.summary = summary
        analysis_results_stored.send(sender=Analysis, analysis=analysis)
        Analysis.objects.filter(pk=analysis_id).update(
            status=JobStatus.SUCCEEDED, progress=1.0, summary=summary, error="", finished_at=timezone.now())
        announce_finished(analysis_id)
    analysis.refresh_from_db()
    log.info("Analysis %s succeeded: %s faces in %s frames", analysis_id, summary["faces_detected"],
             summary["frames_analysed"])
    return analysis


def analysis_finalize_execute(*, analysis_id: int) -> None:
    """`analysis_finalize` for a worker: failures mark the analysis failed, never escape."""
    # A sign of life for the watchdog: a finalize that started longer ago than its time limit lost its worker.
    Analysis.objects.filter(pk=analysis_id, status=JobStatus.RUNNING).update(heartbeat_at=timezone.now())
    analysis_step_run(analysis_id=analysis_id, step=lambda: analysis_finalize(analysis_id=analysis_id),
                      where=lambda: "Combining the segments' results", failed=None)


def analysis_finalize_enqueue(*, analysis_id: int) -> None:
    """Finalize on a worker (task id `analysis:<id>:finalize`): for an analysis whose segments are all
    done but whose last segment's worker died before it finalized. Finalizing twice is harmless."""
    enqueue_on_commit("analysis.tasks.finalize_analysis", args=[analysis_id],
                      task_id=task_id("analysis", analysis_id, "finalize"))
