"""Per-process caches of loaded models and detectors, and each worker's local copies of model files.

A worker loads each model version once (keyed by its sha256) and each detector once, lazily on
first use and never at import time, so web processes that never classify never import TensorFlow.

A version's files are read where they were registered when this host has them (the trainer, a shared
volume); otherwise from this worker's cache, `EMO7ION_CACHE_DIR/models/<sha256>/`, filled once from
the default storage (`ml.registry` stores every registered version there). A download is checked
against the registered sha256 before it is used: a corrupt copy is refused, never loaded. So a worker
host with an empty model directory runs any version.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from ml.engine.classifier import metadata_path_for, sha256_of
from ml.engine.errors import ModelFileError

from .models import ModelVersion
from .registry import model_files_store, stored_model_names

log = logging.getLogger(__name__)

_lock = threading.Lock()
_CHUNK = 1 << 20
# sha256 -> a local .keras file already checked in this process (one entry per version used).
_verified: dict[str, Path] = {}


def model_cache_dir(sha256: str) -> Path:
    """This worker's folder for a version's files: named by the sha256, so one copy per content."""
    return Path(settings.EMO7ION_CACHE_DIR) / "models" / sha256


def _download(name: str, dest: Path) -> str:
    """Copy a stored file to `dest` (atomically: a temporary file renamed); returns its sha256."""
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, default_storage.open(name, "rb") as src:
            for chunk in iter(lambda: src.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


def _fetch(model_version: ModelVersion) -> Path:
    """The cached copy of a version's files, downloaded from the default storage when missing."""
    names = stored_model_names(model_version)
    folder = model_cache_dir(model_version.sha256)
    model = folder / Path(names["model"]).name
    if model.is_file() and metadata_path_for(model).is_file() and sha256_of(model) == model_version.sha256:
        return model
    missing = [n for n in names.values() if not default_storage.exists(n)]
    if missing:
        raise ModelFileError(
            f"Model version {model_version.name} is not on this host ({model_version.file}) and not in the "
            f"storage ({', '.join(missing)}): register it again from a host that has its files")
    folder.mkdir(parents=True, exist_ok=True)
    log.info("Fetching model version %s (%s) from storage", model_version.name, model_version.sha256[:12])
    _download(names["metadata"], metadata_path_for(model))
    got = _download(names["model"], model)
    if got != model_version.sha256:
        model.unlink(missing_ok=True)
        raise ModelFileError(
            f"The copy of model version {model_version.name} downloaded from storage ({names['model']}) is "
            f"corrupt: its sha256 is {got[:12]}…, the registered one {model_version.sha256[:12]}…. It was not "
            "used; store the model file again (register it from a host that has it)")
    return model


def _store_quietly(path: Path, model_version: ModelVersion) -> None:
    """Make sure the storage has the files of a version this host holds (versions registered before
    files were stored get there on first use); a storage that is down must not stop this worker."""
    try:
        model_files_store(path, model_version.sha256)
    except Exception:
        log.exception("Could not copy model version %s to the storage", model_version.name)


def local_model_path(model_version: ModelVersion) -> Path:
    """A local `.keras` file (metadata beside it) with the version's registered sha256: the registered
    path when this host has it unchanged, else this worker's cached copy from the storage."""
    known = _verified.get(model_version.sha256)
    if known is not None and known.is_file() and metadata_path_for(known).is_file():
        return known
    own = Path(model_version.file)
    if own.is_file() and metadata_path_for(own).is_file() and sha256_of(own) == model_version.sha256:
        path = own
        _store_quietly(own, model_version)
    else:
        if own.is_file():
            log.warning("Model file %s changed since version %s was registered; using the stored copy",
                        own, model_version.name)
        path = _fetch(model_version)
    _verified[model_version.sha256] = path
    return path


def classifier_options() -> dict:
    """How this host runs classifiers (settings): precision, runtime and LiteRT's folder of derived files."""
    return {"precision": settings.EMO7ION_CLASSIFIER_PRECISION, "runtime": settings.EMO7ION_CLASSIFIER_RUNTIME,
            "litert_cache_dir": str(Path(settings.EMO7ION_CACHE_DIR) / "litert")}


@lru_cache(maxsize=4)
def _classifier(path: str, sha256: str, tta_flip: bool, options: tuple):
    from ml.engine.classifier import EmotionClassifier
    clf = EmotionClassifier(path, tta_flip=tta_flip, **dict(options))
    if clf.sha256 != sha256:
        raise ModelFileError(f"Model file {path} changed since it was registered (sha256 differs)")
    return clf


def get_classifier(model_version: ModelVersion, *, tta_flip: bool = False):
    with _lock:
        path = local_model_path(model_version)
        return _classifier(str(path), model_version.sha256, tta_flip, tuple(sorted(classifier_options().items())))


@lru_cache(maxsize=8)
def _detector(name: str, yunet_model: str, options: tuple):
    from ml.engine.detectors import make_detector
    return make_detector(name, yunet_model=yunet_model or None, **dict(options))


def default_detector_name() -> str:
    from ml.engine.detectors import default_detector_name as engine_default
    return engine_default(settings.EMO7ION_YUNET_MODEL or None)


def get_detector(name: str | None = None, **options):
    name = name or default_detector_name()
    # Operators trade small-face recall for speed here: "auto" enlarges frames under 1280 px up to 2x.
    options.setdefault("upscale", settings.EMO7ION_DETECTOR_UPSCALE)
    if name == "yunet":
        options.setdefault("runtime", settings.EMO7ION_DETECTOR_RUNTIME)
    with _lock:
        return _detector(name, settings.EMO7ION_YUNET_MODEL or "", tuple(sorted(options.items())))
