"""Per-process caches of loaded models and detectors.

A worker loads each model version once (keyed by its sha256) and each detector once, lazily on
first use and never at import time, so web processes that never classify never import TensorFlow.
"""
from __future__ import annotations

import threading
from functools import lru_cache

from django.conf import settings

from .models import ModelVersion

_lock = threading.Lock()


@lru_cache(maxsize=4)
def _classifier(path: str, sha256: str, precision: str, tta_flip: bool):
    from ml.engine.classifier import EmotionClassifier
    clf = EmotionClassifier(path, precision=precision, tta_flip=tta_flip)
    if clf.sha256 != sha256:
        from ml.engine.errors import ModelFileError
        raise ModelFileError(f"Model file {path} changed since it was registered (sha256 differs)")
    return clf


def get_classifier(model_version: ModelVersion, *, tta_flip: bool = False):
    with _lock:
        return _classifier(model_version.file, model_version.sha256, settings.EMO7ION_CLASSIFIER_PRECISION, tta_flip)


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
    with _lock:
        return _detector(name, settings.EMO7ION_YUNET_MODEL or "", tuple(sorted(options.items())))
