"""Face detectors behind one interface: `detector.detect(bgr) -> list[FaceBox]`.

- `yunet`: a YuNet ONNX file (the fixed 640x640 exports), run at any input size by ONNX Runtime
  (`ml.engine.yunet`, the default where installed) or by OpenCV's `cv2.FaceDetectorYN` through
  `setInputSize` (`runtime="opencv"`): the same faces either way. Best recall on crowds.
- `haar`: OpenCV's bundled frontal-face cascade (opencv-python 4.x ships it): the fallback that
  needs no model file.

Both accept `upscale`: frames are enlarged before detection so that small faces in crowds reach
the detector's smallest anchor, and boxes are mapped back to the original frame. `base_scale(w, h)`
says what that factor is for a frame size, and `detect_scaled(image, scale)` detects at any other
factor: the adaptive detection schedule (`ml.engine.schedule`) runs a downscaled pass over the whole
frame, full-resolution tiles where small faces are, and `detect_in_regions` (many small regions of
one frame in one detector call) to follow faces between full detections.
"""
from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .errors import ConfigurationError, ImageReadError, ModelFileError, UnknownDetectorError
from .tracker import iou_matrix

DETECTOR_NAMES = ("yunet", "haar")
YUNET_RUNTIMES = ("auto", "onnxruntime", "opencv")

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


def as_bgr(image: np.ndarray) -> np.ndarray:
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


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return image
    # Area averaging when shrinking: plain bilinear sampling aliases small faces away.
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    return cv2.resize(image, None, fx=scale, fy=scale, interpolation=interpolation)


class _ScaledDetector:
    """What both detectors share: `detect` is `detect_scaled` at the `upscale` option's factor."""

    upscale = 1.0

    def base_scale(self, width: int, height: int) -> float:
        """The factor `detect` resizes a frame of this size by (its `upscale` option)."""
        return _resolve_upscale(self.upscale, width, height)

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        bgr = as_bgr(image)
        return self.detect_scaled(bgr, self.base_scale(bgr.shape[1], bgr.shape[0]))

    def detect_scaled(self, image: np.ndarray, scale: float) -> list[FaceBox]:
        raise NotImplementedError


class YuNetDetector(_ScaledDetector):
    name = "yunet"

    def __init__(self, model_path: str | os.PathLike | None, *, score_threshold: float = YUNET_SCORE_THRESHOLD,
                 nms_threshold: float = YUNET_NMS_THRESHOLD, top_k: int = YUNET_TOP_K, upscale="auto",
                 min_size: int = 0, runtime: str = "auto", num_threads: int | None = None):
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
        self.runtime = resolve_yunet_runtime(runtime)
        if self.runtime == "onnxruntime":
            from .cpu import available_cpus
            from .yunet import OnnxRuntimeYuNet
            # Every core: on every frame of a 1080p clip one detection thread left a core idle (the
            # `full` schedule took 11.0 s at 128% CPU against 7.75 s at 182% on two); at 2 fps, where
            # decoding keeps the other core busy, one thread was no better beyond run-to-run noise.
            self.num_threads = int(num_threads or available_cpus())
            self._net = OnnxRuntimeYuNet(str(path), score_threshold=self.score_threshold,
                                         nms_threshold=float(nms_threshold), top_k=int(top_k),
                                         num_threads=self.num_threads)
        else:
            try:
                self._net = cv2.FaceDetectorYN.create(str(path), "", (320, 320), self.score_threshold,
                                                      float(nms_threshold), int(top_k))
            except cv2.error as exc:
                raise ModelFileError(
                    f"{path.name} could not be loaded as a YuNet face detector (corrupt file, or a dynamic-shape "
                    f"export that this OpenCV cannot read; use a fixed-shape export such as yunet_n_640_640.onnx): "
                    f"{str(exc).strip().splitlines()[-1]}") from exc
        self._input_size = None
        # OpenCV's setInputSize + detect mutate the network: one frame at a time per detector object.
        self._lock = threading.Lock()
        try:
            # Run once: a file that parses but is not a YuNet network fails here, not mid-analysis.
            self._run(np.zeros((320, 320, 3), np.uint8))
        except cv2.error as exc:
            raise ModelFileError(f"{path.name} could not be run as a YuNet face detector: "
                                 f"{str(exc).strip().splitlines()[-1]}") from exc

    def _run(self, bgr: np.ndarray):
        """(N, 15) rows of x, y, w, h, five landmarks, score (or None), from either runtime."""
        if self.runtime == "onnxruntime":
            return self._net.detect(bgr)  # any size; thread-safe
        with self._lock:
            size = (bgr.shape[1], bgr.shape[0])
            if size != self._input_size:
                self._net.setInputSize(size)
                self._input_size = size
            return self._net.detect(bgr)[1]

    def detect_scaled(self, image: np.ndarray, scale: float) -> list[FaceBox]:
        """Faces found with the image resized by `scale` (boxes in the image's own coordinates)."""
        bgr = as_bgr(image)
        height, width = bgr.shape[:2]
        faces = self._run(_resized(bgr, scale))
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


def resolve_yunet_runtime(runtime: str) -> str:
    """What runs YuNet's network: `onnxruntime` (2.5x faster per core, see `ml.engine.yunet`) or
    OpenCV's DNN module (`opencv`); `auto` takes ONNX Runtime wherever it is installed."""
    key = (runtime or "auto").strip().lower()
    if key not in YUNET_RUNTIMES:
        raise ConfigurationError(f"Unknown YuNet runtime {runtime!r}; choose one of: {', '.join(YUNET_RUNTIMES)}")
    if key == "auto":
        from .yunet import onnxruntime_available
        return "onnxruntime" if onnxruntime_available() else "opencv"
    if key == "onnxruntime":
        from .yunet import onnxruntime_available
        if not onnxruntime_available():
            raise ConfigurationError("The onnxruntime YuNet runtime needs the onnx and onnxruntime packages "
                                     "(pip install -r requirements.txt), or choose opencv")
    return key


class HaarDetector(_ScaledDetector):
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

    def detect_scaled(self, image: np.ndarray, scale: float) -> list[FaceBox]:
        """Faces found with the image resized by `scale` (boxes in the image's own coordinates)."""
        bgr = as_bgr(image)
        height, width = bgr.shape[:2]
        grey = cv2.equalizeHist(_resized(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), scale))
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


# The mosaic of `detect_in_regions`: regions side by side with a black gap between them, so that no
# face is found across two regions. Regions start on multiples of the network's largest stride, in
# the frame and in the mosaic, so the network sees a face at the same phase as in a full detection
# (a face found with score 0.61 in the frame is then found again, not lost to a shifted grid).
MOSAIC_GAP = 16
MOSAIC_ALIGN = 32


def _shelf_layout(sizes: list[tuple[int, int]]) -> tuple[list[tuple[int, int]], int, int]:
    """Places for rectangles (w, h) in rows ("shelves"), tallest first, at aligned positions: their
    top-left corners and the canvas size. A few row widths are tried; the smallest canvas wins."""
    area = sum((w + MOSAIC_GAP) * (h + MOSAIC_GAP) for w, h in sizes)
    widest = max(w for w, _ in sizes)
    order = sorted(range(len(sizes)), key=lambda i: -sizes[i][1])
    best = None
    for width in {widest, *(max(widest, int(math.sqrt(area) * f)) for f in (1.0, 1.3, 1.7, 2.5))}:
        places: list[tuple[int, int]] = [(0, 0)] * len(sizes)
        x = y = row_height = 0
        for i in order:
            w, h = sizes[i]
            if x and x + w > width:
                x, y, row_height = 0, _aligned_up(y + row_height + MOSAIC_GAP), 0
            places[i] = (x, y)
            x = _aligned_up(x + w + MOSAIC_GAP)
            row_height = max(row_height, h)
        canvas_w = _aligned_up(max(px + sizes[i][0] for i, (px, _) in enumerate(places)))
        canvas_h = _aligned_up(max(py + sizes[i][1] for i, (_, py) in enumerate(places)))
        if best is None or canvas_w * canvas_h < best[1] * best[2]:
            best = (places, canvas_w, canvas_h)
    return best


def _aligned_up(value: int) -> int:
    return -(-int(value) // MOSAIC_ALIGN) * MOSAIC_ALIGN


def detect_in_regions(detector, image: np.ndarray, regions: Sequence[tuple[int, int, int, int, float]]) -> list[FaceBox]:
    """Faces in some rectangles (x0, y0, x1, y1, scale) of one frame, found with ONE detector call.

    Each region is cut out, resized by its `scale` (the detector's own full-resolution factor makes
    the network see the same pixels a full detection would) and placed in a mosaic with black gaps;
    the detector runs on the mosaic, and each box is mapped back to the frame. A box centred in a
    gap is dropped. This is how the adaptive schedule re-checks every tracked face of a frame for
    the price of a small image, instead of the whole frame or one call per face."""
    bgr = as_bgr(image)
    height, width = bgr.shape[:2]
    cuts = []
    for x0, y0, x1, y1, scale in regions:
        step = MOSAIC_ALIGN / scale  # the largest stride, in frame pixels
        x0, y0 = int(max(0, x0) // step * step), int(max(0, y0) // step * step)
        # Whole strides wide and high: the slot in the mosaic is filled with the frame, not black.
        x1 = min(width, int(x0 + math.ceil((x1 - x0) / step) * step))
        y1 = min(height, int(y0 + math.ceil((y1 - y0) / step) * step))
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            cuts.append(((x0, y0, scale), _resized(bgr[y0:y1, x0:x1], scale)))
    if not cuts:
        return []
    places, canvas_w, canvas_h = _shelf_layout([(c.shape[1], c.shape[0]) for _, c in cuts])
    canvas = np.zeros((canvas_h, canvas_w, 3), np.uint8)
    for (px, py), (_, cut) in zip(places, cuts):
        canvas[py:py + cut.shape[0], px:px + cut.shape[1]] = cut
    found = []
    for box in detector.detect_scaled(canvas, 1.0):
        cx, cy = box.x + box.w / 2, box.y + box.h / 2
        for (px, py), ((x0, y0, scale), cut) in zip(places, cuts):
            if px <= cx < px + cut.shape[1] and py <= cy < py + cut.shape[0]:
                break
        else:
            continue  # centred in a gap
        # Canvas (u, v) -> frame: u = px + (x - x0) * scale.
        dx, dy = x0 - px / scale, y0 - py / scale
        clipped = _clip_box(box.x / scale + dx, box.y / scale + dy, box.w / scale, box.h / scale, width, height)
        if clipped is not None:
            landmarks = None if box.landmarks is None else tuple(
                (u / scale + dx, v / scale + dy) for u, v in box.landmarks)
            found.append(FaceBox(*clipped, score=box.score, landmarks=landmarks))
    return sorted(found, key=lambda b: (b.y, b.x))


def suppress_overlaps(boxes: Sequence[FaceBox], iou_threshold: float) -> list[FaceBox]:
    """One box per face when passes overlap (a downscaled frame and a tile): the most confident box
    of every group overlapping by more than `iou_threshold`, sorted top to bottom as `detect` sorts."""
    ordered = sorted(boxes, key=lambda b: -b.score)
    if len(ordered) < 2:
        return sorted(ordered, key=lambda b: (b.y, b.x))
    iou = iou_matrix(*(np.array([b.as_tuple() for b in ordered], float),) * 2)
    kept: list[int] = []
    for i in range(len(ordered)):
        if all(iou[i, j] <= iou_threshold for j in kept):
            kept.append(i)
    return sorted((ordered[i] for i in kept), key=lambda b: (b.y, b.x))


def supports_scaled_detection(detector) -> bool:
    """Whether a detector offers what the adaptive schedule needs (a test double may only `detect`)."""
    return callable(getattr(detector, "detect_scaled", None)) and callable(getattr(detector, "base_scale", None))


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
