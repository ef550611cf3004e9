"""Reading footage: probe a file by its content, and sample frames from it at a chosen rate.

Still images are one-frame footage (kind "image"), so the rest of the pipeline never needs a
special case for them. Everything OpenCV cannot decode, or can only partly decode, becomes a
`VideoReadError` whose message a person can act on: where OpenCV only fails, the container's own
track list (`ml.engine.streams`) says whether the file has no video stream or one in a codec this
server cannot decode.
"""
from __future__ import annotations

import math
import os
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from .errors import VideoReadError
from .streams import describe_streams

# A stream may end a little before its container's stated duration (rounded frame counts,
# variable frame rate): only a shortfall larger than this is treated as truncation.
END_TOLERANCE_S = 0.25
SEEK_MARGIN_S = 1.0


@dataclass(frozen=True)
class MediaInfo:
    kind: str  # "video" | "image"
    fps: float  # 0.0 for a still image
    frame_count: int
    duration_s: float  # 0.0 for a still image
    width: int
    height: int

    def to_dict(self) -> dict:
        return {"kind": self.kind, "fps": self.fps, "frame_count": self.frame_count,
                "duration_s": self.duration_s, "width": self.width, "height": self.height}


def _name(path: Path) -> str:
    return path.name or str(path)


def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoReadError(f"{_name(path)} does not exist")
    if not path.is_file():
        raise VideoReadError(f"{_name(path)} is not a file")
    if path.stat().st_size == 0:
        raise VideoReadError(f"{_name(path)} is empty (0 bytes)")


def _read_image(path: Path) -> np.ndarray | None:
    """Decode the file as a still image when its content says it is one (not its name)."""
    try:
        if not cv2.haveImageReader(str(path)):
            return None
    except cv2.error:
        return None
    # imdecode from bytes also handles paths OpenCV's imread cannot open (non-ASCII names).
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise VideoReadError(f"{_name(path)} looks like an image but cannot be decoded (corrupt or truncated)")
    return image


CONVERT_ADVICE = "Convert it to H.264 video in an MP4 file and upload it again."


def _undecodable(path: Path, otherwise: str) -> VideoReadError:
    """Why OpenCV could not decode `path`, as precisely as its container says; else `otherwise`."""
    streams = describe_streams(path)
    if streams is None:
        return VideoReadError(otherwise)
    name = _name(path)
    if not streams.video:
        if streams.container.endswith(" audio"):
            return VideoReadError(f"{name} has no video stream: it is an audio file ({streams.container}). "
                                  "Upload a video or a still image.")
        held = f"only audio ({', '.join(streams.audio)})" if streams.audio else "no tracks at all"
        return VideoReadError(f"{name} has no video stream: its {streams.container} container holds {held}. "
                              "Upload a video or a still image.")
    return VideoReadError(f"{name} has a video stream in a format this server cannot decode ({streams.container}, "
                          f"codec {', '.join(streams.video)}), or a corrupt one. {CONVERT_ADVICE}")


def _open_capture(path: Path, decode_threads: int | None = None) -> cv2.VideoCapture:
    """FFmpeg's capture; `decode_threads` None lets FFmpeg choose (one per core)."""
    params = [] if decode_threads is None else [cv2.CAP_PROP_N_THREADS, int(decode_threads)]
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
    if not cap.isOpened():
        cap.release()
        raise _undecodable(path, f"{_name(path)} is not a video or image that can be decoded (unknown format, "
                                 "or a video cut short before its index was written)")
    return cap


# Containers written by streaming recorders (a browser's MediaRecorder WebM) state no duration;
# OpenCV then reports a frame count of 0 or a huge negative number.
_MAX_FRAME_COUNT = 10 ** 9


def _stream_geometry(cap: cv2.VideoCapture, path: Path) -> tuple[float, int, int, int]:
    """(fps, frame_count, width, height); frame_count is 0 when the container does not state it."""
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    count = cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0
    frame_count = int(count) if math.isfinite(count) and 0 < count < _MAX_FRAME_COUNT else 0
    width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
    height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        raise VideoReadError(f"{_name(path)} does not state a usable frame rate ({fps!r} fps)")
    if width <= 0 or height <= 0:
        raise _undecodable(path, f"{_name(path)} has no video frames")
    return fps, frame_count, width, height


def _frame_time(cap: cv2.VideoCapture, frame_index: int, fps: float) -> float:
    """The frame's presentation time: right for variable frame rate, index/fps as a fallback."""
    msec = cap.get(cv2.CAP_PROP_POS_MSEC)
    if msec is None or not math.isfinite(msec) or msec < 0 or (msec == 0 and frame_index > 0):
        return frame_index / fps
    return msec / 1000.0


def probe_media(path: str | os.PathLike) -> MediaInfo:
    """Describe a video or still image by decoding it, or raise VideoReadError saying why not.

    For videos it decodes the first frame and the last second: a file cut short keeps its
    stated duration in the header, so only decoding up to the end shows it is whole.
    """
    path = Path(path)
    _check_file(path)
    image = _read_image(path)
    if image is not None:
        h, w = image.shape[:2]
        return MediaInfo(kind="image", fps=0.0, frame_count=1, duration_s=0.0, width=int(w), height=int(h))

    cap = _open_capture(path)
    try:
        fps, frame_count, width, height = _stream_geometry(cap, path)
        ok, first = cap.read()
        if not ok or first is None:
            raise _undecodable(path, f"{_name(path)} contains no decodable video frames (corrupt file)")
        # The decoded frame's size, not the header's: phone footage with rotation metadata is
        # turned upright by OpenCV, so its frames are the header's height wide.
        height, width = first.shape[:2]
        if frame_count == 0:
            # No stated length: count the frames by decoding them all (slow for long files, but
            # the only way to know the duration, and every frame is checked on the way).
            frame_count = 1
            while cap.grab():
                frame_count += 1
            duration = frame_count / fps
            return MediaInfo(kind="video", fps=fps, frame_count=frame_count, duration_s=round(duration, 3),
                             width=width, height=height)
        duration = frame_count / fps
        # Decode the tail: seek about a second before the end and read to the end of the stream.
        tail_start = max(1, frame_count - max(8, int(round(fps))))
        last_t = 0.0  # the first frame, already read
        if tail_start > 1:
            cap.set(cv2.CAP_PROP_POS_FRAMES, tail_start)
            last_t = None
        while cap.grab():
            last_t = _frame_time(cap, int(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1, fps)
        if last_t is None or last_t + 1.0 / fps < duration - END_TOLERANCE_S:
            where = (f"frames stop decoding at {last_t:.1f} s" if last_t
                     else "its last second cannot be decoded")
            raise VideoReadError(
                f"{_name(path)} is truncated or corrupt: its header says {duration:.1f} s but {where}")
        return MediaInfo(kind="video", fps=fps, frame_count=frame_count, duration_s=round(duration, 3),
                         width=width, height=height)
    finally:
        cap.release()


class SampledFrames:
    """Iterates `(frame_index, t_seconds, bgr)` for frames sampled at `sample_fps` in [t_start, t_end).

    Frames that are not used are skipped with `grab()` (demuxed, never converted to BGR). After
    iteration, `stopped_early` says whether the stream ended before it should have (a truncated or
    corrupt file) and `message` says where; `frames_read` counts the frames yielded.

    `decode_threads` is FFmpeg's decoding thread count (None: FFmpeg's choice, a thread per core).

    `t_seconds` is the frame's own timestamp and is exact. `frame_index` is OpenCV's frame number:
    exact for constant-frame-rate files; after a seek in a variable-frame-rate file OpenCV derives
    it from the average rate, so locate frames by `t_seconds` (see `read_frame_at`).
    """

    def __init__(self, path: str | os.PathLike, sample_fps: float, t_start: float = 0.0,
                 t_end: float | None = None, decode_threads: int | None = None):
        if not sample_fps or sample_fps <= 0 or not math.isfinite(sample_fps):
            raise ValueError(f"sample_fps must be a positive number of frames per second, got {sample_fps!r}")
        if t_start < 0 or (t_end is not None and t_end < t_start):
            raise ValueError(f"invalid time range [{t_start}, {t_end})")
        self.path = Path(path)
        self.sample_fps = float(sample_fps)
        self.t_start = float(t_start)
        self.t_end = None if t_end is None else float(t_end)
        if decode_threads is not None and int(decode_threads) < 1:
            raise ValueError(f"decode_threads must be at least 1 (or None for FFmpeg's choice), got {decode_threads!r}")
        self.decode_threads = decode_threads
        self.stopped_early = False
        self.message = ""
        self.frames_read = 0
        self.last_t: float | None = None
        self.duration_s: float | None = None  # known once iteration has opened the file

    def __iter__(self) -> Iterator[tuple[int, float, np.ndarray]]:
        _check_file(self.path)
        image = _read_image(self.path)
        if image is not None:
            # A still image is one frame at t = 0.
            self.duration_s = 0.0
            if self.t_start <= 0.0:
                self.frames_read = 1
                self.last_t = 0.0
                yield 0, 0.0, image
            return
        yield from self._iter_video()

    def _iter_video(self) -> Iterator[tuple[int, float, np.ndarray]]:
        cap = _open_capture(self.path, self.decode_threads)
        try:
            fps, frame_count, _, _ = _stream_geometry(cap, self.path)
            # Without a stated length, read until the stream ends (and cannot tell truncation).
            duration = frame_count / fps if frame_count else None
            self.duration_s = duration
            t_end = duration if self.t_end is None else min(self.t_end, duration or math.inf)
            if t_end is None:
                t_end = math.inf
            step = 1.0 / self.sample_fps
            half_frame = 0.5 / fps
            if self.t_start > 0:
                # OpenCV seeks to the previous key frame and decodes forward to the target, but it
                # converts time to frames with the average rate, so with a variable frame rate it can
                # land late. Aim a second early and skip forward by the frames' own timestamps.
                cap.set(cv2.CAP_PROP_POS_MSEC, max(0.0, self.t_start - SEEK_MARGIN_S) * 1000.0)
            # The sampling grid is anchored at t = 0 and an instant belongs to the segment whose
            # [t_start, t_end) holds it, so consecutive segments sample exactly the instants one
            # long run would, each once. Each instant takes the first frame within half a frame of it.
            next_t = math.ceil(self.t_start / step - 1e-9) * step
            last_t = None
            stream_ended = False
            while next_t < t_end - 1e-9:
                if not cap.grab():
                    stream_ended = True
                    break
                index = int(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1
                t = _frame_time(cap, index, fps)
                last_t = t
                if t + half_frame < next_t:
                    continue  # grabbed (demuxed), never converted: the cheap path for unused frames
                ok, frame = cap.retrieve()
                if not ok or frame is None:
                    self.stopped_early = True
                    self.message = (f"{_name(self.path)}: frame {index} at {t:.2f} s could not be decoded "
                                    "(corrupt file)")
                    break
                while next_t <= t + half_frame:
                    next_t += step
                self.frames_read += 1
                self.last_t = t
                yield index, t, frame
            if stream_ended and math.isfinite(t_end):
                reached = (last_t + 1.0 / fps) if last_t is not None else self.t_start
                if reached < t_end - END_TOLERANCE_S:
                    self.stopped_early = True
                    self.message = (f"{_name(self.path)} stopped decoding at {reached:.1f} s, before "
                                    f"{t_end:.1f} s (truncated or corrupt file)")
        finally:
            cap.release()


def iter_sampled_frames(path: str | os.PathLike, sample_fps: float, t_start: float = 0.0,
                        t_end: float | None = None, decode_threads: int | None = None) -> SampledFrames:
    """Sample frames at `sample_fps` between `t_start` and `t_end` (seconds; None = the end).

    Returns an iterable of `(frame_index, t_seconds, bgr_ndarray)`; see `SampledFrames` for how it
    reports a stream that ends early. Bad files raise `VideoReadError` when iteration starts.
    """
    return SampledFrames(path, sample_fps, t_start, t_end, decode_threads)


def read_frame_at(path: str | os.PathLike, t_seconds: float) -> np.ndarray:
    """One BGR frame at (or just after) `t_seconds`: for thumbnails of key moments."""
    path = Path(path)
    frames = SampledFrames(path, sample_fps=1000.0, t_start=max(0.0, t_seconds))
    for _, _, frame in frames:
        return frame
    raise VideoReadError(f"{_name(path)} has no decodable frame at {t_seconds:.2f} s")


# Frames a background reader may hold ahead of the consumer (4 frames of 1080p are 25 MB).
PREFETCH_DEPTH = 4


class FramePrefetch:
    """Pull frames from a source in a background thread, at most `depth` ahead of the consumer.

    OpenCV releases the GIL while it decodes, so decoding the next frames of a file overlaps the
    detection and classification of this one. The queue is bounded: a slow consumer makes the reader
    wait, it never makes memory grow. Errors of the source are raised in the consumer; `close()`
    (also on break or error) stops the thread and closes the source (a file releases its decoder)."""

    _DONE = object()

    def __init__(self, frames: Iterable, depth: int = PREFETCH_DEPTH):
        self.frames = frames
        self.depth = int(depth)
        self._queue: queue.Queue = queue.Queue(maxsize=self.depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="emo7ion-decode", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        """Hand one item over, waiting while the queue is full; False once asked to stop."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:  # the consumer is busy: check for stop, then retry
                continue
        return False

    def _run(self) -> None:
        source = iter(self.frames)
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            self._error = exc
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
            self._put(self._DONE)

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
