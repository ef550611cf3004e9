"""An upload over EMO7ION_MAX_UPLOAD_BYTES is stopped as it arrives: none of its bytes reach the
handlers that store files, and the person still gets the limit in words (and, on the web page,
a rejected footage row that records what happened)."""
from __future__ import annotations

import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import FileUploadHandler
from django.http.multipartparser import MultiPartParser
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart
from django.urls import reverse

from analysis.models import Footage
from emo7ion_site.uploads import MULTIPART_OVERHEAD_BYTES, SizeLimitUploadHandler

LIMIT = 100_000
BIG = b"\x00" * (LIMIT + MULTIPART_OVERHEAD_BYTES + 50_000)


class _RecordingHandler(FileUploadHandler):
    """Stands in for the handlers that write files: counts the bytes it is given."""

    def __init__(self, request=None):
        super().__init__(request)
        self.received = 0

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        return None

    def file_complete(self, file_size):
        return SimpleUploadedFile(self.file_name, b"")


def _parse(body_file: bytes, settings, limit: int):
    settings.EMO7ION_MAX_UPLOAD_BYTES = limit
    body = encode_multipart(BOUNDARY, {"note": "hello", "file": SimpleUploadedFile("big.mp4", body_file)})
    meta = {"CONTENT_TYPE": MULTIPART_CONTENT, "CONTENT_LENGTH": str(len(body))}

    class _Request:  # the attribute the handler sets, nothing else
        pass

    request = _Request()
    recorder = _RecordingHandler(request)
    handlers = [SizeLimitUploadHandler(request), recorder]
    post, files = MultiPartParser(meta, io.BytesIO(body), handlers).parse()
    return request, recorder, post, files


def test_the_handler_stops_an_oversized_body_before_any_file_byte_is_handed_on(settings):
    request, recorder, post, files = _parse(BIG, settings, LIMIT)
    assert recorder.received == 0 and "file" not in files
    assert post["note"] == "hello"  # fields before the file still arrive (the CSRF token is one)
    assert request.stopped_upload.name == "big.mp4"
    assert request.stopped_upload.size_bytes > len(BIG)


def test_the_handler_lets_a_body_within_the_limit_through(settings):
    request, recorder, post, files = _parse(b"\x01" * 5000, settings, LIMIT)
    assert recorder.received == 5000 and "file" in files
    assert not hasattr(request, "stopped_upload")


@pytest.mark.django_db
def test_web_upload_over_the_limit_is_recorded_as_rejected_without_a_file(client, project_a, alice, settings):
    settings.EMO7ION_MAX_UPLOAD_BYTES = LIMIT
    client.force_login(alice)
    response = client.post(reverse("footage-upload", args=[project_a.pk]),
                           {"file": SimpleUploadedFile("gala.mp4", BIG)},
                           headers={"x-requested-with": "XMLHttpRequest", "accept": "application/json"})
    assert response.status_code == 422
    body = response.json()
    footage = Footage.objects.get(pk=body["id"])
    assert footage.status == Footage.Status.REJECTED and footage.original_name == "gala.mp4"
    assert "the largest file this site accepts is 97.7\xa0KB" in body["rejection_reason"]
    assert not footage.file  # nothing was stored
    # The size recorded is the request body's, as the handler saw it before reading the file: the
    # file itself never reached the view.
    assert footage.size_bytes > len(BIG)
    page = client.get(reverse("project-detail", args=[project_a.pk])).content.decode()
    assert "the largest file this site accepts is 97.7\xa0KB" in page
    assert 'data-max-bytes="100000"' in page and "up to 97.7\xa0KB" in page


@pytest.mark.django_db
def test_api_upload_over_the_limit_is_refused_by_field(project_a, alice, settings):
    from rest_framework.test import APIClient
    settings.EMO7ION_MAX_UPLOAD_BYTES = LIMIT
    api = APIClient()
    api.force_authenticate(alice)
    response = api.post(f"/api/v1/projects/{project_a.pk}/footage/",
                        {"file": SimpleUploadedFile("gala.mp4", BIG)}, format="multipart")
    assert response.status_code == 400
    message = response.json()["file"][0]
    assert "the limit is 100,000 bytes" in message
    # Measured from the request body before the file was read (more than the file's own bytes).
    assert int(re.search(r"The file is ([\d,]+) bytes", message).group(1).replace(",", "")) > len(BIG)
    assert not Footage.objects.filter(original_name="gala.mp4").exists()


@pytest.mark.django_db
def test_dataset_upload_over_the_limit_is_refused_on_the_page_and_in_the_api(client, settings):
    from rest_framework.test import APIClient

    from ml.models import Dataset
    from tests.factories import UserFactory
    settings.EMO7ION_MAX_UPLOAD_BYTES = LIMIT
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    response = client.post(reverse("ml:dataset_upload"),
                           {"name": "huge", "file": SimpleUploadedFile("huge.zip", BIG)})
    assert response.status_code == 400
    assert "the limit is 100,000 bytes" in response.content.decode()
    api = APIClient()
    api.force_authenticate(staff)
    response = api.post("/api/v1/datasets/", {"name": "huge", "file": SimpleUploadedFile("huge.zip", BIG)},
                        format="multipart")
    assert response.status_code == 400 and "the limit is 100,000 bytes" in response.json()["file"][0]
    assert not Dataset.objects.filter(name="huge").exists()
