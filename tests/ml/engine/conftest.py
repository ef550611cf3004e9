"""Engine fixtures: real detectors, a real (tiny, trained) classifier and small files made from
../shared media. Nothing here touches a database or Django."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import shared_glob, shared_path


@pytest.fixture(scope="session")
def yunet(yunet_model_path):
    from ml.engine.detectors import make_detector
    return make_detector("yunet", yunet_model=yunet_model_path)


@pytest.fixture(scope="session")
def haar():
    from ml.engine.detectors import make_detector
    return make_detector("haar")


@pytest.fixture(scope="session")
def classifier(tiny_model_path):
    from ml.engine.classifier import EmotionClassifier
    return EmotionClassifier(tiny_model_path)


def photo(prefix: str) -> Path:
    return shared_glob("media/photos", f"{prefix}_*")


def video(prefix: str) -> Path:
    return shared_glob("media/videos", f"{prefix}_*")


def decoded_frames(path: Path) -> list:
    """Every frame of a video, decoded one after another with plain OpenCV (no seeking, no sampling)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.fixture(scope="session")
def half_mp4(tmp_path_factory) -> Path:
    """The first half of a real mp4 whose index (moov) is at the front: the container still
    opens, but frames stop half way."""
    src = video("03")
    data = src.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "this test needs a clip with its index at the front"
    out = tmp_path_factory.mktemp("bad") / "half.mp4"
    out.write_bytes(data[: len(data) // 2])
    return out


@pytest.fixture(scope="session")
def half_mp4_index_at_end(tmp_path_factory) -> Path:
    """The first half of a real mp4 whose index is at the end: the container cannot open."""
    src = video("01")
    data = src.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat")
    out = tmp_path_factory.mktemp("bad") / "half-01.mp4"
    out.write_bytes(data[: len(data) // 2])
    return out


@pytest.fixture(scope="session")
def fer_val_dir() -> Path:
    return shared_path("datasets", "fer2013", "val")
