"""Fixtures for the ML operations tests: small real datasets cut from ../shared, broken ones built
on purpose, and a staff user."""
from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import shared_path
from tests.factories import UserFactory

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.fixture
def staff_user(db):
    return UserFactory(is_staff=True)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def sent(monkeypatch):
    """What the services send to the broker: (task name, args, task id)."""
    from emo7ion_site import celery_app
    calls = []
    monkeypatch.setattr(celery_app, "send_task",
                        lambda name, args=None, task_id=None, **kw: calls.append((name, args, task_id)))
    return calls


@pytest.fixture
def eager():
    """Celery's eager mode: a job sent by name runs in this process when the transaction commits."""
    from emo7ion_site import celery_app
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def _model_and_cache_dirs(settings, tmp_path):
    """Trained versions and cached downloads go to the test's own folders, never var/."""
    settings.EMO7ION_MODEL_DIR = tmp_path / "models"
    settings.EMO7ION_CACHE_DIR = tmp_path / "cache"


def _copy_fer(dest: Path, per_class: dict[str, int], splits=("train", "val")) -> Path:
    src = shared_path("datasets", "fer2013")
    for split in splits:
        for label, n in per_class.items():
            files = sorted((src / split / label).glob("*.jpg"))[:n]
            (dest / split / label).mkdir(parents=True, exist_ok=True)
            for f in files:
                shutil.copy(f, dest / split / label / f.name)
    return dest


@pytest.fixture(scope="session")
def fer_small(tmp_path_factory) -> Path:
    """~350 real FER2013 faces as train/ and val/ class folders (7 classes x 40 train + 10 val)."""
    dest = tmp_path_factory.mktemp("fer-small")
    _copy_fer(dest, {c: 40 for c in FER_CLASSES}, splits=("train",))
    _copy_fer(dest, {c: 10 for c in FER_CLASSES}, splits=("val",))
    return dest


def zip_folder(folder: Path, zip_path: Path) -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder).as_posix())
    return zip_path


@pytest.fixture
def fer_csv(tmp_path) -> Path:
    """A FER2013 CSV made from real faces: emotion,pixels,Usage."""
    import cv2
    src = shared_path("datasets", "fer2013")
    path = tmp_path / "fer.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        for i, label in enumerate(FER_CLASSES):
            for split, usage in (("train", "Training"), ("val", "PublicTest")):
                for f in sorted((src / split / label).glob("*.jpg"))[:3]:
                    img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
                    w.writerow([i, " ".join(map(str, img.ravel().tolist())), usage])
    return path


@pytest.fixture
def audit_zip(tmp_path) -> Path:
    """An audit zip: 30 real UTKFace crops with a manifest (empty labels, gender + race)."""
    src = shared_path("datasets", "audit", "utkface-400")
    rows = list(csv.DictReader(open(src / "manifest.csv")))[:30]
    folder = tmp_path / "audit"
    (folder / "images").mkdir(parents=True)
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "label", "gender", "race"])
        for r in rows:
            shutil.copy(src / r["path"], folder / "images" / r["path"])
            w.writerow(["images/" + r["path"], "", r["gender"], r["race"]])
    return zip_folder(folder, tmp_path / "audit.zip")
