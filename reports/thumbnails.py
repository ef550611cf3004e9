"""Key-moment thumbnails: one frame of the footage with its face boxes drawn, faces blurred when the
organisation asks for it (the default). Blurring covers the analysis' boxes and every face the
platform's detector finds in the frame again, so a face the analysis skipped is not shown either.

Rendered by the worker that finalizes the analysis (reports.receivers -> services.moment_thumbnails_render),
from the footage file (the local file, or the local copy of the stored object kept in EMO7ION_CACHE_DIR
keyed by sha256, see analysis.media), and stored in the default storage beside the organisation's other
objects (`thumbnail_key`). The blur setting is part of the key: turning blurring on never serves an
unblurred copy. A page request only reads the stored JPEG (`stored_thumbnail`): it never decodes video,
downloads footage or runs the detector. A thumbnail that is not stored is shown as a placeholder.
When retention deletes the raw footage, its thumbnails go too (receivers.on_footage_file_deleted).
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils.html import escape

from analysis import media
from analysis.models import Analysis, Footage
from emo7ion_site.plotting import EMOTION_COLOURS
from ml import runtime

from .selectors import frame_observations

log = logging.getLogger(__name__)

THUMBNAIL_MAX_WIDTH = 640
JPEG_QUALITY = 82


class FootageUnavailable(Exception):
    """The frame cannot be read: the raw footage was deleted (retention) or is missing. The message
    is written for the person reading the report."""


# --------------------------------------------------------------------------- pure image work

def _bgr(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return b, g, r


def _clip_box(x: int, y: int, w: int, h: int, width: int, height: int, pad: float = 0.0):
    px, py = int(round(w * pad)), int(round(h * pad))
    x0, y0 = max(0, x - px), max(0, y - py)
    x1, y1 = min(width, x + w + px), min(height, y + h + py)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def blur_faces(frame: np.ndarray, boxes: list[dict], pad: float = 0.15) -> np.ndarray:
    """Pixelate then blur each face box (padded a little so hair and jaw go too): a plain Gaussian
    blur of a small face can leave it recognisable; a few coarse blocks cannot."""
    out = frame.copy()
    height, width = out.shape[:2]
    for b in boxes:
        box = _clip_box(int(b["x"]), int(b["y"]), int(b["w"]), int(b["h"]), width, height, pad)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        region = out[y0:y1, x0:x1]
        bw, bh = x1 - x0, y1 - y0
        blocks = max(1, min(6, bw // 2, bh // 2))
        small = cv2.resize(region, (blocks, max(1, int(round(blocks * bh / bw)))), interpolation=cv2.INTER_AREA)
        coarse = cv2.resize(small, (bw, bh), interpolation=cv2.INTER_LINEAR)
        k = max(3, (min(bw, bh) // 3) | 1)
        out[y0:y1, x0:x1] = cv2.GaussianBlur(coarse, (k, k), 0)
    return out


def _label_ink(bgr: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white text, whichever reads better on the emotion's colour."""
    b, g, r = bgr
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def draw_boxes(frame: np.ndarray, boxes: list[dict], scale: float = 1.0) -> np.ndarray:
    """Face boxes in their top emotion's colour (the report's palette), labelled when there is room."""
    out = frame.copy()
    thickness = max(2, int(round(out.shape[1] / 240)))
    font_scale = max(0.45, out.shape[1] / 1100)
    for b in boxes:
        x, y = int(round(b["x"] * scale)), int(round(b["y"] * scale))
        w, h = int(round(b["w"] * scale)), int(round(b["h"] * scale))
        colour = _bgr(EMOTION_COLOURS.get(b.get("top_emotion") or "", "#ffffff"))
        cv2.rectangle(out, (x, y), (x + w, y + h), (0, 0, 0), thickness + 2)  # dark halo: visible on any background
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, thickness)
        label = b.get("top_emotion")
        (tw, th), base = cv2.getTextSize(label or "", cv2.FONT_HERSHEY_SIMPLEX, font_scale, 1)
        if label and w >= tw * 0.8:
            ty = y - 4 if y - th - 8 > 0 else y + h + th + 4
            cv2.rectangle(out, (x - thickness // 2, ty - th - 4), (x + tw + 6, ty + base), colour, -1)
            cv2.putText(out, label, (x + 3, ty - 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, _label_ink(colour), 1,
                        cv2.LINE_AA)
    return out


def read_frame(path: str | Path, *, frame_index: int, t: float | None = None, is_image: bool = False) -> np.ndarray:
    """The BGR frame at `frame_index` of a video (or the still image itself)."""
    path = str(path)
    if is_image:
        data = np.fromfile(path, dtype=np.uint8)
        frame = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        if frame is None:
            raise FootageUnavailable("The footage image could not be decoded.")
        return frame
    cap = cv2.VideoCapture(path)
    try:
        if not cap.isOpened():
            raise FootageUnavailable("The footage file could not be opened.")
        cap.set(cv2.CAP_PROP_POS_FRAMES, int(frame_index))
        ok, frame = cap.read()
        if (not ok or frame is None) and t is not None:
            # Some containers seek by time more reliably than by frame number.
            cap.set(cv2.CAP_PROP_POS_MSEC, float(t) * 1000.0)
            ok, frame = cap.read()
        if not ok or frame is None:
            raise FootageUnavailable(f"Frame {frame_index} could not be read from the footage.")
        return frame
    finally:
        cap.release()


def render_thumbnail(frame: np.ndarray, boxes: list[dict], *, blur: bool, extra_faces: list[dict] | None = None,
                     max_width: int = THUMBNAIL_MAX_WIDTH) -> bytes:
    """Blur (at full resolution, so nothing sharp survives the resize), shrink, draw boxes, encode JPEG.
    `boxes` are the analysis' observations (blurred and drawn); `extra_faces` are only blurred."""
    if blur:
        frame = blur_faces(frame, list(boxes) + list(extra_faces or []))
    scale = min(1.0, max_width / frame.shape[1])
    if scale < 1.0:
        frame = cv2.resize(frame, (int(round(frame.shape[1] * scale)), int(round(frame.shape[0] * scale))),
                           interpolation=cv2.INTER_AREA)
    frame = draw_boxes(frame, boxes, scale)
    ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise FootageUnavailable("The thumbnail could not be encoded.")
    return buf.tobytes()


# --------------------------------------------------------------------------- footage access

def footage_unavailable_reason(footage: Footage) -> str | None:
    """Why frames of this footage cannot be shown, in words for the report; None when they can.
    Reads the footage row only (no storage call), so a page may ask."""
    if footage.file_deleted_at:
        return (f"The raw footage was deleted on {footage.file_deleted_at:%d %b %Y} by the organisation's "
                "retention policy; the aggregates in this report remain, frame thumbnails do not.")
    if not footage.file:
        return "The raw footage is not stored, so no frame thumbnails can be shown."
    return None


def local_footage_path(footage: Footage) -> Path:
    """A local path to the footage: the stored file itself, or the sha256-keyed local copy the segment
    tasks also read (analysis.media), fetched from remote storage at most once."""
    reason = footage_unavailable_reason(footage)
    if reason:
        raise FootageUnavailable(reason)
    try:
        return media.local_path_for(footage)
    except media.StoredFileMissing as exc:
        log.warning("footage %s unavailable for thumbnails: %s", footage.pk, exc)
        raise FootageUnavailable("The raw footage file is missing from storage, so no frame thumbnails "
                                 "can be shown.") from exc


def detect_faces_to_blur(frame: np.ndarray) -> list[dict]:
    """Faces the analysis did not keep (too small, low score, missed in that frame) are still faces:
    run the platform's detector on the frame once more so that blurring covers them too."""
    try:
        return [{"x": f.x, "y": f.y, "w": f.w, "h": f.h} for f in runtime.get_detector().detect(frame)]
    except Exception as exc:  # a detector that cannot load must not cost the report its thumbnail
        log.warning("no extra face detection for blurring: %s", exc)
        return []


# --------------------------------------------------------------------------- stored thumbnails

def thumbnail_folder(analysis: Analysis) -> str:
    project = analysis.footage.project
    return f"org-{project.organisation_id}/project-{project.pk}/thumbnails/analysis-{analysis.pk}"


def thumbnail_key(analysis: Analysis, frame_index: int, blur: bool) -> str:
    return f"{thumbnail_folder(analysis)}/frame-{int(frame_index)}-{'blurred' if blur else 'clear'}.jpg"


def _blur(analysis: Analysis) -> bool:
    return analysis.footage.project.organisation.blur_faces


def moment_thumbnail(*, analysis: Analysis, frame_index: int) -> bytes:
    """The JPEG of one frame with its boxes: the stored one, or rendered and stored now (worker side)."""
    footage = analysis.footage
    reason = footage_unavailable_reason(footage)
    if reason:
        raise FootageUnavailable(reason)
    blur = _blur(analysis)
    key = thumbnail_key(analysis, frame_index, blur)
    if default_storage.exists(key):
        with default_storage.open(key, "rb") as fh:
            return fh.read()
    boxes = frame_observations(analysis=analysis, frame_index=frame_index)
    t = boxes[0]["t"] if boxes else None
    frame = read_frame(local_footage_path(footage), frame_index=frame_index, t=t,
                       is_image=footage.kind == Footage.Kind.IMAGE)
    data = render_thumbnail(frame, boxes, blur=blur, extra_faces=detect_faces_to_blur(frame) if blur else None)
    try:
        default_storage.save(key, ContentFile(data))
    except OSError as exc:  # a store that cannot be written costs the report a thumbnail, not the worker
        log.warning("could not store thumbnail %s: %s", key, exc)
    return data


def stored_thumbnail(*, analysis: Analysis, frame_index: int) -> bytes | None:
    """The stored JPEG for the organisation's current blur setting, or None when none was stored
    (rendering failed, or blurring was switched since): reads one small object, renders nothing."""
    try:
        with default_storage.open(thumbnail_key(analysis, frame_index, _blur(analysis)), "rb") as fh:
            return fh.read()
    except (FileNotFoundError, OSError):
        return None


def placeholder_svg(text: str) -> bytes:
    """What an <img> shows when there is no stored frame: a grey 16:9 card with a short reason."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360" viewBox="0 0 640 360">'
            f'<rect width="640" height="360" fill="#eceef3"/>'
            f'<text x="320" y="186" font-family="system-ui, sans-serif" font-size="20" fill="#5b6475" '
            f'text-anchor="middle">{escape(text)}</text></svg>').encode()


def thumbnails_delete(*, analysis: Analysis) -> int:
    """Remove an analysis' stored thumbnails."""
    folder = thumbnail_folder(analysis)
    try:
        _, files = default_storage.listdir(folder)
    except (FileNotFoundError, OSError):
        return 0
    for name in files:
        default_storage.delete(f"{folder}/{name}")
    return len(files)


def footage_thumbnails_delete(*, footage: Footage) -> int:
    """Remove the stored thumbnails of every analysis of a footage, so no frame of it outlives the raw file."""
    return sum(thumbnails_delete(analysis=a) for a in footage.analyses.select_related("footage__project"))
