"""Download the YuNet face detector (a fixed-shape ONNX export) and check the engine can use it.

OpenCV 4.x cannot load YuNet's dynamic-shape exports, so we fetch the fixed 640x640 export (it runs
at any input size, in OpenCV and in ONNX Runtime). The file is verified before it is kept: it must load
as the engine's YuNet detector (EMO7ION_DETECTOR_RUNTIME's runtime) and find the face in scikit-image's bundled astronaut photo. On a machine without internet, download
the file elsewhere and pass it with --from-file.
"""
from __future__ import annotations

import hashlib
import shutil
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import CommandError

from ml.management.base import JsonCommand

# Tried in order. libfacedetection.train is YuNet's home (the model the tests use); OpenCV Zoo
# hosts the 2023mar release, also a fixed 640x640 export.
DEFAULT_URLS = (
    "https://raw.githubusercontent.com/ShiqiYu/libfacedetection.train/master/onnx/yunet_n_640_640.onnx",
    "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
)
MAX_BYTES = 50 * 1024 * 1024  # YuNet is ~300 KB; anything this large is not it


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify_yunet(path: Path) -> int:
    """Load the file as a YuNet detector and count faces on a bundled test photo (one astronaut).
    Raises CommandError saying what is wrong."""
    import cv2
    from skimage import data

    from ml.engine.detectors import make_detector
    from ml.engine.errors import EngineError

    try:
        from django.conf import settings
        detector = make_detector("yunet", yunet_model=path, runtime=settings.EMO7ION_DETECTOR_RUNTIME)
    except EngineError as exc:
        raise CommandError(f"{path.name} is not a usable YuNet detector: {exc}") from exc
    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    faces = detector.detect(photo)
    if not faces:
        raise CommandError(f"{path.name} loads, but finds no face on the test photo: it is not a working "
                           "YuNet face detector")
    return len(faces)


def download(url: str, target: Path, timeout: float) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "emo7ion-fetch-detector"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(target, "wb") as out:
        total = 0
        while chunk := response.read(1 << 16):
            total += len(chunk)
            if total > MAX_BYTES:
                raise CommandError(f"{url} sent more than {MAX_BYTES // (1024 * 1024)} MB: not a YuNet model")
            out.write(chunk)


class Command(JsonCommand):
    help = ("Download the YuNet face detector (fixed-shape ONNX) into var/models/, verify OpenCV can use it, "
            "and print the EMO7ION_YUNET_MODEL=... line to set. Use --from-file on a machine without internet.")

    def add_arguments(self, parser):
        parser.add_argument("--url", action="append", default=None,
                            help="download from this URL instead (may be repeated; tried in order)")
        parser.add_argument("--from-file", default=None,
                            help="use this local ONNX file instead of downloading (it is verified and copied)")
        parser.add_argument("--dest", default=None, help="folder to keep it in (default: EMO7ION_MODEL_DIR, var/models)")
        parser.add_argument("--timeout", type=float, default=20.0, help="seconds per download attempt")
        super().add_arguments(parser)

    def run(self, *, url, from_file, dest, timeout, **options) -> dict:
        dest_dir = Path(dest or settings.EMO7ION_MODEL_DIR).resolve()
        dest_dir.mkdir(parents=True, exist_ok=True)
        if from_file:
            return self._from_file(Path(from_file).expanduser(), dest_dir)
        return self._download(url or list(DEFAULT_URLS), dest_dir, timeout)

    def _from_file(self, source: Path, dest_dir: Path) -> dict:
        if not source.is_file():
            raise CommandError(f"{source} does not exist")
        faces = verify_yunet(source)
        target = dest_dir / source.name
        if source.resolve() != target:
            shutil.copyfile(source, target)
        return self._result(target, f"file {source}", faces)

    def _download(self, urls: list[str], dest_dir: Path, timeout: float) -> dict:
        failures = []
        for url in urls:
            name = url.rstrip("/").rsplit("/", 1)[-1] or "yunet.onnx"
            self.log(f"Downloading {url} ...")
            with tempfile.TemporaryDirectory(dir=dest_dir) as tmp:
                partial = Path(tmp) / name
                try:
                    download(url, partial, timeout)
                except (urllib.error.URLError, socket.timeout, TimeoutError, OSError, ValueError) as exc:
                    reason = getattr(exc, "reason", None) or exc
                    failures.append(f"{url}: {reason}")
                    self.log(f"  failed: {reason}")
                    continue
                faces = verify_yunet(partial)  # a bad file is an error, not a reason to try the next URL
                target = dest_dir / name
                partial.replace(target)  # only a verified file ever appears under its final name
            return self._result(target, url, faces)
        raise CommandError(
            "Could not download the YuNet face detector (this machine may have no internet access):\n  "
            + "\n  ".join(failures)
            + f"\nDownload {DEFAULT_URLS[0]} on another machine, then run "
              "`python manage.py fetch_detector --from-file PATH`, or set EMO7ION_YUNET_MODEL to the file. "
              "Without it, analyses use the haar detector.")

    def _result(self, path: Path, source: str, faces: int) -> dict:
        return {"path": str(path), "source": source, "size_bytes": path.stat().st_size, "sha256": sha256_of(path),
                "verified": True, "faces_on_test_photo": faces, "env": f"EMO7ION_YUNET_MODEL={path}"}

    def summary(self, result: dict) -> str:
        return (f"YuNet detector verified and saved to {result['path']} (sha256 {result['sha256'][:12]}...).\n"
                f"Set this in your environment or .env:\n{result['env']}")
