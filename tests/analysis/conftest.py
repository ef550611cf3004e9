"""Fixtures for the analysis tests: two organisations, real clips from ../shared, isolated media."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.core.files import File

from tests.conftest import shared_glob


@pytest.fixture(autouse=True)
def isolated_media(settings, tmp_path):
    """Each test stores footage and its cache under its own temporary folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMO7ION_CACHE_DIR = str(tmp_path / "cache")
    yield


def clip(pattern: str) -> Path:
    """A real clip from ../shared/media/videos (skips locally, fails under CI when absent)."""
    return shared_glob("media/videos", pattern)


def upload(project, path: Path, user=None, name: str | None = None):
    from analysis import services
    with open(path, "rb") as fh:
        return services.footage_create_from_upload(project=project, uploaded_file=File(fh, name=name or path.name),
                                                   uploaded_by=user)


def truncated_copy(src: Path, dest: Path) -> Path:
    """The first half of a real mp4: what a broken transfer leaves behind."""
    data = src.read_bytes()
    dest.write_bytes(data[: len(data) // 2])
    return dest


def copy_as(src: Path, dest: Path) -> Path:
    shutil.copyfile(src, dest)
    return dest


def faceless_clip(dest: Path, seconds: int = 3, fps: int = 10) -> Path:
    """A real mp4 with no face in it: a camera panning over scikit-image's coffee-cup photo."""
    import cv2
    from skimage.data import coffee

    image = cv2.cvtColor(coffee(), cv2.COLOR_RGB2BGR)  # 400 x 600
    writer = cv2.VideoWriter(str(dest), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    for i in range(seconds * fps):
        x = int(round(i * (600 - 320) / (seconds * fps - 1)))
        writer.write(image[80:320, x:x + 320].copy())
    writer.release()
    return dest
