"""Face detectors behind one interface: `detector.detect(bgr) -> list[FaceBox]`.

- `yunet`: OpenCV's `cv2.FaceDetectorYN` on a YuNet ONNX file (the fixed 640x640 exports load in
  OpenCV 4.x and 5.x and run at any input size through `setInputSize`). Best recall on crowds.
- `haar`: OpenCV's bundled frontal-face cascade (opencv-python 4.x ships it): the fallback that
  needs no model file.

Both accept `upscale`: frames are enlarged before detection so that small faces in crowds reach
the detector's smallest anchor, and boxes are mapped back to the original frame.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import ImageReadError, ModelFileError, UnknownDetectorError

DETECTOR_NAMES = ("yunet", "haar")

# YuNet's score is calibrated so that 0.6 keeps every face on the group photos we test with and
# no background; OpenCV Zoo's 0.9 misses a third of the faces in a crowd.
YUNET_SCORE_THRESHOLD = 0.6
YUNET_NMS_THRESHOLD = 0.3
YUNET_TOP_K = 5000
# "auto" upscaling: frames whose long side is below this are enlarged toward it (at most
# AUTO_UPSCALE_MAX times). Faces in small photos are often cut by the border or tiny; HD video
# frames are left alone, so video throughput does not pay for it.
AUTO_UPSCALE_LONG_SIDE = 1280
AUTO_UPSCALE_MAX = 2.0
MAX_UPSCALE = 4.0


@dataclass(frozen=True)
class FaceBox:
    x: int
    y: int
    w: int
    h: int
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None  # YuNet: eyes, nose tip, mouth corners

    @property
    def area(self) -> int:
        return self.w * self.h

    def as_tuple(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.w, self.h


def _resolve_upscale(upscale, width: int, height: int) -> float:
    if upscale in (None, "auto"):
        long_side = max(width, height)
        return float(min(AUTO_UPSCALE_MAX, max(1.0, AUTO_UPSCALE_LONG_SIDE / max(1, long_side))))
    return float(upscale)


def _validate_upscale(upscale) -> None:
    if upscale in (None, "auto"):
        return
    try:
        value = float(upscale)
    except (TypeError, ValueError):
        raise ValueError(f"upscale must be a number between 1 and {MAX_UPSCALE:g}, or 'auto'; got {upscale!r}")
    if not (1.0 <= value <= MAX_UPSCALE):
        raise ValueError(f"upscale must be between 1 and {MAX_UPSCALE:g} (or 'auto'); got {value:g}")


def _as_bgr(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ImageReadError("The frame is empty or not an image array")
    if image.dtype != np.uint8:
        raise ImageReadError(f"Frames must be 8-bit images, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ImageReadError(f"Frames must be grey, BGR or BGRA images, got shape {image.shape}")


def _clip_box(x: float, y: float, w: float, h: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    x1, y1 = min(width, int(round(x + w))), min(height, int(round(y + h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return x0, y0, x1 - x0, y1 - y0


class YuNetDetector:
    name = "yunet"

    def __init__(self, model_path: str | os.PathLike | None, *, score_threshold: float = YUNET_SCORE_THRESHOLD,
                 nms_threshold: float = YUNET_NMS_THRESHOLD, top_k: int = YUNET_TOP_K, upscale="auto",
                 min_size: int = 0):
        if not model_path:
            raise ModelFileError("The yunet detector needs its ONNX model file: set EMO7ION_YUNET_MODEL "
                                 "(python manage.py fetch_detector downloads it), or use the haar detector")
        path = Path(model_path)
        if not path.is_file():
            raise ModelFileError(f"YuNet model file {path} does not exist (set EMO7ION_YUNET_MODEL to the "
                                 "ONNX file; python manage.py fetch_detector downloads it)")
        if path.stat().st_size == 0:
            raise ModelFileError(f"YuNet model file {path} is empty")
        if not 0.0 < score_threshold < 1.0:
            raise ValueError(f"score_threshold must be between 0 and 1, got {score_threshold}")
        _validate_upscale(upscale)
        self.model_path = path
        self.score_threshold = float(score_threshold)
        self.upscale = upscale
        self.min_size = int(min_size)
        try:
            self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), self.score_threshold,
                                                  float(nms_threshold), int(top_k))
            # Run once: a file that parses but is not a YuNet network fails here, not mid-analysis.
            self._net.detect(np.zeros((320, 320, 3), np.uint8))
        except cv2.error as exc:
            raise ModelFileError(
                f"{path.name} could not be loaded as a YuNet face detector (corrupt file, or a dynamic-shape "
                f"export that this OpenCV cannot read; use a fixed-shape export such as yunet_n_640_640.onnx): "
                f"{str(exc).strip().splitlines()[-1]}") from exc
        self._input_size = (320, 320)
        # setInputSize + detect mutate the network: one frame at a time per detector object.
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        bgr = _as_bgr(image)
        height, width = bgr.shape[:2]
        scale = _resolve_upscale(self.upscale, width, height)
        work = bgr if scale == 1.0 else cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        with self._lock:
            size = (work.shape[1], work.shape[0])
            if size != self._input_size:
                self._net.setInputSize(size)
                self._input_size = size
            _, faces = self._net.detect(work)
        if faces is None:
            return []
        boxes = []
        for row in faces:
            x, y, w, h = (row[:4] / scale).tolist()
            clipped = _clip_box(x, y, w, h, width, height)
            if clipped is None or min(clipped[2], clipped[3]) < self.min_size:
                continue
            landmarks = tuple((float(row[4 + 2 * i] / scale), float(row[5 + 2 * i] / scale)) for i in range(5))
            boxes.append(FaceBox(*clipped, score=float(row[14]), landmarks=landmarks))
        boxes.sort(key=lambda b: (b.y, b.x))
        return boxes


class HaarDetector:
    name = "haar"
    CASCADE = "haarcascade_frontalface_default.xml"

    def __init__(self, *, scale_factor: float = 1.1, min_neighbors: int = 5, min_size: int = 20, upscale=1.0,
                 cascade_path: str | os.PathLike | None = None):
        if cascade_path is None:
            data = getattr(cv2, "data", None)
            if data is None:
                raise ModelFileError("This OpenCV build does not ship Haar cascades (opencv-python 5.x dropped "
                                     "them): install opencv-python 4.x or use the yunet detector")
            cascade_path = Path(data.haarcascades) / self.CASCADE
        cascade_path = Path(cascade_path)
        if not cascade_path.is_file():
            raise ModelFileError(f"Haar cascade {cascade_path} does not exist")
        _validate_upscale(upscale)
        self._cascade = cv2.CascadeClassifier(str(cascade_path))
        if self._cascade.empty():
            raise ModelFileError(f"Haar cascade {cascade_path.name} could not be loaded (corrupt file)")
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)
        self.upscale = upscale
        # One detector object may be shared by threads (a cached per-process instance).
        self._lock = threading.Lock()

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        bgr = _as_bgr(image)
        height, width = bgr.shape[:2]
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        scale = _resolve_upscale(self.upscale, width, height)
        if scale != 1.0:
            grey = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
        grey = cv2.equalizeHist(grey)
        with self._lock:
            rects, neighbours = self._cascade.detectMultiScale2(
                grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                minSize=(max(1, int(self.min_size * scale)),) * 2)
        boxes = []
        for (x, y, w, h), n in zip(np.asarray(rects).reshape(-1, 4), np.asarray(neighbours).reshape(-1)):
            clipped = _clip_box(x / scale, y / scale, w / scale, h / scale, width, height)
            if clipped is None:
                continue
            # The cascade has no probability: more overlapping hits = more evidence, mapped to (0, 1).
            score = float(n) / (float(n) + self.min_neighbors)
            boxes.append(FaceBox(*clipped, score=round(score, 4), landmarks=None))
        boxes.sort(key=lambda b: (b.y, b.x))
        return boxes


def make_detector(name: str, yunet_model: str | os.PathLike | None = None, **options):
    """Build a detector by name. Unknown names raise UnknownDetectorError, bad model files ModelFileError."""
    key = (name or "").strip().lower()
    if key not in DETECTOR_NAMES:
        raise UnknownDetectorError(f"Unknown face detector {name!r}; choose one of: {', '.join(DETECTOR_NAMES)}")
    try:
        if key == "yunet":
            return YuNetDetector(yunet_model, **options)
        return HaarDetector(**options)
    except TypeError as exc:  # an option the detector does not have
        raise ValueError(f"Invalid option for the {key} detector: {exc}") from exc


def default_detector_name(yunet_model_path: str | os.PathLike | None) -> str:
    """yunet when its model file is configured and present, else haar (always available)."""
    if yunet_model_path and Path(yunet_model_path).is_file():
        return "yunet"
    return "haar"
