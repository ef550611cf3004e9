"""Refuse an oversized multipart upload before any of it is written to disk.

Django streams uploaded files into temporary files; without this handler a 20 GB upload would be
stored in full before the size limit could say no. Listed first in FILE_UPLOAD_HANDLERS, it reads
the request's Content-Length, and when that is over EMO7ION_MAX_UPLOAD_BYTES it stops the upload
at the first file: Django then discards the rest of the body without storing it (the connection
stays open, so the client still gets our answer), and the view finds what was stopped with
`stopped_upload(request)`.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, StopUpload

# A multipart body carries the form's other fields and its boundaries beside the file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class StoppedUpload:
    name: str        # the file's name as the client sent it
    size_bytes: int  # the request body's size: the file's, plus a little multipart framing


class SizeLimitUploadHandler(FileUploadHandler):
    too_large = False
    body_bytes = 0

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        self.body_bytes = content_length
        self.too_large = content_length > settings.EMO7ION_MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD_BYTES
        return None  # the other handlers parse the body as usual

    def new_file(self, field_name, file_name, *args, **kwargs):
        if self.too_large:
            if self.request is not None:
                self.request.stopped_upload = StoppedUpload(file_name or "upload", self.body_bytes)
            raise StopUpload(connection_reset=False)

    def receive_data_chunk(self, raw_data, start):
        return raw_data

    def file_complete(self, file_size):
        return None


def stopped_upload(request) -> StoppedUpload | None:
    """The upload this request's body carried and the size limit stopped; read after parsing."""
    return getattr(request, "stopped_upload", None)


def size_limit_message(size_bytes: int) -> str:
    """The API's wording for a file over the limit, with exact byte counts (every API refusal uses it)."""
    limit = settings.EMO7ION_MAX_UPLOAD_BYTES
    return f"The file is {size_bytes:,} bytes; the limit is {limit:,} bytes (EMO7ION_MAX_UPLOAD_BYTES)."
