"""A photo scored in one go: every face's box, seven probabilities and top emotion, the crowd's shares,
and (on request) the photo annotated with faces blurred. Runs in the live worker, which holds the model."""
from __future__ import annotations

import base64

import cv2
import numpy as np

from emo7ion_site.plotting import EMOTION_COLOURS
from ml.engine.labels import EMOTIONS

from ..inference import EngineConfig, decode_image
from .recorder import shares_of

ANNOTATED_MAX_SIDE = 1280


def _bgr(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def annotated_jpeg(image: np.ndarray, faces, *, blur: bool = True) -> str:
    """The photo with each face blurred (when asked) and boxed in its emotion's colour, as a data: URL."""
    out = image.copy()
    thickness = max(2, round(max(out.shape[:2]) / 400))
    for face in faces:
        x, y, w, h = face.box
        if blur and w > 1 and h > 1:
            k = max(3, (max(w, h) // 3) | 1)
            out[y:y + h, x:x + w] = cv2.GaussianBlur(out[y:y + h, x:x + w], (k, k), 0)
        colour = _bgr(EMOTION_COLOURS[face.emotion])
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        cv2.putText(out, face.emotion, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, max(0.4, w / 160), colour,
                    max(1, thickness - 1), cv2.LINE_AA)
    scale = ANNOTATED_MAX_SIDE / max(out.shape[:2])
    if scale < 1:
        out = cv2.resize(out, (int(out.shape[1] * scale), int(out.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    ok, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode() if ok else ""


def score_photo(analyser, config: EngineConfig, data: bytes, *, annotate: bool = False, blur: bool = True) -> dict:
    """The answer of POST /api/v1/images/ (raises inference.FrameDecodeError for bytes that are no image)."""
    image = decode_image(data)
    found = analyser.analyse(config, None, 0.0, image, 0)
    faces = sorted(found.faces, key=lambda f: (f.box[1] // 40, f.box[0]))  # reading order: rows, then left to right
    answer = {
        "width": found.width, "height": found.height, "face_count": len(faces), "labels": list(EMOTIONS),
        "faces": [{"box": {"x": f.box[0], "y": f.box[1], "w": f.box[2], "h": f.box[3]},
                   "detector_score": round(f.score, 4), "emotion": f.emotion,
                   "probabilities": dict(zip(EMOTIONS, f.probs))} for f in faces],
        "emotion_shares": shares_of(f.emotion for f in faces),
        "detector": config.detector, "seconds": round(found.seconds, 3),
    }
    if annotate:
        answer["annotated_image"] = annotated_jpeg(image, faces, blur=blur)
    return answer
