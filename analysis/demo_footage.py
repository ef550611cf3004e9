"""Demo footage that exists on a fresh machine, without ../shared and without a download.

scikit-image ships a subset of Labeled Faces in the Wild inside its wheel
(`skimage.data.lfw_subset()`: 100 grey 25x25 face crops, then 100 non-face patches). We lay
the 42 first faces out as a "crowd" of three rows, enlarge them and pan a 640x480 camera across
them for 14 s at 10 fps, written with OpenCV's own mp4 encoder. Faces enter and leave the
frame, so the demo shows tracking, a changing crowd size and an emotion timeline.
"""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

WIDTH, HEIGHT, FPS, SECONDS = 640, 480, 10, 14
FACES, ROWS, FACE_PX, GAP_PX = 42, 3, 112, 44


def _face_tile(face01: np.ndarray) -> np.ndarray:
    img = np.clip(face01 * 255.0, 0, 255).astype(np.uint8)
    big = cv2.resize(img, (FACE_PX, FACE_PX), interpolation=cv2.INTER_CUBIC)
    # Replicating the border gives the detectors the forehead/chin context a tight crop lacks.
    pad = GAP_PX // 2
    return cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)


def crowd_canvas() -> np.ndarray:
    from skimage.data import lfw_subset

    faces = lfw_subset()[:FACES]  # the first 100 are faces; the rest are not
    tile = FACE_PX + GAP_PX
    cols = math.ceil(FACES / ROWS)
    canvas = np.full((ROWS * tile, cols * tile + WIDTH), 200, np.uint8)
    for i, face in enumerate(faces):
        r, c = divmod(i, cols)
        x = WIDTH // 2 + c * tile + (tile // 2 if r % 2 else 0)  # staggered rows, like a crowd
        canvas[r * tile:(r + 1) * tile, x:x + tile] = _face_tile(face)[:, : max(0, min(tile, canvas.shape[1] - x))]
    return canvas


def build_demo_footage(path: str | Path) -> Path:
    """Write the demo clip to `path` (an .mp4) unless it is already there; return the path."""
    path = Path(path)
    if path.is_file() and path.stat().st_size > 0:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    canvas = crowd_canvas()
    top = (HEIGHT - canvas.shape[0]) // 2
    frames = FPS * SECONDS
    travel = canvas.shape[1] - WIDTH
    tmp = path.with_suffix(".part.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4 files on this machine (no mp4v encoder)")
    try:
        for i in range(frames):
            x = int(round(travel * i / (frames - 1)))
            frame = np.full((HEIGHT, WIDTH), 200, np.uint8)
            frame[top:top + canvas.shape[0]] = canvas[:, x:x + WIDTH]
            writer.write(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    finally:
        writer.release()
    tmp.replace(path)
    return path
