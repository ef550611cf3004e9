"""Turning detector boxes into classifier input: square, grey, 48x48 crops framed like FER2013.

FER2013 faces are tight, centred, square crops: brows to chin fill most of the frame, with a
little margin at the sides. We measured how each detector's box sits inside real FER2013 images
(run the detector on 280 PublicTest faces enlarged to 32-384 px, with a margin, and take the
median box relative to the 48x48 frame):

- YuNet's box is about 0.76 of the FER frame wide and 0.96 high, its centre 2% of the frame below
  the frame's centre, for faces of 32-150 px as the detector sees them (faces above ~250 px get
  boxes up to 10% larger);
- Haar's box is square and 0.97 of the frame, centred.

So the crop is the square that box implies, which is what the classifier was trained on. FER's own
framing varies from face to face (its crops came from another detector): our square overlaps the
true FER frame by IoU ~0.75 in the median, as close as the detector box allows. Where the square
leaves the image, the part outside is filled by repeating the border pixels rather than squeezing
the face, so a face at the edge of a frame keeps its proportions.
"""
from __future__ import annotations

from typing import Iterable

import cv2
import numpy as np

from .errors import ConfigurationError, ImageReadError

FACE_SIZE = 48

# (box width / frame side, box height / frame side, box centre below the frame centre / side)
FRAMING = {
    "yunet": (0.76, 0.955, 0.022),
    "haar": (0.969, 0.969, 0.0),
}


def _box_fields(box) -> tuple[float, float, float, float, bool]:
    """(x, y, w, h, has_landmarks) from a FaceBox, a mapping or an (x, y, w, h[, ...]) sequence."""
    if hasattr(box, "x"):
        return float(box.x), float(box.y), float(box.w), float(box.h), getattr(box, "landmarks", None) is not None
    if isinstance(box, dict):
        return float(box["x"]), float(box["y"]), float(box["w"]), float(box["h"]), bool(box.get("landmarks"))
    x, y, w, h = box[:4]
    return float(x), float(y), float(w), float(h), False


def framing_for(box) -> str:
    """Which detector's framing applies: YuNet boxes carry landmarks and are taller than wide."""
    x, y, w, h, has_landmarks = _box_fields(box)
    if has_landmarks or (w > 0 and h / w > 1.12):
        return "yunet"
    return "haar"


def face_square(box, framing: str | None = None) -> tuple[float, float, float]:
    """The FER2013-style square (centre x, centre y, side) for a detector box."""
    x, y, w, h, _ = _box_fields(box)
    fw, fh, dy = FRAMING[framing or framing_for(box)]
    # Average the two estimates of the side: robust to a box that is a little too wide or tall.
    side = 0.5 * (w / fw + h / fh)
    return x + w / 2.0, y + h / 2.0 - dy * side, side


def to_grey(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise ImageReadError("The image is empty or not an image array")
    if image.dtype != np.uint8:
        raise ImageReadError(f"Images must be 8-bit, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
    raise ImageReadError(f"Images must be grey, BGR or BGRA, got shape {image.shape}")


def crop_square(grey: np.ndarray, cx: float, cy: float, side: float, size: int = FACE_SIZE) -> np.ndarray:
    """Cut the square (cx, cy, side) out of `grey`, clipped at the image border and padded by
    repeating edge pixels so the face is never stretched; resize to size x size."""
    height, width = grey.shape[:2]
    side = max(2.0, side)
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    x1, y1 = x0 + s, y0 + s
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if cx1 <= cx0 or cy1 <= cy0:  # entirely outside: nothing to show
        return np.zeros((size, size), np.uint8)
    patch = grey[cy0:cy1, cx0:cx1]
    if (cx0, cy0, cx1, cy1) != (x0, y0, x1, y1):
        patch = cv2.copyMakeBorder(patch, cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, cv2.BORDER_REPLICATE)
    interpolation = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(patch, (size, size), interpolation=interpolation)


def crop_faces(image: np.ndarray, boxes: Iterable, size: int = FACE_SIZE) -> np.ndarray:
    """Grey size x size crops, one per box, framed as FER2013 faces. Returns (N, size, size) uint8."""
    boxes = list(boxes)
    if not boxes:
        return np.zeros((0, size, size), np.uint8)
    grey = to_grey(image)  # converted once per frame, not once per face
    out = np.empty((len(boxes), size, size), np.uint8)
    for i, box in enumerate(boxes):
        cx, cy, side = face_square(box)
        out[i] = crop_square(grey, cx, cy, side, size)
    return out


# Faces in pre-cropped datasets fill the frame; detectors need some context around a face, so
# small images are enlarged and given a margin before detection.
_PRECROP_MIN_SIDE = 192
_PRECROP_MARGIN = 0.25


def _detect_in_precropped(grey: np.ndarray, detector) -> list:
    height, width = grey.shape[:2]
    scale = max(1.0, _PRECROP_MIN_SIDE / max(1, min(height, width)))
    work = grey if scale == 1.0 else cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    pad = int(round(_PRECROP_MARGIN * max(work.shape[:2])))
    work = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    boxes = detector.detect(cv2.cvtColor(work, cv2.COLOR_GRAY2BGR))
    mapped = []
    for b in boxes:
        x, y, w, h = (b.x - pad) / scale, (b.y - pad) / scale, b.w / scale, b.h / scale
        # A "face" found in the repeated margin is an artefact of the padding.
        cx, cy = x + w / 2, y + h / 2
        if not (0 <= cx < width and 0 <= cy < height):
            continue
        landmarks = None if b.landmarks is None else tuple(((px - pad) / scale, (py - pad) / scale)
                                                           for px, py in b.landmarks)
        mapped.append(type(b)(x=x, y=y, w=w, h=h, score=b.score, landmarks=landmarks))
    return mapped


# Images this small are already crops at the classifier's resolution (FER2013 itself): a
# detector box on them only adds jitter and resampling, so they are used whole.
SMALL_IMAGE_FACTOR = 1.5


def crop_face_or_whole(grey: np.ndarray, detector, size: int = FACE_SIZE) -> np.ndarray:
    """For datasets of faces that are already cropped (UTKFace chips, JAFFE portraits, FER2013).

    The most confident detected face, framed as FER2013; or the whole image, resized, when the
    detector finds no face (the image is the face) or the image is no bigger than 1.5 x size.
    """
    grey = to_grey(grey)
    height, width = grey.shape[:2]
    if detector is not None and max(height, width) > SMALL_IMAGE_FACTOR * size:
        boxes = _detect_in_precropped(grey, detector)
        if boxes:
            best = max(boxes, key=lambda b: (b.score, b.w * b.h))
            cx, cy, side = face_square(best)
            return crop_square(grey, cx, cy, side, size)
    interpolation = cv2.INTER_AREA if max(height, width) > size else cv2.INTER_LINEAR
    return cv2.resize(grey, (size, size), interpolation=interpolation)


# --- Faces for evaluations and audits ---------------------------------------------------------------

FACE_MODES = ("auto", "detect", "whole")
# In "auto" face mode, images no larger than this are taken as already-cropped faces (FER2013 is
# 48x48): a detector cannot find a face that fills the whole frame, and cropping again would cut it.
AUTO_WHOLE_MAX_SIDE = 64


class CountingDetector:
    """Passes detection through and remembers whether the last call found a face, so an audit can
    say how many images the detector cropped and how many were used whole."""

    def __init__(self, detector):
        self._detector = detector
        self.name = detector.name
        self.found = 0

    def detect(self, image):
        boxes = self._detector.detect(image)
        self.found = len(boxes)
        return boxes


def face_cropper(mode: str, detector, stats: dict, size: int = FACE_SIZE):
    """`grey -> grey face` for a dataset reader, as production crops: the most confident face
    framed as FER2013 (`crop_face_or_whole` with `detector`), or the whole image when none is found
    (it is the face). Mode "whole" never detects (`detector` may be None); "auto" uses small images
    whole. Counts into `stats` (mode, detector, cropped_by_detector, whole_image)."""
    if mode not in FACE_MODES:
        raise ConfigurationError(f"Face mode must be one of {', '.join(FACE_MODES)}")
    stats.update(mode=mode, detector=None, cropped_by_detector=0, whole_image=0)
    if mode == "whole":
        def whole(grey: np.ndarray) -> np.ndarray:
            stats["whole_image"] += 1
            return grey
        return whole
    counting = CountingDetector(detector)
    stats["detector"] = counting.name

    def crop(grey: np.ndarray) -> np.ndarray:
        if mode == "auto" and max(grey.shape[:2]) <= AUTO_WHOLE_MAX_SIDE:
            stats["whole_image"] += 1
            return grey
        counting.found = 0
        face = crop_face_or_whole(grey, counting, size=size)
        stats["cropped_by_detector" if counting.found else "whole_image"] += 1
        return face
    return crop
