"""The model-holding part of the live worker: one frame in, its faces out. Plain Python, no Django.

`FrameAnalyser` wraps the engine's `analyse_frames` for frames that arrive one at a time: it keeps
one `IouTracker` per key (a session's current chunk), so track ids stay stable from frame to frame,
and it answers for each frame at once (a live page cannot wait for a batch of 256 faces).

`AnalyserProcess` has the same methods and runs a `FrameAnalyser` in a child process, so a web
process that hosts the embedded live worker never loads TensorFlow itself.
"""
from __future__ import annotations

import multiprocessing
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from ml.engine.labels import EMOTIONS
from ml.engine.pipeline import analyse_frames
from ml.engine.tracker import IouTracker

# Faces of one frame go to the classifier together; a crowd frame seldom has more.
BATCH_SIZE = 64


class FrameDecodeError(ValueError):
    """The bytes are not an image OpenCV can decode."""


@dataclass(frozen=True)
class EngineConfig:
    """What the worker needs to build a detector and a classifier (picklable, hashable)."""
    model_path: str
    precision: str = "float32"
    runtime: str = "keras"               # ml.engine.classifier's runtime: keras, litert or auto
    litert_cache_dir: str = ""
    detector: str = "haar"
    yunet_model: str = ""
    upscale: str = "auto"
    detector_runtime: str = "auto"       # ml.engine.detectors' YuNet runtime: auto, onnxruntime or opencv


@dataclass
class Face:
    box: tuple[int, int, int, int]
    score: float
    track_id: int
    probs: list[float]  # in EMOTIONS order

    @property
    def emotion(self) -> str:
        return EMOTIONS[int(np.argmax(self.probs))]


@dataclass
class FrameFaces:
    """The faces of one frame (boxes in the frame's pixels), with its size and the time spent."""
    width: int
    height: int
    faces: list[Face] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class TrackInfo:
    """What finalize needs to stitch a chunk's tracks to its neighbours' (see AnalysisSegment)."""
    first_frame_boxes: dict = field(default_factory=dict)
    last_frame_boxes: dict = field(default_factory=dict)
    track_count: int = 0


def decode_image(data) -> np.ndarray:
    """A BGR frame from JPEG/PNG bytes, or the array itself."""
    if isinstance(data, np.ndarray):
        return data
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise FrameDecodeError("The image could not be decoded (send a JPEG, PNG or WebP image).")
    return image


class FrameAnalyser:
    """Detector and classifier loaded once (per EngineConfig), trackers per key."""

    def __init__(self):
        self._engines: dict[EngineConfig, tuple] = {}
        self._trackers: dict[str, IouTracker] = {}
        self._lock = threading.Lock()

    def _engine(self, config: EngineConfig):
        if config not in self._engines:
            from ml.engine.classifier import EmotionClassifier
            from ml.engine.detectors import make_detector

            classifier = EmotionClassifier(config.model_path, precision=config.precision, runtime=config.runtime,
                                           litert_cache_dir=config.litert_cache_dir or None)
            if set(classifier.labels) != set(EMOTIONS):
                raise ValueError(f"The model does not predict the seven FER2013 emotions ({classifier.labels})")
            options = {"runtime": config.detector_runtime} if config.detector == "yunet" else {}
            detector = make_detector(config.detector, yunet_model=config.yunet_model or None, upscale=config.upscale,
                                     **options)
            self._engines[config] = (detector, classifier, [classifier.labels.index(e) for e in EMOTIONS])
        return self._engines[config]

    def warm_up(self, config: EngineConfig) -> None:
        """Load the model and detector, and trace the classifier, before the first frame needs them."""
        detector, classifier, _ = self._engine(config)
        detector.detect(np.zeros((480, 640, 3), np.uint8))
        size = int(getattr(classifier, "input_size", 48))
        classifier.predict_proba(np.zeros((1, size, size), np.float32), batch_size=BATCH_SIZE)

    def analyse(self, config: EngineConfig, key: str | None, t: float, image, index: int) -> FrameFaces:
        """Faces of one frame. `key` names the tracker (None: a one-off image, no tracking)."""
        frame = decode_image(image)
        with self._lock:
            detector, classifier, order = self._engine(config)
            tracker = IouTracker() if key is None else self._trackers.setdefault(key, IouTracker())
            result = analyse_frames([(t, frame, index)], detector=detector, classifier=classifier,
                                    batch_size=BATCH_SIZE, tracker=tracker)
        faces = [Face(box=(o.x, o.y, o.w, o.h), score=float(o.score), track_id=o.track_id,
                      probs=[round(float(o.probs[i]), 5) for i in order]) for o in result.observations]
        return FrameFaces(width=int(frame.shape[1]), height=int(frame.shape[0]), faces=faces,
                          seconds=result.wall_time_s)

    def track_info(self, key: str, forget: bool = False) -> TrackInfo:
        """Boundary boxes and track count of a key's tracker; `forget` ends it (the chunk closed)."""
        with self._lock:
            tracker = self._trackers.pop(key, None) if forget else self._trackers.get(key)
        if tracker is None:
            return TrackInfo()
        first, last = tracker.boundary_boxes()
        return TrackInfo({int(k): list(v) for k, v in first.items()}, {int(k): list(v) for k, v in last.items()},
                         tracker.track_count)

    def close(self) -> None:
        self._trackers.clear()


def _serve(connection) -> None:
    """The child process: answer (method, args) requests with ("ok", value) or ("error", exception)."""
    analyser = FrameAnalyser()
    while True:
        try:
            request = connection.recv()
        except EOFError:
            return
        if request is None:
            return
        method, args = request
        try:
            connection.send(("ok", getattr(analyser, method)(*args)))
        except Exception as exc:  # handed back to the caller, raised there
            connection.send(("error", exc))


class AnalyserProcess:
    """A FrameAnalyser in a child process (spawned, so it shares nothing with a threaded server).
    Calls are serialised; a dead child is started again on the next call."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process = None
        self._connection = None

    def _call(self, method: str, *args):
        with self._lock:
            if self._process is None or not self._process.is_alive():
                context = multiprocessing.get_context("spawn")
                self._connection, child = context.Pipe()
                self._process = context.Process(target=_serve, args=(child,), name="emo7ion-live-model",
                                                daemon=True)
                self._process.start()
                child.close()
            try:
                self._connection.send((method, args))
                status, value = self._connection.recv()
            except (EOFError, BrokenPipeError, ConnectionResetError) as exc:
                self._process = None
                raise RuntimeError("The live model process stopped unexpectedly; it restarts with the next frame.") \
                    from exc
        if status == "error":
            raise value
        return value

    def warm_up(self, config: EngineConfig) -> None:
        self._call("warm_up", config)

    def analyse(self, config: EngineConfig, key: str | None, t: float, image, index: int) -> FrameFaces:
        return self._call("analyse", config, key, t, image, index)

    def track_info(self, key: str, forget: bool = False) -> TrackInfo:
        return self._call("track_info", key, forget)

    def close(self) -> None:
        with self._lock:
            if self._process is not None and self._process.is_alive():
                try:
                    self._connection.send(None)
                except (BrokenPipeError, OSError):
                    pass
                self._process.join(5)
                if self._process.is_alive():
                    self._process.terminate()
            self._process = None
