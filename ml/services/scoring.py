"""What evaluations and bias audits share: where their faces come from, how they are cropped (the
production detector and crop), and batched classification with the model version under test."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ml.engine.faces import face_cropper
from ml.models import ModelVersion, data_name_for_path
from ml.selectors import dataset_local_path

from .errors import JobRefused


def resolve_data(job) -> tuple[Path, str]:
    """The local path of a job's data (its dataset, or a server path) and the name to show for it:
    the dataset's name or the folder's own, never the path (rows and pages show that name)."""
    if job.dataset_id:
        return dataset_local_path(job.dataset), job.dataset.name
    if job.data_path:
        path = Path(job.data_path)
        if not path.exists():
            raise JobRefused(f"The data {data_name_for_path(job.data_path)!r} does not exist on the server")
        return path, data_name_for_path(job.data_path)
    raise JobRefused("Give a dataset or a data path")


def production_face_cropper(mode: str, detector_name: str | None, stats: dict):
    """The engine's face cropper with the pipeline's detector (loaded once per worker), counting into
    `stats`; mode "whole" loads no detector."""
    detector = None
    if mode != "whole":
        from ml import runtime
        detector = runtime.get_detector(detector_name or None)
    return face_cropper(mode, detector, stats)


def classify(model_version: ModelVersion, images: np.ndarray, tta: bool) -> tuple[np.ndarray, float]:
    """Probabilities and faces/second of batched classification (after one untimed warm-up batch,
    so graph tracing is not counted as throughput)."""
    from ml import runtime
    clf = runtime.get_classifier(model_version, tta_flip=tta)
    clf.predict_proba(images[:256])
    t0 = time.perf_counter()
    probs = clf.predict_proba(images, batch_size=256)
    dt = time.perf_counter() - t0
    return probs, (len(images) / dt if dt > 0 else 0.0)


def inference_mode(model_version: ModelVersion, tta: bool) -> dict:
    """How `classify` read the faces: the test-time augmentation, the crop and whether the stored
    calibration was applied (the model's metadata decides them unless `tta` asks for the flip)."""
    from ml import runtime
    clf = runtime.get_classifier(model_version, tta_flip=tta)
    return {"tta_mode": clf.tta, "crop_size": clf.crop_size, "calibrated": bool(clf.calibration)}
