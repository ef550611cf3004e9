"""The analysis pipeline, as pure functions: frames in, face observations out.

`analyse_frames` takes any stream of frames (a file's sampled frames, a browser camera, a stream
URL) and detects faces (on the frames its detection schedule picks: `ml.engine.schedule`), tracks
them, crops them as FER2013 faces and classifies them in batches that span many frames (one
`predict` per `batch_size` faces, not one per frame: that is what makes a CPU fast enough). It checks
`should_cancel()` between batches (and every few frames when no faces are found). `analyse_segment`
is the same loop fed with one time segment of a footage file.

Three stages overlap, each bounded: a decode thread reads at most `PREFETCH_DEPTH` frames ahead;
the caller's thread detects, tracks and crops; a classifier thread classifies whole batches, at most
`in_flight` of them submitted ahead of the caller. OpenCV and TensorFlow release the GIL, so the
stages use separate cores; with one core available (`os.sched_getaffinity`) everything runs in the
caller's thread. Callbacks (`should_cancel`, `on_progress`, `on_observations`) always run in the
caller's thread, at the same points whatever the threading, so results never depend on timing.

With `on_observations`, classified observations are handed over batch by batch (a database writes
them) and not kept: memory stays flat however long the footage.

A file it cannot open raises `VideoReadError`; a file that stops decoding part way gives a result
with `stopped_early` and a `warning`, and footage with no faces is a normal result. Turning
observations into timeline buckets and a summary is `ml.engine.timeline`'s job.
"""
from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .attention import head_pose
from .cpu import available_cpus
from .faces import crop_faces
from .labels import EMOTIONS
from .schedule import make_schedule
from .timeline import aggregate_timeline, bucket_count, summarise
from .tracker import Box, IouTracker, stitch_tracks
from .video import FramePrefetch, iter_sampled_frames

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
    yaw: float | None = None    # head pose in degrees (ml.engine.attention); None without landmarks (Haar)
    pitch: float | None = None

    def top(self, labels: Sequence[str] = EMOTIONS) -> str:
        return labels[int(np.argmax(self.probs))]


@dataclass
class SegmentResult:
    """What `analyse_frames` found in a run of frames (a file's segment, or frames from a live source)."""

    observations: list[Observation] = field(default_factory=list)  # empty when streamed (on_observations)
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
    # Seconds per stage: decode (waiting for frames), detect (+ track, crop), classify, and store
    # (the on_observations callback) when observations are streamed.
    timings: dict[str, float] = field(default_factory=dict)
    schedule: str = "full"          # the detection schedule that ran
    schedule_stats: dict = field(default_factory=dict)
    cpus: int = 1                   # cores the stages were spread over

    @property
    def unique_faces(self) -> int:
        return len({o.track_id for o in self.observations})


@dataclass
class _Pending:
    """Faces waiting for the classifier, in frame order: (frame index, t, box, track id) + crop."""
    faces: list[tuple[int, float, Any, int]] = field(default_factory=list)
    crops: list[np.ndarray] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.faces)

    def take(self, n: int | None = None) -> tuple[list, np.ndarray]:
        n = self.count if n is None else min(n, self.count)
        faces, crops = self.faces[:n], np.stack(self.crops[:n])
        del self.faces[:n]
        del self.crops[:n]
        return faces, crops


class _BatchClassifier:
    """Whole batches classified in one background thread, at most `in_flight` submitted and not yet
    collected; results are collected in the order submitted. Without a thread (one core), a batch
    is classified when submitted, and collected the same way."""

    def __init__(self, classifier, batch_size: int, *, threaded: bool, in_flight: int = 1):
        self.classifier, self.batch_size = classifier, batch_size
        self.in_flight = max(1, in_flight)
        self.seconds = 0.0  # time spent in predict
        self.threaded = threaded
        self._pool: ThreadPoolExecutor | None = None  # started with the first batch that can overlap
        self._queue: deque[tuple[Future, list, bool]] = deque()

    def _predict(self, crops: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        probs = np.asarray(self.classifier.predict_proba(crops, batch_size=self.batch_size), np.float32)
        self.seconds += time.perf_counter() - t0
        return probs

    @property
    def full(self) -> bool:
        return len(self._queue) >= self.in_flight

    def __len__(self) -> int:
        return len(self._queue)

    def submit(self, faces: list, crops: np.ndarray, *, checked: bool, last: bool = False) -> None:
        """Queue a batch. The `last` batch of a run with none in flight is classified at once: nothing
        is left to overlap it with (a live source's one-frame runs never start a thread)."""
        if self.threaded and not (last and not self._queue):
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="emo7ion-classify")
            future = self._pool.submit(self._predict, crops)
        else:
            future = Future()
            future.set_result(self._predict(crops))
        self._queue.append((future, faces, checked))

    def collect(self) -> tuple[list, np.ndarray, bool]:
        """(faces, probabilities, checked) of the oldest batch, waiting for it when needed."""
        future, faces, checked = self._queue.popleft()
        return faces, future.result(), checked

    def close(self) -> None:
        """Drop what was not collected (a cancelled run) and end the thread."""
        self._queue.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def analyse_frames(frames: Iterable[tuple], *, detector, classifier, batch_size: int = 256,
                   should_cancel: Callable[[], bool] | None = None,
                   on_progress: Callable[[float | None], None] | None = None,
                   tracker: IouTracker | None = None, prefetch: bool = False, schedule="full",
                   schedule_options: dict | None = None,
                   on_observations: Callable[[list[Observation]], None] | None = None,
                   cpus: int | None = None) -> SegmentResult:
    """Detect, track and classify the faces of any stream of frames. Track ids are local, from 0.

    `frames` yields `(t_seconds, frame_bgr)`, or `(t_seconds, frame_bgr, frame_index)` when the
    source knows each frame's number (a file does); otherwise frames are numbered in the order they
    arrive (0, 1, 2, ...). `on_progress(t)` is called at most every PROGRESS_INTERVAL_S with the time
    of the latest frame, and `on_progress(None)` once every frame is analysed (not when cancelled).

    `schedule` is "full" (the detector on every frame), "adaptive" (`ml.engine.schedule`, with
    `schedule_options`) or a schedule object. `on_observations(batch)` receives the observations
    batch by batch instead of `result.observations`. `cpus` overrides the cores found available.

    With `prefetch`, frames are pulled from `frames` in a background thread ahead of detection (a
    file decodes while faces are found); the `decode` timing is then the time spent waiting for a
    frame, not the time producing it took."""
    started = time.perf_counter()
    labels = list(getattr(classifier, "labels", EMOTIONS))
    size = int(getattr(classifier, "input_size", 48))
    cpus = max(1, int(cpus or available_cpus()))
    tracker = tracker or IouTracker()
    plan = make_schedule(schedule, detector, tracker, schedule_options)
    result = SegmentResult(labels=labels, schedule=plan.name, cpus=cpus)
    timings = {"decode": 0.0, "detect": 0.0}
    if on_observations is not None:
        timings["store"] = 0.0
    pending = _Pending()
    batches = _BatchClassifier(classifier, batch_size, threaded=cpus > 1, in_flight=1 if cpus < 4 else 2)
    last_progress = [started]

    def progress(t: float | None, force: bool = False) -> None:
        if on_progress is None:
            return
        now = time.perf_counter()
        if not force and now - last_progress[0] < PROGRESS_INTERVAL_S:
            return
        last_progress[0] = now
        on_progress(t)

    def cancelled() -> bool:
        if should_cancel is not None and should_cancel():
            result.cancelled = True
        return result.cancelled

    def collect() -> None:
        """Take the oldest classified batch: its observations, then (for a full batch) a cancel check."""
        faces, probs, checked = batches.collect()
        observations = []
        for (index, t, box, tid), p in zip(faces, probs):
            pose = head_pose(getattr(box, "landmarks", None), box)
            observations.append(Observation(
                t=round(float(t), 4), frame_index=int(index), track_id=int(tid), x=int(box.x), y=int(box.y),
                w=int(box.w), h=int(box.h), score=round(float(box.score), 4), probs=p,
                yaw=None if pose is None else pose[0], pitch=None if pose is None else pose[1]))
        if on_observations is None:
            result.observations.extend(observations)
        else:
            t0 = time.perf_counter()
            on_observations(observations)
            timings["store"] += time.perf_counter() - t0
        if checked:
            cancelled()

    source = FramePrefetch(frames) if prefetch and cpus > 1 else iter(frames)
    frames_since_check = 0
    t_decode = time.perf_counter()
    try:
        for position, item in enumerate(source):
            t, frame = item[0], item[1]
            index = item[2] if len(item) > 2 else position
            timings["decode"] += time.perf_counter() - t_decode
            t0 = time.perf_counter()
            boxes, ids = plan.step(frame, float(t))
            if boxes:
                pending.faces.extend((index, t, box, tid) for box, tid in zip(boxes, ids))
                pending.crops.extend(crop_faces(frame, boxes, size=size))
            timings["detect"] += time.perf_counter() - t0
            result.frames_analysed += 1
            result.frame_times.append(round(float(t), 4))
            result.faces_detected += len(boxes)
            frames_since_check += 1
            if pending.count >= batch_size:
                # Whole batches only: the classifier runs at its fixed batch size, faces from many
                # frames. A batch is checked for cancellation when its result is collected.
                while pending.count >= batch_size and not result.cancelled:
                    if batches.full:
                        collect()
                    if not result.cancelled:
                        batches.submit(*pending.take(batch_size), checked=True)
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
        if not result.cancelled and pending.count:
            batches.submit(*pending.take(), checked=False, last=True)
        while len(batches) and not result.cancelled:
            collect()
        # (When cancelled, faces still waiting are dropped: a cancelled segment is not a result.)
    finally:
        # Stops the prefetch and classifier threads, or closes a generator source (a file source
        # releases its decoder), whatever ended the loop.
        batches.close()
        close = getattr(source, "close", None)
        if close is not None:
            close()
    timings["classify"] = batches.seconds
    result.track_count = tracker.track_count
    result.first_frame_boxes, result.last_frame_boxes = tracker.boundary_boxes()
    result.timings = {k: round(v, 4) for k, v in timings.items()}
    result.schedule_stats = plan.stats()
    if getattr(detector, "runtime", None):  # what ran the detector's network (YuNet: onnxruntime or opencv)
        result.schedule_stats["detector_runtime"] = detector.runtime
    result.wall_time_s = round(time.perf_counter() - started, 4)
    if not result.cancelled:
        progress(None, force=True)
    return result


# FFmpeg's decoding threads for an analysis. Decoding already overlaps detection and classification
# (FramePrefetch), which keep every core busy, so FFmpeg's frame threads only add their own overhead: one
# thread decodes the same frames with about 20% less CPU, and 10 minutes of 1080p at 2 fps took 61.7 and
# 64.3 s against 66.1 s (benchmarks/bench_long_footage.py --decode-threads ffmpeg 1): a small gain.
ANALYSIS_DECODE_THREADS = 1


def analyse_segment(path, *, detector, classifier, sample_fps: float, t_start: float = 0.0,
                    t_end: float | None = None, batch_size: int = 256,
                    should_cancel: Callable[[], bool] | None = None,
                    on_progress: Callable[[float], None] | None = None,
                    tracker: IouTracker | None = None, prefetch: bool = True,
                    decode_threads: int | None = ANALYSIS_DECODE_THREADS, **options) -> SegmentResult:
    """Analyse [t_start, t_end) of the footage at `path`: its frames sampled at `sample_fps`, fed to
    `analyse_frames` (which takes the other keyword `options`: schedule, schedule_options,
    on_observations, cpus). `on_progress` receives the fraction of the segment done (0-1).
    `decode_threads` is FFmpeg's decoding thread count (None: FFmpeg's choice)."""
    frames = iter_sampled_frames(path, sample_fps, t_start, t_end, decode_threads)
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
        tracker=tracker, prefetch=prefetch, **options)
    result.t_start, result.t_end = float(t_start), t_end
    result.stopped_early = frames.stopped_early
    result.warning = frames.message
    return result


def relabel_tracks(observations: Iterable[Observation], mapping: Mapping[int, int]) -> list[Observation]:
    """Copies of a segment's observations with footage-wide track ids from `stitch_tracks`."""
    out = []
    for o in observations:
        out.append(Observation(o.t, o.frame_index, mapping.get(o.track_id, o.track_id), o.x, o.y, o.w, o.h,
                               o.score, o.probs, yaw=o.yaw, pitch=o.pitch))
    return out


def analyse_footage(path, *, detector, classifier, sample_fps: float, duration_s: float,
                    segment_s: float = 60.0, bucket_s: float = 60.0, batch_size: int = 256,
                    should_cancel: Callable[[], bool] | None = None,
                    on_progress: Callable[[float], None] | None = None, schedule="full",
                    schedule_options: dict | None = None) -> dict:
    """The whole pipeline in one process (segment by segment, then stitch and aggregate), for the
    CLI, benchmarks and tests. Returns the summary with `timeline`, `observations`, `wall_time_s`,
    and the `schedule` that ran with its `timings` summed over segments."""
    started = time.perf_counter()
    n = bucket_count(duration_s, segment_s)
    segments: list[SegmentResult] = []
    for i in range(n):
        t0, t1 = i * segment_s, (None if i == n - 1 else (i + 1) * segment_s)

        def seg_progress(f, i=i):
            if on_progress:
                on_progress((i + f) / n)

        seg = analyse_segment(path, detector=detector, classifier=classifier, sample_fps=sample_fps, t_start=t0,
                              t_end=t1, batch_size=batch_size, should_cancel=should_cancel, on_progress=seg_progress,
                              schedule=schedule, schedule_options=schedule_options)
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
    summary["schedule"] = segments[0].schedule if segments else "full"
    summary["timings"] = {k: round(sum(s.timings.get(k, 0.0) for s in segments), 4)
                          for k in ("decode", "detect", "classify")}
    summary["wall_time_s"] = round(time.perf_counter() - started, 4)
    return summary
