"""The analysis pipeline, as pure functions: one time segment of footage in, observations out;
then observations in, timeline buckets and a summary out.

`analyse_segment` samples frames, detects faces, tracks them, crops them as FER2013 faces and
classifies them in batches that span many frames (one `predict` per `batch_size` faces, not one
per frame: that is what makes a CPU fast enough). It checks `should_cancel()` between batches (and
every few frames when no faces are found) and reports progress as a fraction of the segment.

It raises only for files it cannot open (`VideoReadError`); a file that stops decoding part way
gives a result with `stopped_early` and a `warning`, and footage with no faces is a normal result.
"""
from __future__ import annotations

import itertools
import math
import operator
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .faces import crop_faces
from .labels import EMOTIONS
from .tracker import Box, IouTracker, stitch_tracks  # noqa: F401  (stitch_tracks is part of this module's API)
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
    """Decode ahead in a background thread while the main thread detects and classifies.

    OpenCV releases the GIL while it decodes, so decoding the next frames overlaps detection of
    this one. The queue is short: a few frames of memory, never the whole video."""

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


def analyse_segment(path, *, detector, classifier, sample_fps: float, t_start: float = 0.0,
                    t_end: float | None = None, batch_size: int = 256,
                    should_cancel: Callable[[], bool] | None = None,
                    on_progress: Callable[[float], None] | None = None,
                    tracker: IouTracker | None = None, prefetch: bool = True) -> SegmentResult:
    """Analyse [t_start, t_end) of the footage at `path`. Track ids are local, starting at 0.

    With `prefetch`, frames are decoded in a background thread ahead of detection; the
    `decode` timing is then the time spent waiting for a frame, not the time decoding took."""
    started = time.perf_counter()
    labels = list(getattr(classifier, "labels", EMOTIONS))
    size = int(getattr(classifier, "input_size", 48))
    tracker = tracker or IouTracker()
    result = SegmentResult(t_start=float(t_start), t_end=t_end, labels=labels)
    timings = {"decode": 0.0, "detect": 0.0, "classify": 0.0}
    pending = _Pending()
    span = None if t_end is None else max(1e-9, float(t_end) - float(t_start))
    last_progress = [started]

    def progress(t: float | None, force: bool = False) -> None:
        if on_progress is None:
            return
        now = time.perf_counter()
        if not force and now - last_progress[0] < PROGRESS_INTERVAL_S:
            return
        last_progress[0] = now
        if t is None:
            fraction = 1.0
        elif span is not None:
            fraction = min(1.0, max(0.0, (t - t_start) / span))
        else:
            end = frames.duration_s or 0.0
            fraction = min(0.99, max(0.0, (t - t_start) / (end - t_start))) if end > t_start else 0.0
        on_progress(fraction)

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

    frames = iter_sampled_frames(path, sample_fps, t_start, t_end)
    source = _Prefetch(frames) if prefetch else frames
    frames_since_check = 0
    t_decode = time.perf_counter()
    try:
        for index, t, frame in source:
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
        if prefetch:
            source.close()  # stops the decode thread, whatever ended the loop
    if not result.cancelled:
        flush()
    # (When cancelled, faces still waiting are dropped: a cancelled segment is not a result.)
    result.stopped_early = frames.stopped_early
    result.warning = frames.message
    result.track_count = tracker.track_count
    result.first_frame_boxes, result.last_frame_boxes = tracker.boundary_boxes()
    result.timings = {k: round(v, 4) for k, v in timings.items()}
    result.wall_time_s = round(time.perf_counter() - started, 4)
    if not result.cancelled:
        progress(None, force=True)
    return result


# ---------------------------------------------------------------------------------------------
# Aggregation: observations -> timeline buckets and a summary.
# Observations may be `Observation`s, objects or mappings with `probs` (or `p_<label>` fields),
# `t` and `track_id` (e.g. FaceObservation rows with footage-wide track ids).


def _observation_arrays(observations: Iterable, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(t, track_id, probs) arrays from any supported kind of observation, in one pass. The accessor
    is chosen from the first item, so the loop costs one call per row: a long crowd analysis
    streams millions of rows through here."""
    prob_fields = [f"p_{label}" for label in labels]
    it = iter(observations)
    first = next(it, None)
    if first is None:
        return np.zeros(0), np.zeros(0, np.int64), np.zeros((0, len(labels)))
    if isinstance(first, Mapping):
        if first.get("probs") is not None:
            def row(o):
                return o["t"], o.get("track_id", -1), o["probs"]
        else:
            def row(o):
                return o["t"], o.get("track_id", -1), [o.get(name, 0.0) for name in prob_fields]
    elif getattr(first, "probs", None) is not None:
        row = operator.attrgetter("t", "track_id", "probs")
    else:
        getter = operator.attrgetter("t", "track_id", *prob_fields)

        def row(o):
            values = getter(o)
            return values[0], values[1], values[2:]
    ts, tracks, probs = [], [], []
    for obs in itertools.chain((first,), it):
        t, track, p = row(obs)
        ts.append(t)
        tracks.append(track)
        probs.append(p)
    return (np.asarray(ts, np.float64), np.asarray(tracks, np.int64),
            np.asarray(probs, np.float64).reshape(len(ts), len(labels)))


def _shares(counts: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    total = counts.sum()
    return {label: (round(float(c / total), 4) if total else 0.0) for label, c in zip(labels, counts)}


def bucket_count(duration_s: float, bucket_s: float) -> int:
    return max(1, int(math.ceil(round(max(0.0, duration_s) / bucket_s, 9))))


def aggregate_timeline(observations: Iterable, bucket_s: float, duration_s: float,
                       labels: Sequence[str] = EMOTIONS, *, frame_times: Sequence[float] | None = None,
                       sample_fps: float | None = None, fps: float | None = None) -> list[dict]:
    """Fixed-width time buckets over [0, duration_s]: counts, shares and mean probabilities.

    `frames` per bucket counts sampled frames, with or without faces. It comes from `frame_times`
    (every sampled frame's t) when given, else from the sampling grid (`sample_fps`, capped by the
    footage's `fps`), else it counts only the frames in which a face was seen.
    `emotion_shares` are each label's share of the faces whose most probable emotion it is.
    """
    if not bucket_s or bucket_s <= 0:
        raise ValueError(f"bucket_s must be positive, got {bucket_s!r}")
    labels = list(labels)
    duration_s = max(0.0, float(duration_s or 0.0))
    n = bucket_count(duration_s, bucket_s)
    ts, tracks, probs = _observation_arrays(observations, labels)
    which = np.clip((ts // bucket_s).astype(np.int64), 0, n - 1) if len(ts) else np.zeros(0, np.int64)
    top = probs.argmax(axis=1) if len(ts) else np.zeros(0, np.int64)

    if frame_times is not None:
        ft = np.asarray(list(frame_times), np.float64)
        frames_per_bucket = np.bincount(np.clip((ft // bucket_s).astype(np.int64), 0, n - 1), minlength=n) \
            if len(ft) else np.zeros(n, np.int64)
    elif sample_fps:
        rate = min(float(sample_fps), float(fps)) if fps else float(sample_fps)
        # A still image (duration 0) is one frame at t = 0.
        count = int(math.floor(duration_s * rate - 1e-9)) + 1 if duration_s else 1
        grid = np.arange(count) / rate
        frames_per_bucket = np.bincount(np.clip((grid // bucket_s).astype(np.int64), 0, n - 1), minlength=n)
    else:
        distinct = np.unique(ts)
        frames_per_bucket = np.bincount(np.clip((distinct // bucket_s).astype(np.int64), 0, n - 1), minlength=n)

    # Per-bucket sums with bincount: one pass over the observations, whatever the bucket count.
    n_labels = len(labels)
    faces_per_bucket = np.bincount(which, minlength=n)
    counts = np.bincount(which * n_labels + top, minlength=n * n_labels).reshape(n, n_labels)
    prob_sums = np.stack([np.bincount(which, weights=probs[:, j], minlength=n) for j in range(n_labels)], axis=1) \
        if len(ts) else np.zeros((n, n_labels))
    if len(ts):
        span = int(tracks.max()) - int(tracks.min()) + 1
        pairs = np.unique(which * span + (tracks - tracks.min()))
        tracks_per_bucket = np.bincount(pairs // span, minlength=n)
    else:
        tracks_per_bucket = np.zeros(n, np.int64)

    buckets = []
    for b in range(n):
        faces = int(faces_per_bucket[b])
        mean_p = prob_sums[b] / faces if faces else np.zeros(n_labels)
        frames = int(frames_per_bucket[b])
        t0 = b * bucket_s
        buckets.append({
            "index": b,
            "t_start": round(t0, 4),
            "t_end": round(min(t0 + bucket_s, duration_s) if duration_s else t0, 4),
            "frames": frames,
            "faces": faces,
            "mean_faces_per_frame": round(faces / frames, 4) if frames else 0.0,
            "unique_tracks": int(tracks_per_bucket[b]),
            "emotion_counts": {label: int(c) for label, c in zip(labels, counts[b])},
            "emotion_shares": _shares(counts[b], labels),
            "mean_probabilities": {label: round(float(v), 4) for label, v in zip(labels, mean_p)},
        })
    return buckets


def summarise(observations: Iterable, frames_analysed: int, duration_s: float,
              labels: Sequence[str] = EMOTIONS) -> dict:
    """Headline numbers for a whole analysis. `unique_faces` counts distinct (footage-wide) track ids."""
    labels = list(labels)
    ts, tracks, probs = _observation_arrays(observations, labels)
    faces = int(len(ts))
    counts = np.bincount(probs.argmax(axis=1), minlength=len(labels))[: len(labels)] if faces else np.zeros(len(labels))
    shares = _shares(counts, labels)
    return {
        "frames_analysed": int(frames_analysed),
        "faces_detected": faces,
        "unique_faces": int(len(np.unique(tracks))) if faces else 0,
        "duration_s": round(float(duration_s or 0.0), 3),
        "mean_faces_per_frame": round(faces / frames_analysed, 4) if frames_analysed else 0.0,
        "emotion_counts": {label: int(c) for label, c in zip(labels, counts)},
        "emotion_shares": shares,
        "mean_probabilities": {label: round(float(v), 4)
                               for label, v in zip(labels, probs.mean(axis=0) if faces else np.zeros(len(labels)))},
        "dominant_emotion": labels[int(np.argmax(counts))] if faces else None,
    }


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
