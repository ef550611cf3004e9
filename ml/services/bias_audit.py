"""Bias audits: a model version on an audit set (a manifest with group attributes), per group
accuracy and recall (labelled sets) or predicted-share parity (unlabelled), flagged against
thresholds."""
from __future__ import annotations

import time
from pathlib import Path

from django.utils import timezone

from emo7ion_site.core.jobs import enqueue_on_commit, task_id
from ml.engine.bias import audit as engine_audit
from ml.engine.datasets import read_dataset
from ml.engine.detectors import DETECTOR_NAMES
from ml.engine.faces import FACE_MODES
from ml.engine.labels import to_model_labels
from ml.models import BiasAudit, Dataset, ModelVersion

from .errors import JobRefused
from .jobs import job_log, ml_job_run
from .scoring import classify, production_face_cropper, resolve_data


def _check_audit_options(*, dataset: Dataset | None, attributes: list[str], gap_threshold: float,
                         ratio_threshold: float, min_group_size: int, faces: str, detector: str) -> None:
    if dataset is not None:
        if not dataset.attributes:
            raise JobRefused(f"Dataset {dataset.name} has no group attributes; an audit set needs a manifest.csv "
                             "with columns such as gender or age_band")
        unknown = [a for a in attributes if a not in dataset.attributes]
        if unknown:
            raise JobRefused(f"Dataset {dataset.name} has no attribute {', '.join(unknown)}; "
                             f"it has {', '.join(dataset.attributes)}")
    if not (0 < gap_threshold < 1) or not (0 < ratio_threshold <= 1):
        raise JobRefused("The gap threshold must be between 0 and 1, the ratio threshold between 0 and 1")
    if min_group_size < 1:
        raise JobRefused("The minimum group size must be at least 1")
    if faces not in FACE_MODES:
        raise JobRefused(f"Face mode must be one of {', '.join(FACE_MODES)}")
    if detector:
        if detector not in DETECTOR_NAMES:
            raise JobRefused(f"Unknown detector {detector!r}; choose {' or '.join(DETECTOR_NAMES)}")


def bias_audit_run(*, model_version: ModelVersion, dataset: Dataset | None = None, data_path: str = "",
                   attributes: list[str] | None = None, gap_threshold: float = 0.10, ratio_threshold: float = 0.80,
                   min_group_size: int = 20, faces: str = "auto", detector: str = "", created_by=None,
                   enqueue: bool = True) -> BiasAudit:
    """Record a bias audit of a model version on an audit set (a manifest with group attributes)."""
    if dataset is None and not data_path:
        raise JobRefused("Give an audit dataset or a data path")
    attributes = [a.strip() for a in (attributes or []) if a and a.strip()]
    _check_audit_options(dataset=dataset, attributes=attributes, gap_threshold=gap_threshold,
                         ratio_threshold=ratio_threshold, min_group_size=min_group_size, faces=faces,
                         detector=detector)
    audit = BiasAudit.objects.create(
        model_version=model_version, dataset=dataset,
        data_path=str(Path(data_path).expanduser().resolve()) if data_path else "", attributes=attributes,
        gap_threshold=gap_threshold, ratio_threshold=ratio_threshold, min_group_size=min_group_size,
        faces=faces, detector=detector, created_by=created_by)
    if enqueue:
        enqueue_on_commit("ml.tasks.run_bias_audit", args=[audit.pk], task_id=task_id("ml:bias_audit", audit.pk))
    return audit


def bias_audit_execute(*, audit: BiasAudit) -> BiasAudit:
    """Audit on the row's data and store the result and verdict (the task and the command call this)."""
    return ml_job_run(audit, lambda: _audit(audit))


def _audit(audit: BiasAudit) -> tuple[str, ...]:
    started = time.perf_counter()
    mv = audit.model_version
    path, data_name = resolve_data(audit)
    face_stats: dict = {}
    job_log(audit, f"reading {data_name} (faces: {audit.faces})")
    data = read_dataset(path, face_cropper=production_face_cropper(audit.faces, audit.detector or None, face_stats))
    if not data.attributes:
        raise JobRefused(f"{data_name} has no group attributes: an audit set needs a manifest.csv "
                         "(path,label,<attribute columns...>)")
    if face_stats.get("detector"):
        audit.detector = face_stats["detector"]
    audit.progress = 0.5
    audit.heartbeat_at = timezone.now()  # the watchdog reads a fresh beat as "a worker is on it"
    audit.save(update_fields=["progress", "detector", "log", "heartbeat_at"])
    y_true, not_in_model = to_model_labels(data.labels, list(mv.labels))
    probs, fps = classify(mv, data.images, False)
    result = engine_audit(probs.argmax(1), data.attributes, y_true=y_true, labels=list(mv.labels),
                          gap_threshold=audit.gap_threshold, ratio_threshold=audit.ratio_threshold,
                          min_group_size=audit.min_group_size, attributes=audit.attributes or None)
    result.update({
        "model_version": mv.name, "data": data_name, "faces": face_stats,
        "skipped_labels": {**data.skipped_labels, **not_in_model}, "unreadable": len(data.unreadable),
        "faces_per_second": round(fps, 1), "wall_time_s": round(time.perf_counter() - started, 2),
        "bias_audit_id": audit.pk,
    })
    audit.result, audit.verdict = result, result["verdict"]
    if not audit.attributes:
        audit.attributes = list(result["attributes"])
    job_log(audit, f"{result['n']} faces ({face_stats.get('cropped_by_detector', 0)} cropped by the "
                   f"{face_stats.get('detector') or 'no'} detector); verdict {result['verdict']} with "
                   f"{len(result['flags'])} flag(s)")
    for flag in result["flags"]:
        job_log(audit, "flag: " + flag["message"])
    return ("result", "verdict", "attributes", "detector")
