"""The analysis pipeline, as pure functions: frames in, face observations out.

`analyse_frames` takes any stream of frames (a file's sampled frames, a browser camera, a stream
URL) and detects faces, tracks them, crops them as FER2013 faces and classifies them in batches that
span many frames (one `predict` per `batch_size` faces, not one per frame: that is what makes a CPU
fast enough). It checks `should_cancel()` between batches (and every few frames when no faces are
found). `analyse_segment` is the same loop fed with one time segment of a footage file.

A file it cannot open raises `VideoReadError`; a file that stops decoding part way gives a result
with `stopped_early` and a `warning`, and footage with no faces is a normal result. Turning
observations into timeline buckets and a summary is `ml.engine.timeline`'s job.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .faces import crop_faces
from .labels import EMOTIONS
from .timeline import aggregate_timeline, bucket_count, summarise
from .tracker import Box, IouTracker, stitch_tracks
from .video import iter_sampled_frames

# Check cancellation at least this often (sampled frames) when frames have no faces to classify.
CANCEL_CHECK_FRAMES = 16
# Progress callbacks at most this often (seconds): callers write it to a database row.
PROGRESS_INTERVAL_S = 1.0


@dataclass
class Observation:
    t: float
    frame_index: int
    track_id: int
    x: int
    y: int
    w: int
    h: int
    score: float
    probs: np.ndarray  # (7,) float32, in the classifier's label order

    def top(self, labels: Sequence[str] = EMOTIONS) -> str:
        return labels[int(np.argmax(self.probs))]


@dataclass
class SegmentResult:
    """What `analyse_frames` found in a run of frames (a file's segment, or frames from a live source)."""

    observations: list[Observation] = field(default_factory=list)
    frames_analysed: int = 0
    faces_detected: int = 0
    wall_time_s: float = 0.0
    cancelled: bool = False
    first_frame_boxes: dict[int, Box] = field(default_factory=dict)
    last_frame_boxes: dict[int, Box] = field(default_factory=dict)
    track_count: int = 0            # local track ids used: 0 .. track_count - 1
    frame_times: list[float] = field(default_factory=list)  # t of every sampled frame, faces or not
    stopped_early: bool = False     # the stream ended before t_end (truncated or corrupt file)
    warning: str = ""
    t_start: float = 0.0
    t_end: float | None = None
    labels: list[str] = field(default_factory=lambda: list(EMOTIONS))
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage: decode, detect, classify

    @property
    def unique_faces(self) -> int:
        return len({o.track_id for o in self.observations})


class _Prefetch:
    """Pull frames from a source in a background thread while the main thread detects and classifies.

    OpenCV releases the GIL while it decodes, so decoding the next frames of a file overlaps detection
    of this one. The queue is short: a few frames of memory, never the whole video."""

    _DONE = object()

    def __init__(self, frames, depth: int = 4):
        self.frames = frames
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="emo7ion-decode", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self.frames:
                while not self._stop.is_set():
                    try:
                        self._queue.put(item, timeout=0.1)
                        break
                    except queue.Full:  # the consumer is busy: check for stop, then retry
                        continue
                if self._stop.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._error = exc
        finally:
            self._put_done()

    def _put_done(self) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(self._DONE, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self):
        try:
            while True:
                item = self._queue.get()
                if item is self._DONE:
                    break
                yield item
            self._thread.join()
            if self._error is not None:
                raise self._error
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


@dataclass
class _Pending:
    """Faces waiting for the classifier, in frame order: (frame index, t, box, track id) + crop."""
    faces: list[tuple[int, float, Any, int]] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.faces)



def analyse_frames(frames: Iterable[tuple], *, detector, classifier, batch_size: int = 256,
                   should_cancel: Callable[[], bool] | None = None,
                   on_progress: Callable[[float | None], None] | None = None,
                   tracker: IouTracker | None = None, prefetch: bool = False) -> SegmentResult:
    """Detect, track and classify the faces of any stream of frames. Track ids are local, from 0.

    `frames` yields `(t_seconds, frame_bgr)`, or `(t_seconds, frame_bgr, frame_index)` when the
    source knows each frame's number (a file does); otherwise frames are numbered in the order they
    arrive (0, 1, 2, ...). `on_progress(t)` is called at most every PROGRESS_INTERVAL_S with the time
    of the latest frame, and `on_progress(None)` once every frame is analysed (not when cancelled).

    With `prefetch`, frames are pulled from `frames` in a background thread ahead of detection (a
    file decodes while faces are found); the `decode` timing is then the time spent waiting for a
    frame, not the time producing it took."""
    started = time.perf_counter()
    labels = list(getattr(classifier, "labels", EMOTIONS))
    size = int(getattr(classifier, "input_size", 48))
    tracker = tracker or IouTracker()
    result = SegmentResult(labels=labels)
    timings = {"decode": 0.0, "detect": 0.0, "classify": 0.0}
    pending = _Pending()
    last_progress = [started]

    def progress(t: float | None, force: bool = False) -> None:
        if on_progress is None:
            return
        now = time.perf_counter()
        if not force and now - last_progress[0] < PROGRESS_INTERVAL_S:
            return
        last_progress[0] = now
        on_progress(t)

    def flush(limit: int | None = None) -> None:
        """Classify the oldest `limit` waiting faces (all when None) in one call."""
        n = pending.count if limit is None else min(limit, pending.count)
        if not n:
            return
        t0 = time.perf_counter()
        probs = np.asarray(classifier.predict_proba(np.stack(pending.crops[:n]), batch_size=batch_size),
                           np.float32)
        timings["classify"] += time.perf_counter() - t0
        for (index, t, box, tid), p in zip(pending.faces[:n], probs):
            result.observations.append(Observation(
                t=round(float(t), 4), frame_index=int(index), track_id=int(tid), x=int(box.x), y=int(box.y),
                w=int(box.w), h=int(box.h), score=round(float(box.score), 4), probs=p))
        del pending.faces[:n]
        del pending.crops[:n]

    def cancelled() -> bool:
        if should_cancel is not None and should_cancel():
            result.cancelled = True
        return result.cancelled

    source = _Prefetch(frames) if prefetch else iter(frames)
    frames_since_check = 0
    t_decode = time.perf_counter()
    try:
        for position, item in enumerate(source):
            t, frame = item[0], item[1]
            index = item[2] if len(item) > 2 else position
            timings["decode"] += time.perf_counter() - t_decode
            t0 = time.perf_counter()
            boxes = detector.detect(frame)
            timings["detect"] += time.perf_counter() - t0
            ids = tracker.update(boxes)
            result.frames_analysed += 1
            result.frame_times.append(round(float(t), 4))
            result.faces_detected += len(boxes)
            if boxes:
                pending.faces.extend((index, t, box, tid) for box, tid in zip(boxes, ids))
                pending.crops.extend(crop_faces(frame, boxes, size=size))
            frames_since_check += 1
            if pending.count >= batch_size:
                # Whole batches only: the classifier runs at its fixed batch size, faces from many frames.
                while pending.count >= batch_size and not result.cancelled:
                    flush(batch_size)
                    cancelled()
                frames_since_check = 0
                if result.cancelled:
                    break
                progress(t)
            elif frames_since_check >= CANCEL_CHECK_FRAMES:
                frames_since_check = 0
                if cancelled():
                    break
                progress(t)
            t_decode = time.perf_counter()
    finally:
        # Stops the prefetch thread, or closes a generator source (a file source releases its
        # decoder), whatever ended the loop.
        close = getattr(source, "close", None)
        if close is not None:
            close()
    if not result.cancelled:
        flush()
    # (When cancelled, faces still waiting are dropped: a cancelled segment is not a result.)
    result.track_count = tracker.track_count
    result.first_frame_boxes, result.last_frame_boxes = tracker.boundary_boxes()
    result.timings = {k: round(v, 4) for k, v in timings.items()}
    result.wall_time_s = round(time.perf_counter() - started, 4)
    if not result.cancelled:
        progress(None, force=True)
    return result


def analyse_segment(path, *, detector, classifier, sample_fps: float, t_start: float = 0.0,
                    t_end: float | None = None, batch_size: int = 256,
                    should_cancel: Callable[[], bool] | None = None,
                    on_progress: Callable[[float], None] | None = None,
                    tracker: IouTracker | None = None, prefetch: bool = True) -> SegmentResult:
    """Analyse [t_start, t_end) of the footage at `path`: its frames sampled at `sample_fps`, fed to
    `analyse_frames`. `on_progress` receives the fraction of the segment done (0-1)."""
    frames = iter_sampled_frames(path, sample_fps, t_start, t_end)
    span = None if t_end is None else max(1e-9, float(t_end) - float(t_start))

    def fraction(t: float | None) -> float:
        if t is None:
            return 1.0
        if span is not None:
            return min(1.0, max(0.0, (t - t_start) / span))
        end = frames.duration_s or 0.0  # known once the file is open, i.e. by the first frame
        return min(0.99, max(0.0, (t - t_start) / (end - t_start))) if end > t_start else 0.0

    result = analyse_frames(
        ((t, image, index) for index, t, image in frames), detector=detector, classifier=classifier,
        batch_size=batch_size, should_cancel=should_cancel,
        on_progress=None if on_progress is None else (lambda t: on_progress(fraction(t))),
        tracker=tracker, prefetch=prefetch)
    result.t_start, result.t_end = float(t_start), t_end
    result.stopped_early = frames.stopped_early
    result.warning = frames.message
    return result


def relabel_tracks(observations: Iterable[Observation], mapping: Mapping[int, int]) -> list[Observation]:
    """Copies of a segment's observations with footage-wide track ids from `stitch_tracks`."""
    out = []
    for o in observations:
        out.append(Observation(o.t, o.frame_index, mapping.get(o.track_id, o.track_id), o.x, o.y, o.w, o.h,
                               o.score, o.probs))
    return out


def analyse_footage(path, *, detector, classifier, sample_fps: float, duration_s: float,
                    segment_s: float = 60.0, bucket_s: float = 60.0, batch_size: int = 256,
                    should_cancel: Callable[[], bool] | None = None,
                    on_progress: Callable[[float], None] | None = None) -> dict:
    """The whole pipeline in one process (segment by segment, then stitch and aggregate), for the
    CLI, benchmarks and tests. Returns the summary with `timeline`, `observations`, `wall_time_s`."""
    started = time.perf_counter()
    n = bucket_count(duration_s, segment_s)
    segments: list[SegmentResult] = []
    for i in range(n):
        t0, t1 = i * segment_s, (None if i == n - 1 else (i + 1) * segment_s)

        def seg_progress(f, i=i):
            if on_progress:
                on_progress((i + f) / n)

        seg = analyse_segment(path, detector=detector, classifier=classifier, sample_fps=sample_fps, t_start=t0,
                              t_end=t1, batch_size=batch_size, should_cancel=should_cancel, on_progress=seg_progress)
        segments.append(seg)
        if seg.cancelled:
            break
    mappings = stitch_tracks(segments)
    observations = [o for seg, m in zip(segments, mappings) for o in relabel_tracks(seg.observations, m)]
    labels = segments[0].labels if segments else list(EMOTIONS)
    frame_times = [t for seg in segments for t in seg.frame_times]
    summary = summarise(observations, len(frame_times), duration_s, labels)
    summary["timeline"] = aggregate_timeline(observations, bucket_s, duration_s, labels, frame_times=frame_times)
    summary["observations"] = observations
    summary["cancelled"] = any(s.cancelled for s in segments)
    summary["stopped_early"] = any(s.stopped_early for s in segments)
    summary["warnings"] = [s.warning for s in segments if s.warning]
    summary["wall_time_s"] = round(time.perf_counter() - started, 4)
    return summary
