"""Images that cannot be analysed as they are, refused before anything is decoded, each with a message a
person can act on; and empty uploads, kept on record like every refused upload (README: Upload)."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from analysis.models import Footage
from analysis.services.footage import image_header
from tests.factories import DEFAULT_PASSWORD

from .conftest import upload


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def declared_png(path, width: int, height: int):
    """A tiny PNG whose header declares width x height pixels (a decompression bomb's shape)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
                     + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _png_chunk(b"IEND", b""))
    return path


def animation(path, fmt: str, frames: int = 5):
    images = [Image.new("RGB", (64, 48), (40 * i, 80, 160)) for i in range(frames)]
    images[0].save(path, format=fmt, save_all=frames > 1, append_images=images[1:], duration=100, loop=0)
    return path


def test_a_png_declaring_100000_by_100000_pixels_is_refused_with_its_size(project_a, alice, tmp_path):
    footage = upload(project_a, declared_png(tmp_path / "bomb.png", 100_000, 100_000), alice)

    assert footage.status == Footage.Status.REJECTED
    assert footage.rejection_reason == (
        "bomb.png is a 100,000×100,000-pixel image (10,000 megapixels); the largest image this site analyses "
        "has 100 megapixels. Scale it down and upload it again.")
    assert Footage.objects.filter(pk=footage.pk, status="rejected").exists()  # kept on record


def test_the_pixel_limit_is_a_setting(project_a, alice, tmp_path, settings):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), np.full((300, 400, 3), 90, np.uint8))
    settings.EMO7ION_MAX_IMAGE_PIXELS = 400 * 300
    assert upload(project_a, path, alice).status == Footage.Status.READY
    settings.EMO7ION_MAX_IMAGE_PIXELS = 400 * 300 - 1
    refused = upload(project_a, path, alice)
    assert refused.status == Footage.Status.REJECTED
    assert "400×300-pixel image" in refused.rejection_reason


@pytest.mark.parametrize("fmt, name", [("GIF", "wave.gif"), ("PNG", "wave.png"), ("WEBP", "wave.webp")])
def test_an_animated_image_is_refused_clearly_not_read_as_its_first_frame(project_a, alice, tmp_path, fmt, name):
    footage = upload(project_a, animation(tmp_path / name, fmt), alice)

    assert footage.status == Footage.Status.REJECTED
    assert footage.rejection_reason == (
        f"{name} is an animated image ({fmt}). Animated images are not analysed: only their first frame would "
        "be. Convert it to a video (e.g. MP4) to analyse every frame, or upload one frame as a still image.")


def test_a_still_gif_is_an_image_as_before(project_a, alice, tmp_path):
    footage = upload(project_a, animation(tmp_path / "still.gif", "GIF", frames=1), alice)
    assert footage.status == Footage.Status.READY, footage.rejection_reason
    assert (footage.kind, footage.width, footage.height) == (Footage.Kind.IMAGE, 64, 48)


def test_image_header_reads_sizes_without_decoding_and_ignores_videos(tmp_path):
    header = image_header(declared_png(tmp_path / "big.png", 50_000, 40_000))
    assert (header.format, header.width, header.height, header.animated) == ("PNG", 50_000, 40_000, False)
    assert image_header(animation(tmp_path / "a.gif", "GIF")).animated
    (tmp_path / "notes.mp4").write_text("not an image at all\n" * 10)
    assert image_header(tmp_path / "notes.mp4") is None


def test_an_empty_upload_through_the_page_is_kept_on_record(project_a, alice):
    client = Client()
    assert client.login(username=alice.username, password=DEFAULT_PASSWORD)
    answer = client.post(f"/projects/{project_a.pk}/upload/",
                         {"file": SimpleUploadedFile("nothing.mp4", b"", content_type="video/mp4")},
                         HTTP_X_REQUESTED_WITH="XMLHttpRequest", HTTP_ACCEPT="application/json")

    assert answer.status_code == 422
    footage = Footage.objects.get(pk=answer.json()["id"])
    assert footage.status == Footage.Status.REJECTED
    assert footage.rejection_reason == "nothing.mp4 is empty (0 bytes)."


def test_an_empty_upload_through_the_api_is_kept_on_record(project_a, alice):
    from accounts.services import api_token_create
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {api_token_create(user=alice)[1]}")
    answer = client.post(f"/api/v1/projects/{project_a.pk}/footage/",
                         {"file": SimpleUploadedFile("nothing.mp4", b"", content_type="video/mp4")},
                         format="multipart")

    assert answer.status_code == 201, answer.json()
    assert answer.json()["status"] == "rejected"
    assert answer.json()["rejection_reason"] == "nothing.mp4 is empty (0 bytes)."
    assert Footage.objects.filter(pk=answer.json()["id"], status="rejected").exists()
