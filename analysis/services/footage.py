"""Footage: store an upload, validate it by its content, and record every refusal with its reason."""
from __future__ import annotations

import logging
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.template.defaultfilters import filesizeformat
from PIL import Image

from ml.engine.errors import VideoReadError
from ml.engine.video import probe_media

from .. import media
from ..models import Footage, Project

log = logging.getLogger(__name__)


def footage_reject(*, footage: Footage, reason: str) -> Footage:
    """Mark footage rejected with a reason a person can act on (the record stays)."""
    footage.status = Footage.Status.REJECTED
    footage.rejection_reason = reason
    footage.save(update_fields=["status", "rejection_reason"])
    log.info("Footage %s rejected: %s", footage.pk, reason)
    return footage


def _size_limit_reason(size: int) -> str | None:
    limit = settings.EMO7ION_MAX_UPLOAD_BYTES
    if size > limit:
        return f"The file is {filesizeformat(size)}; the largest file this site accepts is {filesizeformat(limit)}."
    return None


def _footage_record(project: Project, name: str, size_bytes: int | None, uploaded_by) -> Footage:
    original_name = Path(name or "upload").name[:255] or "upload"
    return Footage.objects.create(project=project, original_name=original_name, uploaded_by=uploaded_by,
                                  status=Footage.Status.UPLOADING, size_bytes=size_bytes)


def footage_record_oversized_upload(*, project: Project, original_name: str, size_bytes: int,
                                    uploaded_by) -> Footage:
    """An upload the size limit stopped before storing any of it (emo7ion_site.uploads): recorded
    as rejected, with the reason, like every other refused upload."""
    footage = _footage_record(project, original_name, size_bytes, uploaded_by)
    # The handler stops only bodies over the limit, so there is always a reason.
    return footage_reject(footage=footage, reason=_size_limit_reason(size_bytes))


def footage_create_from_upload(*, project: Project, uploaded_file, uploaded_by) -> Footage:
    """Store an uploaded file under the organisation's prefix, then validate it by content.

    The Footage row is created first and kept whatever happens, so a rejected upload is
    recorded with its reason instead of vanishing. `uploaded_file` is any Django File
    (an UploadedFile from a form, or File(open(path, "rb")) from the command line).
    """
    footage = _footage_record(project, getattr(uploaded_file, "name", ""), uploaded_file.size, uploaded_by)
    reason = _size_limit_reason(uploaded_file.size or 0)
    if reason:
        return footage_reject(footage=footage, reason=reason)
    original_name = footage.original_name
    # A random prefix keeps keys unguessable and lets two uploads share a name.
    key_name = f"{secrets.token_hex(6)}-{default_storage.get_valid_name(original_name)}"
    try:
        footage.file.save(key_name, uploaded_file, save=False)
    except Exception as exc:  # storage down, disk full: the person should hear it, the record remains
        log.exception("Storing footage %s failed", footage.pk)
        return footage_reject(footage=footage,
                              reason=f"The file could not be stored ({type(exc).__name__}); please try again.")
    footage.save(update_fields=["file"])
    return footage_validate_stored(footage=footage)


def footage_validate_stored(*, footage: Footage) -> Footage:
    """Read the stored object, record its sha256 and size, probe it by content and mark it
    `ready` or `rejected` with a reason a person understands. The direct-to-S3 upload flow
    calls this when the client says the upload is complete."""
    if not footage.file:
        return footage_reject(footage=footage, reason="No file was received for this footage.")
    try:
        copy = media.local_copy_of_new(footage.file.name)
    except media.StoredFileMissing:
        return footage_reject(footage=footage,
                              reason="The upload did not arrive in storage; please upload the file again.")
    footage.sha256, footage.size_bytes = copy.sha256, copy.size_bytes
    footage.save(update_fields=["sha256", "size_bytes"])
    reason = _size_limit_reason(copy.size_bytes)
    if reason:
        return footage_reject(footage=footage, reason=reason)
    if copy.size_bytes == 0:
        return footage_reject(footage=footage, reason=f"{footage.original_name} is empty (0 bytes).")
    reason = _image_refusal(image_header(copy.path), footage.original_name)
    if reason:
        return footage_reject(footage=footage, reason=reason)
    try:
        info = probe_media(copy.path)
    except VideoReadError as exc:
        # The engine names the cache file; the person knows their file by its own name.
        return footage_reject(footage=footage, reason=str(exc).replace(copy.path.name, footage.original_name))
    except Exception as exc:  # OpenCV can raise its own errors on hostile input
        log.exception("Probing footage %s failed", footage.pk)
        return footage_reject(footage=footage, reason=f"{footage.original_name} could not be read as a video or "
                                                      f"image ({type(exc).__name__}).")
    footage.kind = Footage.Kind.IMAGE if info.kind == "image" else Footage.Kind.VIDEO
    footage.fps, footage.frame_count, footage.duration_s = info.fps, info.frame_count, info.duration_s
    footage.width, footage.height = info.width, info.height
    footage.status, footage.rejection_reason = Footage.Status.READY, ""
    footage.save(update_fields=["kind", "fps", "frame_count", "duration_s", "width", "height", "status",
                                "rejection_reason"])
    return footage


# --- Images: checked from their header, before anything is decoded -----------------------------------

# Formats whose animations OpenCV would read as one still image (their first frame), silently.
ANIMATED_FORMATS = {"GIF", "PNG", "WEBP"}


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    animated: bool


def image_header(path) -> ImageHeader | None:
    """What an image file's header declares (format, size, animation), with no pixels decoded; None
    when the file is not an image Pillow knows. Pillow's own `Image.open` refuses very large sizes
    without saying what they are, so each format's reader is asked directly, as `open` itself does."""
    Image.init()
    with open(path, "rb") as fh:
        prefix = fh.read(16)
        for name in list(Image.ID):
            factory, accept = Image.OPEN[name]
            # Formats with no signature to check (TGA, IM...) are guesses that a video could pass for, and
            # not images OpenCV reads anyway: only formats that recognise their own first bytes count.
            recognised = accept(prefix) if accept else False
            if not recognised or isinstance(recognised, str):  # a string is Pillow's "not quite" warning
                continue
            fh.seek(0)
            try:
                image = factory(fh, str(path))
                width, height = image.size
                animated = name in ANIMATED_FORMATS and bool(getattr(image, "is_animated", False))
            except (SyntaxError, IndexError, TypeError, ValueError, OSError, EOFError, struct.error):
                continue  # not this format after all, or a header too broken to read: OpenCV will say
            return ImageHeader(format=name, width=int(width), height=int(height), animated=animated)
    return None


def _image_refusal(header: ImageHeader | None, original_name: str) -> str | None:
    if header is None:
        return None
    limit = settings.EMO7ION_MAX_IMAGE_PIXELS
    pixels = header.width * header.height
    if pixels > limit:
        return (f"{original_name} is a {header.width:,}×{header.height:,}-pixel image ({pixels / 1e6:,.0f} "
                f"megapixels); the largest image this site analyses has {limit / 1e6:,.0f} megapixels. "
                "Scale it down and upload it again.")
    if header.animated:
        return (f"{original_name} is an animated image ({header.format}). Animated images are not analysed: "
                "only their first frame would be. Convert it to a video (e.g. MP4) to analyse every frame, "
                "or upload one frame as a still image.")
    return None
