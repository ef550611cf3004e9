"""One session in the worker: analyse its newest frame, answer the page, and store the results.

Per frame: the faces (boxes, seven probabilities, top emotion), the crowd's shares over the last
10 s, the face count, the rates (frames received, analysed, dropped; the effective rate over the
last 5 s) and the latency from the frame's arrival to its result. Every 2 s (and when a chunk ends)
the new observations go to the database through `live.services.recording`.
"""
from __future__ import annotations

import base64
import collections
import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from ml.engine.labels import EMOTIONS

from ..inference import EngineConfig, decode_image
from ..services import recording

WINDOW_S = 10.0          # the crowd gauge's window
RATE_WINDOW_S = 5.0      # the effective rate's window
STORE_EVERY_S = 2.0
PREVIEW_EVERY_S = 0.5    # stream sessions: a small preview image for the page, at most this often
PREVIEW_WIDTH = 480
STALE_AFTER_S = 3.0      # a frame older than this when its turn comes is dropped (a queue that built up)


@dataclass
class LiveFrame:
    session_id: int
    wall_time: float                 # when it was captured or arrived (epoch seconds)
    image: object                    # JPEG bytes or a BGR array
    client_ms: float | None = None   # the browser's clock when it sent the frame, echoed for its latency


@dataclass
class SessionInfo:
    session_id: int
    analysis_id: int
    origin: float                    # epoch seconds of t = 0
    target_fps: float
    source: str
    state: str
    stream_url: str
    blur_faces: bool
    config: EngineConfig
    chunk_seconds: float = 60.0


def shares_of(tops) -> dict[str, float]:
    counts = collections.Counter(tops)
    total = sum(counts.values())
    return {e: round(counts[e] / total, 4) if total else 0.0 for e in EMOTIONS}


def blurred_preview(frame: np.ndarray, faces, blur: bool) -> str:
    """A small JPEG of the frame (faces blurred when the organisation asks), as a data: URL."""
    image = frame.copy()
    if blur:
        for face in faces:
            x, y, w, h = face.box
            region = image[y:y + h, x:x + w]
            if region.size:
                k = max(3, (max(w, h) // 4) | 1)
                image[y:y + h, x:x + w] = cv2.GaussianBlur(region, (k, k), 0)
    scale = PREVIEW_WIDTH / max(1, image.shape[1])
    if scale < 1:
        image = cv2.resize(image, (PREVIEW_WIDTH, int(round(image.shape[0] * scale))), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 70])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode() if ok else ""


@dataclass
class _Chunk:
    index: int
    t_start: float
    frame_times: list = field(default_factory=list)
    faces_detected: int = 0
    wall_time_s: float = 0.0


class SessionRecorder:
    """Owned by the worker's analysing thread (never shared between threads)."""

    def __init__(self, info: SessionInfo, analyser):
        self.info, self.analyser = info, analyser
        next_chunk, self.next_frame = recording.live_resume_point(analysis_id=info.analysis_id)
        self.chunk: _Chunk | None = None
        self._next_chunk_index = next_chunk
        self.pending_faces: list = []
        self.received = self.analysed = self.dropped = 0           # since the last store
        self.totals = {"received": 0, "analysed": 0, "dropped": 0}
        self.recent: collections.deque = collections.deque()       # (t, [top emotions]) in the window
        self.analysed_at: collections.deque = collections.deque()  # monotonic times, for the rate
        self.last_store = time.monotonic()
        self.last_preview = 0.0
        self.last_frame_wall = time.time()

    @property
    def tracker_key(self) -> str:
        return f"{self.info.session_id}:{self.chunk.index}"

    def count_received(self, n: int = 1) -> None:
        self.received += n
        self.totals["received"] += n

    def count_dropped(self, n: int) -> None:
        if n:
            self.dropped += n
            self.totals["dropped"] += n

    def _open_chunk(self, t: float) -> None:
        self.chunk = _Chunk(index=self._next_chunk_index, t_start=t)
        self._next_chunk_index += 1
        recording.live_chunk_open(analysis_id=self.info.analysis_id, index=self.chunk.index, t_start=t)

    def handle(self, frame: LiveFrame) -> dict | None:
        """Analyse one frame; the "result" message for the page (None when the frame was too old)."""
        self.last_frame_wall = time.time()
        if time.time() - frame.wall_time > STALE_AFTER_S:
            self.count_dropped(1)
            return None
        t = round(max(0.0, frame.wall_time - self.info.origin), 4)
        if self.chunk is not None and t - self.chunk.t_start >= self.info.chunk_seconds:
            self.store(close=True)
        if self.chunk is None:
            self._open_chunk(t)
        image = decode_image(frame.image)
        index = self.next_frame
        self.next_frame += 1
        found = self.analyser.analyse(self.info.config, self.tracker_key, t, image, index)
        chunk = self.chunk
        chunk.frame_times.append(t)
        chunk.faces_detected += len(found.faces)
        chunk.wall_time_s += found.seconds
        self.pending_faces.extend((t, index, face) for face in found.faces)
        self.analysed += 1
        self.totals["analysed"] += 1
        return self._result(frame, t, image, found)

    def _result(self, frame: LiveFrame, t: float, image, found) -> dict:
        now = time.monotonic()
        self.recent.append((t, [face.emotion for face in found.faces]))
        while self.recent and self.recent[0][0] < t - WINDOW_S:
            self.recent.popleft()
        self.analysed_at.append(now)
        while self.analysed_at and self.analysed_at[0] < now - RATE_WINDOW_S:
            self.analysed_at.popleft()
        window_tops = [e for _, tops in self.recent for e in tops]
        span = min(RATE_WINDOW_S, max(1e-3, now - self.analysed_at[0])) if len(self.analysed_at) > 1 else None
        message = {
            "type": "result", "session": self.info.session_id, "t": t,
            "width": found.width, "height": found.height,
            "faces": [{"box": list(face.box), "emotion": face.emotion, "p": face.probs} for face in found.faces],
            "face_count": len(found.faces), "labels": list(EMOTIONS),
            "shares": shares_of(window_tops), "window_s": WINDOW_S, "window_faces": len(window_tops),
            "effective_fps": round((len(self.analysed_at) - 1) / span, 2) if span else None,
            "target_fps": self.info.target_fps, **self.totals,
            "latency_ms": round((time.time() - frame.wall_time) * 1000.0, 1), "client_ms": frame.client_ms,
        }
        if self.info.source == "stream" and now - self.last_preview >= PREVIEW_EVERY_S:
            self.last_preview = now
            message["preview"] = blurred_preview(image, found.faces, self.info.blur_faces)
        return message

    def due(self) -> bool:
        return time.monotonic() - self.last_store >= STORE_EVERY_S

    def store(self, close: bool = False) -> None:
        """Hand the new observations and the chunk's bookkeeping to the database."""
        self.last_store = time.monotonic()
        chunk = self.chunk
        if chunk is None:  # nothing analysed since the last chunk closed; counters wait for the next
            return
        tracks = self.analyser.track_info(self.tracker_key, forget=close)
        # A frame stands for the interval until the next one: the chunk ends one frame after its last.
        t_end = (chunk.frame_times[-1] + 1.0 / self.info.target_fps) if chunk.frame_times else chunk.t_start
        recording.live_chunk_store(update=recording.ChunkUpdate(
            analysis_id=self.info.analysis_id, session_id=self.info.session_id, index=chunk.index,
            t_start=chunk.t_start, t_end=round(t_end, 4),
            faces=self.pending_faces, frame_times=chunk.frame_times, first_frame_boxes=tracks.first_frame_boxes,
            last_frame_boxes=tracks.last_frame_boxes, track_count=tracks.track_count,
            faces_detected=chunk.faces_detected, wall_time_s=chunk.wall_time_s, received=self.received,
            analysed=self.analysed, dropped=self.dropped), close=close)
        self.pending_faces = []
        self.received = self.analysed = self.dropped = 0
        if close:
            self.chunk = None
