"""Direct uploads: the file goes from the client straight to storage, not through a web process.

With S3 storage the server hands out a presigned POST (one request, up to
EMO7ION_MULTIPART_THRESHOLD bytes) or presigned multipart part URLs (bigger files, up to
EMO7ION_MAX_UPLOAD_BYTES); the client sends the bytes to S3 and then calls complete, and the
server validates what actually arrived (`analysis.services.footage_validate_stored`).

With local storage there is no storage endpoint a client could reach, so the plan says so and
points at a chunked upload to this server instead (PUT with Content-Range to the `content`
URL). Either way the Footage row exists from the start with status "uploading".
"""
from __future__ import annotations

import math
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from botocore.exceptions import ClientError
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import get_valid_filename

from emo7ion_site.uploads import size_limit_message

from .models import Footage, Project, footage_upload_to
from .services import footage_reject, footage_validate_stored

S3_MIN_PART_BYTES = 5 * 1024 ** 2        # S3's minimum for every part but the last
S3_MAX_PARTS = 10_000
PRESIGN_EXPIRY_S = 3600


def multipart_threshold() -> int:
    return settings.EMO7ION_MULTIPART_THRESHOLD


def multipart_part_bytes() -> int:
    return max(settings.EMO7ION_MULTIPART_PART_BYTES, S3_MIN_PART_BYTES)


def server_chunk_bytes() -> int:
    return settings.EMO7ION_UPLOAD_CHUNK_BYTES


def storage_of(footage: Footage):
    return footage.file.storage


def is_s3(storage) -> bool:
    return hasattr(storage, "bucket_name") and hasattr(storage, "connection")


def _s3_client(storage):
    return storage.connection.meta.client


def _s3_key(storage, name: str) -> str:
    from storages.utils import clean_name
    return storage._normalize_name(clean_name(name))


@dataclass
class UploadPlan:
    """What the client does next. `strategy` is one of:
    - "s3_post": POST a multipart form with `fields` and then the file (as `file`, last) to `url`;
    - "s3_multipart": PUT each part's bytes to its URL, keep each answer's ETag header;
    - "server": PUT the bytes to `url`, in chunks with `Content-Range: bytes a-b/total`.
    Then POST to the complete URL."""

    strategy: str
    url: str = ""
    fields: dict = field(default_factory=dict)
    upload_id: str = ""
    part_size: int = 0
    parts: list = field(default_factory=list)
    chunk_size: int = 0
    expires_in: int = 0
    detail: str = ""


def _clean_filename(filename: str) -> str:
    base = os.path.basename(str(filename or "").replace("\\", "/")).strip()
    try:
        name = get_valid_filename(base)
    except Exception:  # get_valid_filename refuses names like "." or ".."
        name = ""
    if not name:
        raise ValidationError({"filename": ["Give the file's name, e.g. \"event.mp4\"."]})
    stem, ext = os.path.splitext(name)
    return stem[:100] + ext[:12]


def _check_size(size_bytes) -> int:
    limit = settings.EMO7ION_MAX_UPLOAD_BYTES
    if size_bytes is None or int(size_bytes) <= 0:
        raise ValidationError({"size_bytes": ["Give the file's size in bytes (more than 0)."]})
    if int(size_bytes) > limit:
        raise ValidationError({"size_bytes": [size_limit_message(int(size_bytes))]})
    return int(size_bytes)


def direct_upload_start(*, project: Project, filename: str, size_bytes: int, content_type: str = "",
                        uploaded_by, content_url_for=None) -> tuple[Footage, UploadPlan]:
    """Create the Footage row (status uploading) and say how to send its bytes.
    `content_url_for(footage)` gives the server's chunk URL for the local-storage fallback."""
    filename = _clean_filename(filename)
    size_bytes = _check_size(size_bytes)
    footage = Footage.objects.create(project=project, original_name=filename, size_bytes=size_bytes,
                                     status=Footage.Status.UPLOADING, uploaded_by=uploaded_by)
    # A random part in the key: two uploads of "clip.mp4" never overwrite each other.
    name = footage_upload_to(footage, f"{secrets.token_hex(6)}-{filename}")
    footage.file.name = name
    footage.save(update_fields=["file"])
    storage = storage_of(footage)
    if not is_s3(storage):
        plan = UploadPlan(
            strategy="server", url=content_url_for(footage) if content_url_for else "",
            chunk_size=server_chunk_bytes(),
            detail=("Storage is local (no S3 bucket is configured), so there is no storage URL to upload to "
                    "directly. PUT the file's bytes to `url` instead, in chunks of at most `chunk_size` bytes, "
                    "each with a `Content-Range: bytes <first>-<last>/<total>` header, then POST to complete."))
        return footage, plan

    client, bucket, key = _s3_client(storage), storage.bucket_name, _s3_key(storage, name)
    content_type = content_type or "application/octet-stream"

    if size_bytes <= multipart_threshold():
        post = client.generate_presigned_post(
            Bucket=bucket, Key=key, Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type},
                        ["content-length-range", 1, settings.EMO7ION_MAX_UPLOAD_BYTES]],
            ExpiresIn=PRESIGN_EXPIRY_S)
        return footage, UploadPlan(
            strategy="s3_post", url=post["url"], fields=post["fields"], expires_in=PRESIGN_EXPIRY_S,
            detail="POST a multipart form to `url` with every entry of `fields`, then the file as `file` "
                   "(last), then POST to complete.")

    part_size = max(multipart_part_bytes(), math.ceil(size_bytes / S3_MAX_PARTS))
    count = math.ceil(size_bytes / part_size)
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)["UploadId"]
    parts = [{"part_number": n, "size": min(part_size, size_bytes - (n - 1) * part_size),
              "url": client.generate_presigned_url(
                  "upload_part", Params={"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": n},
                  ExpiresIn=PRESIGN_EXPIRY_S)}
             for n in range(1, count + 1)]
    return footage, UploadPlan(
        strategy="s3_multipart", upload_id=upload_id, part_size=part_size, parts=parts,
        expires_in=PRESIGN_EXPIRY_S,
        detail="PUT each part's bytes to its `url` and keep the ETag header of each answer; then POST to "
               "complete with `upload_id` (and optionally `parts`: [{part_number, etag}]).")


# --- The server fallback: chunks appended to a partial file -------------------------------------------


def partial_path(footage: Footage) -> Path:
    """Local storage only: chunks are appended straight to the file's final place. Nothing reads
    it before complete, because the footage stays "uploading" until then."""
    return Path(storage_of(footage).path(footage.file.name))


def parse_content_range(header: str | None, body_length: int) -> tuple[int, int | None]:
    """(first byte offset, total size or None) from `bytes a-b/total`; no header means one whole body."""
    if not header:
        return 0, body_length
    try:
        unit, _, spec = header.strip().partition(" ")
        span, _, total = spec.partition("/")
        first, _, last = span.partition("-")
        first, last = int(first), int(last)
        total_size = None if total.strip() == "*" else int(total)
    except ValueError:
        raise ValidationError({"Content-Range": [f"Cannot read “{header}”; expected e.g. “bytes 0-1048575/5000000”."]})
    if unit != "bytes" or last < first or last - first + 1 != body_length:
        raise ValidationError({"Content-Range": [
            f"“{header}” does not match the {body_length:,} bytes sent."]})
    return first, total_size


def footage_upload_chunk(*, footage: Footage, stream, content_length: int, content_range: str | None) -> int:
    """Append one chunk at its offset. Chunks must come in order: a chunk that starts anywhere but
    at the bytes received so far is refused, and the answer says where to resume. Returns bytes received."""
    if footage.status != Footage.Status.UPLOADING:
        raise ValidationError({"detail": [f"This footage is already {footage.status}; upload a new one."]})
    if is_s3(storage_of(footage)):
        raise ValidationError({"detail": ["Storage is S3: send the bytes to the presigned URL instead."]})
    if content_length <= 0:
        raise ValidationError({"detail": ["The request has no body: send the file's bytes."]})
    if content_length > server_chunk_bytes():
        raise ValidationError({"detail": [f"Chunks are at most {server_chunk_bytes():,} bytes."]})
    first, total = parse_content_range(content_range, content_length)
    limit = settings.EMO7ION_MAX_UPLOAD_BYTES
    if (total or 0) > limit or first + content_length > limit:
        raise ValidationError({"detail": [f"The file is over the limit of {limit:,} bytes (EMO7ION_MAX_UPLOAD_BYTES)."]})
    if not footage.file.name:
        raise ValidationError({"detail": ["This footage was not started as a chunked upload."]})
    path = partial_path(footage)
    path.parent.mkdir(parents=True, exist_ok=True)
    received = path.stat().st_size if path.exists() else 0
    if first != received:
        raise ValidationError({"Content-Range": [f"Expected the chunk that starts at byte {received:,} "
                                                 f"(received so far); this one starts at {first:,}."]})
    data = stream.read(content_length)
    if len(data) != content_length:
        raise ValidationError({"detail": ["The chunk ended early; send it again."]})
    with open(path, "ab") as fh:
        fh.write(data)
    return received + content_length


# --- Complete ---------------------------------------------------------------------------------------------


def direct_upload_complete(*, footage: Footage, upload_id: str = "", parts: list | None = None) -> Footage:
    """The client says the bytes are in place: gather them (finish the multipart upload, or move
    the server-side partial file into storage) and validate the stored file by its content.
    Completing footage that is no longer uploading changes nothing (a retried request is safe)."""
    if footage.status != Footage.Status.UPLOADING:
        return footage
    storage = storage_of(footage)
    limit = settings.EMO7ION_MAX_UPLOAD_BYTES
    if is_s3(storage):
        if not footage.file.name:
            raise ValidationError({"detail": ["This upload was not started as a direct upload to S3."]})
        client, bucket, key = _s3_client(storage), storage.bucket_name, _s3_key(storage, footage.file.name)
        if upload_id:
            _complete_multipart(client, bucket, key, upload_id, parts)
        try:
            size = client.head_object(Bucket=bucket, Key=key)["ContentLength"]
        except ClientError:
            raise ValidationError({"detail": ["The file has not arrived in storage yet: send it to the upload "
                                              "URL first (or, for a multipart upload, give `upload_id`)."]})
        if size > limit:
            storage.delete(footage.file.name)
            return footage_reject(footage=footage,
                                  reason=f"The file is {size:,} bytes; the limit is {limit:,} bytes.")
    else:
        path = partial_path(footage) if footage.file.name else None
        if path is None or not path.exists():
            raise ValidationError({"detail": ["No bytes have arrived yet: PUT the file to the content URL first."]})
        if footage.size_bytes and path.stat().st_size != footage.size_bytes:
            raise ValidationError({"detail": [f"{path.stat().st_size:,} of {footage.size_bytes:,} bytes have "
                                              "arrived; send the rest first."]})
    return footage_validate_stored(footage=footage)


def _complete_multipart(client, bucket: str, key: str, upload_id: str, parts: list | None) -> None:
    try:
        if parts:
            listed = [{"PartNumber": int(p["part_number"]), "ETag": str(p["etag"])} for p in parts]
        else:
            # The client did not keep the ETags: S3 knows which parts arrived.
            answer = client.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)
            listed = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in answer.get("Parts", [])]
        if not listed:
            raise ValidationError({"parts": ["No part has arrived yet: PUT the parts to their URLs first."]})
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                         MultipartUpload={"Parts": sorted(listed, key=lambda p: p["PartNumber"])})
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message") or str(exc)
        raise ValidationError({"upload_id": [f"Storage refused to finish the multipart upload: {message}"]})
    except (KeyError, TypeError, ValueError):
        raise ValidationError({"parts": ["Each part needs `part_number` and `etag`."]})
