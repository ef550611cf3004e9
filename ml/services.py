"""ML operations (writes): datasets, training runs, evaluations, bias audits and promotion.

Commands, pages, Celery tasks and the API all call these functions. Long work follows one
pattern: `<job>_run(...)`/`training_run_start(...)` records a queued row and, by default, enqueues
its Celery task after the transaction commits; `<job>_execute(...)` does the work on that row
(the task calls it; the management commands call it in-process with `enqueue=False`). The row is
the one source of truth: status, progress, error, log and result.

Bad input never raises out of an `_execute`: the row ends `failed` with a message a person can act
on, and the worker carries on.
"""
from __future__ import annotations

import base64
import logging
import math
import shutil
import time
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from ml import registry
from ml.engine.datasets import FACE_SIZE, FaceDataset, read_dataset
from ml.engine.errors import DatasetError, EngineError
from ml.engine.labels import EMOTIONS

from .models import BiasAudit, Dataset, Evaluation, JobStatus, ModelActivation, ModelVersion, TrainingRun
from .selectors import dataset_local_path

logger = logging.getLogger(__name__)

# The engine's architecture presets (ml.engine.architectures.PRESETS). Repeated here because that
# module imports Keras, and web processes must not pay for TensorFlow to render a form; a test
# keeps the two lists equal.
ARCHITECTURE_PRESETS = ("tiny", "small", "vgg-s", "vgg")
AUGMENTATIONS = ("none", "light", "strong")
CLASS_WEIGHTINGS = ("none", "sqrt", "balanced")
FACE_MODES = ("auto", "detect", "whole")
# In "auto" face mode, images no larger than this are taken as already-cropped faces (FER2013 is
# 48x48): a detector cannot find a face that fills the whole frame, and cropping again would cut it.
AUTO_WHOLE_MAX_SIDE = 64
SAMPLES_PER_CLASS = 8
UNLABELLED_SAMPLES = 32


class DatasetImportError(ValueError):
    """A dataset was refused; the message says why in words the uploader can act on."""


class PromotionRefused(Exception):
    """A model version may not become (or return to being) the active one; the message says why."""


class JobRefused(ValueError):
    """A training run, evaluation or audit cannot start with these inputs; the message says why."""


def _on_commit_send(task_name: str, obj_id: int) -> None:
    """Enqueue after commit, so the worker never looks for a row that is not there yet."""
    def send():
        from ml import tasks
        getattr(tasks, task_name).delay(obj_id)
    transaction.on_commit(send)


# --------------------------------------------------------------------------------------------
# Datasets

def _detect_format(path: Path, data: FaceDataset) -> str:
    if not data.paths:
        return "fer_csv"
    if data.attributes:
        return "manifest"
    if path.is_file() and path.suffix.lower() == ".csv":
        return "manifest"
    if path.is_dir() and any(path.rglob("manifest.csv")):
        return "manifest"
    if path.is_file() and path.suffix.lower() == ".zip":
        import zipfile
        with zipfile.ZipFile(path) as zf:
            if any(n.rsplit("/", 1)[-1].lower() == "manifest.csv" for n in zf.namelist()):
                return "manifest"
    return "class_folders"


def _png_b64(image: np.ndarray) -> str:
    import cv2
    ok, buf = cv2.imencode(".png", image)
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


def _samples(data: FaceDataset) -> list[dict]:
    """A few faces per class (or random faces of an unlabelled set), chosen reproducibly."""
    rng = np.random.default_rng(0)
    picks: list[tuple[int, str]] = []
    if (data.labels >= 0).any():
        for i, label in enumerate(EMOTIONS):
            idx = np.flatnonzero(data.labels == i)
            for j in sorted(rng.choice(idx, size=min(SAMPLES_PER_CLASS, idx.size), replace=False).tolist()):
                picks.append((j, label))
    else:
        for j in sorted(rng.choice(len(data), size=min(UNLABELLED_SAMPLES, len(data)), replace=False).tolist()):
            picks.append((j, ""))
    out = []
    for j, label in picks:
        caption = label or " · ".join(values[j] for values in data.attributes.values())
        out.append({"label": label, "caption": caption, "png": _png_b64(data.images[j])})
    return out


def _dataset_summary(data: FaceDataset) -> dict:
    labelled = data.labels >= 0
    splits, counts = np.unique(data.splits, return_counts=True)
    return {
        "n_images": len(data),
        "labelled": bool(labelled.any()),
        "class_counts": {label: int((data.labels == i).sum()) for i, label in enumerate(EMOTIONS)},
        "split_counts": {str(s): int(c) for s, c in zip(splits, counts)},
        "attributes": {attr: {str(g): int(c) for g, c in zip(*np.unique(np.asarray(values, dtype=object).astype(str),
                                                                         return_counts=True))}
                       for attr, values in data.attributes.items()},
    }


def _validate_dataset(data: FaceDataset, *, kind: str, skip_invalid: bool) -> list[str]:
    """Problems that refuse the set (unless the importer asked to skip the offending files)."""
    problems = []
    if data.skipped_labels and not skip_invalid:
        shown = ", ".join(f"'{k}' ({v} image{'s' if v != 1 else ''})" for k, v in sorted(data.skipped_labels.items()))
        problems.append(f"unknown labels {shown}; the model knows {', '.join(EMOTIONS)} (and common synonyms "
                        "such as anger, happiness, sadness)")
    if data.unreadable and not skip_invalid:
        shown = ", ".join(data.unreadable[:5]) + (f" and {len(data.unreadable) - 5} more" if len(data.unreadable) > 5 else "")
        problems.append(f"{len(data.unreadable)} file{'s are' if len(data.unreadable) != 1 else ' is'} not "
                        f"{'images' if len(data.unreadable) != 1 else 'an image'} that can be decoded: {shown}")
    unlabelled = int((data.labels < 0).sum())
    if kind == Dataset.Kind.TRAINING and unlabelled:
        problems.append(f"a training set needs a label for every image, but {unlabelled} of {len(data)} have none "
                        "(import it with kind 'audit' instead)")
    if kind == Dataset.Kind.AUDIT and not data.attributes:
        problems.append("an audit set needs a manifest.csv with group attribute columns "
                        "(path,label,<attribute columns...>, e.g. path,label,gender,age_band)")
    return problems


def dataset_import(*, path_or_file, name: str, kind: str | None = None, created_by=None,
                   skip_invalid: bool = False) -> Dataset:
    """Validate a dataset by content and record it.

    `path_or_file` is a server-side path (imported in place: nothing is copied) or an uploaded file
    (a zip of class folders, a FER2013 CSV, or an audit zip with manifest.csv), which is stored in
    the default storage under `datasets/`. `kind` None means: "audit" when the set has group
    attributes, else "training". Importing the same content under the same name again returns the
    existing row. Raises DatasetImportError with a readable reason; nothing is kept then.
    """
    name = (name or "").strip()
    if not name:
        raise DatasetImportError("A dataset needs a name")
    if len(name) > 120:
        raise DatasetImportError("A dataset name may have at most 120 characters")
    if kind not in (None, "", *Dataset.Kind.values):
        raise DatasetImportError(f"Unknown kind {kind!r}: use training or audit")

    stored_name = ""
    if isinstance(path_or_file, (str, Path)):
        local = Path(path_or_file).expanduser().resolve()
        if not local.exists():
            raise DatasetImportError(f"{path_or_file} does not exist")
    else:
        upload = path_or_file if isinstance(path_or_file, File) else File(path_or_file)
        filename = get_valid_filename(Path(getattr(upload, "name", "") or "dataset").name) or "dataset"
        stored_name = default_storage.save(f"datasets/{filename}", upload)
        local = dataset_local_path(Dataset(file=stored_name, name=name))

    def discard_upload():
        if stored_name:
            default_storage.delete(stored_name)
            cached = Path(settings.EMO7ION_CACHE_DIR) / "datasets" / Path(stored_name).name
            if cached.exists() and cached != local:
                cached.unlink()

    try:
        data = read_dataset(local)
    except DatasetError as exc:
        discard_upload()
        raise DatasetImportError(str(exc)) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        discard_upload()
        raise DatasetImportError(f"{Path(str(path_or_file)).name or 'The file'} could not be read as a dataset: "
                                 f"{exc}") from exc

    kind = kind or (Dataset.Kind.AUDIT if data.attributes else Dataset.Kind.TRAINING)
    problems = _validate_dataset(data, kind=kind, skip_invalid=skip_invalid)
    if problems:
        discard_upload()
        hint = " Fix the set, or import it skipping those files." if (data.skipped_labels or data.unreadable) else ""
        raise DatasetImportError("Dataset refused: " + "; ".join(problems) + "." + hint)

    existing = Dataset.objects.filter(name=name).first()
    if existing is not None:
        discard_upload()
        if existing.content_hash == data.content_hash and existing.kind == kind:
            return existing
        raise DatasetImportError(f"A dataset named {name!r} already exists with different content or kind; "
                                 "choose another name")

    summary = _dataset_summary(data)
    return Dataset.objects.create(
        name=name, kind=kind, file=stored_name, source_path="" if stored_name else str(local),
        status=Dataset.Status.READY, format=_detect_format(local, data), content_hash=data.content_hash,
        skipped_labels=dict(data.skipped_labels), unreadable_files=list(data.unreadable),
        samples=_samples(data), created_by=created_by, **summary,
    )


def dataset_delete(*, dataset: Dataset) -> None:
    if dataset.training_runs.exists():
        raise JobRefused(f"Dataset {dataset.name} was used by training runs; it is kept for their record")
    if dataset.file:
        dataset.file.delete(save=False)
    dataset.delete()


# --------------------------------------------------------------------------------------------
# Job bookkeeping

def _log(job, line: str) -> None:
    stamp = timezone.now().strftime("%H:%M:%S")
    job.log = (job.log + f"[{stamp}] {line}\n")[-200_000:]
    logger.info("%s %s: %s", type(job).__name__, job.pk, line)


def _start(job) -> bool:
    """Mark a job running; False when it already finished (a redelivered task) or was cancelled."""
    job.refresh_from_db()
    if job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        return False
    job.status, job.started_at, job.error = JobStatus.RUNNING, job.started_at or timezone.now(), ""
    job.save(update_fields=["status", "started_at", "error"] + (["log"] if hasattr(job, "log") else []))
    return True


def _finish(job, status: str, *, error: str = "", fields: tuple[str, ...] = ()) -> None:
    job.status, job.error, job.finished_at = status, error[:5000], timezone.now()
    if status == JobStatus.SUCCEEDED:
        job.progress = 1.0
    job.save(update_fields=["status", "error", "finished_at", "progress", *fields]
             + (["log"] if hasattr(job, "log") else []))


def _fail_message(exc: BaseException) -> str:
    from celery.exceptions import SoftTimeLimitExceeded
    if isinstance(exc, SoftTimeLimitExceeded):
        return "Stopped: the job ran past its time limit"
    if isinstance(exc, (EngineError, JobRefused, ValueError, OSError)):
        return str(exc)
    return f"Unexpected error ({type(exc).__name__}: {exc}); see the log"


# --------------------------------------------------------------------------------------------
# Training

# A running training whose last epoch ended longer ago than this is taken for dead (its worker was
# lost) when its task is delivered again, and resumes from its checkpoint. Longer than any epoch.
TRAINING_STALE_AFTER_S = 30 * 60

TRAINING_DEFAULTS = {
    "preset": "vgg-s", "epochs": 30, "batch_size": 128, "learning_rate": 0.05, "warmup_epochs": 2,
    "augmentation": "strong", "class_weighting": "sqrt", "weight_decay": 5e-4, "label_smoothing": 0.1,
    "patience": 0, "seed": 7, "mixed_precision": False, "limit_per_class": None, "val_data": None,
    "val_dataset_id": None, "version": "", "output_dir": None,
    "init_model_version_id": None,  # fine-tune: start from this model version's weights
}


def _validate_training_config(config: dict) -> dict:
    unknown = set(config) - set(TRAINING_DEFAULTS)
    if unknown:
        raise JobRefused(f"Unknown training options: {', '.join(sorted(unknown))}")
    cfg = {**TRAINING_DEFAULTS, **{k: v for k, v in config.items() if v is not None}}
    if cfg["preset"] not in ARCHITECTURE_PRESETS:
        raise JobRefused(f"Unknown architecture preset {cfg['preset']!r}; choose one of {', '.join(ARCHITECTURE_PRESETS)}")
    if cfg["augmentation"] not in AUGMENTATIONS:
        raise JobRefused(f"Augmentation must be one of {', '.join(AUGMENTATIONS)}")
    if cfg["class_weighting"] not in CLASS_WEIGHTINGS:
        raise JobRefused(f"Class weighting must be one of {', '.join(CLASS_WEIGHTINGS)}")
    checks = [("epochs", 1, 1000), ("batch_size", 1, 8192), ("warmup_epochs", 0, 100), ("patience", 0, 1000)]
    for key, lo, hi in checks:
        try:
            cfg[key] = int(cfg[key])
        except (TypeError, ValueError):
            raise JobRefused(f"{key.replace('_', ' ')} must be a whole number") from None
        if not lo <= cfg[key] <= hi:
            raise JobRefused(f"{key.replace('_', ' ')} must be between {lo} and {hi}")
    for key in ("learning_rate", "weight_decay", "label_smoothing"):
        try:
            cfg[key] = float(cfg[key])
        except (TypeError, ValueError):
            raise JobRefused(f"{key.replace('_', ' ')} must be a number") from None
        if not math.isfinite(cfg[key]) or cfg[key] < 0 or (key == "learning_rate" and not 0 < cfg[key] <= 10):
            raise JobRefused(f"{key.replace('_', ' ')} is out of range")
    if cfg["limit_per_class"] is not None:
        cfg["limit_per_class"] = int(cfg["limit_per_class"])
        if cfg["limit_per_class"] < 1:
            raise JobRefused("limit per class must be at least 1")
    if cfg["val_data"]:
        val = Path(cfg["val_data"]).expanduser().resolve()
        if not val.exists():
            raise JobRefused(f"Validation data {cfg['val_data']} does not exist")
        cfg["val_data"] = str(val)
    if cfg["val_dataset_id"] is not None and not Dataset.objects.filter(pk=cfg["val_dataset_id"]).exists():
        raise JobRefused("The validation dataset does not exist")
    if cfg["init_model_version_id"] is not None:
        start = ModelVersion.objects.filter(pk=cfg["init_model_version_id"]).first()
        if start is None:
            raise JobRefused("The model version to start from does not exist")
        if start.architecture and start.architecture != cfg["preset"]:
            raise JobRefused(f"The model version to start from, {start.name}, is a {start.architecture!r} "
                             f"network; train with --preset {start.architecture} to fine-tune it")
    if cfg["output_dir"]:
        cfg["output_dir"] = str(Path(cfg["output_dir"]).expanduser().resolve())
    if cfg["version"] and ModelVersion.objects.filter(name=cfg["version"]).exists():
        raise JobRefused(f"A model version named {cfg['version']!r} already exists")
    cfg["mixed_precision"] = bool(cfg["mixed_precision"])
    return cfg


def training_run_start(*, dataset: Dataset, config: dict | None = None, created_by=None,
                       enqueue: bool = True) -> TrainingRun:
    """Record a queued training run on a labelled dataset and (by default) enqueue it."""
    if dataset.status != Dataset.Status.READY:
        raise JobRefused(f"Dataset {dataset.name} is not ready: {dataset.error or dataset.status}")
    if not dataset.labelled or sum(dataset.class_counts.values()) < dataset.n_images:
        raise JobRefused(f"Dataset {dataset.name} is not fully labelled; training needs a label for every image")
    cfg = _validate_training_config(config or {})
    run = TrainingRun.objects.create(dataset=dataset, config=cfg, created_by=created_by)
    if enqueue:
        _on_commit_send("run_training", run.pk)
    return run


def training_run_cancel(*, run: TrainingRun, by=None) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops after its current epoch."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.status == JobStatus.QUEUED:
            run.status, run.finished_at = JobStatus.CANCELLED, timezone.now()
            _log(run, f"cancelled before it started{f' by {by}' if by else ''}")
        elif run.status == JobStatus.RUNNING:
            run.cancel_requested = True
            _log(run, f"cancel requested{f' by {by}' if by else ''}; stopping after the current epoch")
        run.save(update_fields=["status", "finished_at", "cancel_requested", "log"])
    return run


def _training_version_name(run: TrainingRun) -> str:
    return run.config.get("version") or f"{run.dataset.name}-{run.config['preset']}-run{run.pk}"


def training_run_execute(*, run: TrainingRun, echo: Callable[[str], None] | None = None) -> TrainingRun:
    """Train (resuming from the run's checkpoint if a worker died mid-way) and register the result."""
    run.refresh_from_db()
    stale_after = getattr(settings, "EMO7ION_TRAINING_STALE_AFTER", TRAINING_STALE_AFTER_S)
    if (run.status == JobStatus.RUNNING and run.heartbeat_at
            and (timezone.now() - run.heartbeat_at).total_seconds() < stale_after):
        # Another worker is training it right now (the broker redelivered a task that is still running).
        logger.info("training run %s is alive on another worker; this delivery does nothing", run.pk)
        return run
    if not _start(run):
        return run
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    if run.cancel_requested:
        _finish(run, JobStatus.CANCELLED)
        return run
    from ml.engine.training import TrainingConfig, train

    def say(line: str) -> None:
        _log(run, line)
        if echo:
            echo(line)

    cfg = dict(run.config)
    name = _training_version_name(run)
    out = Path(cfg.get("output_dir") or Path(settings.EMO7ION_MODEL_DIR) / get_valid_filename(name))
    try:
        train_path = dataset_local_path(run.dataset)
        val_path = cfg.get("val_data")
        if cfg.get("val_dataset_id"):
            val_path = str(dataset_local_path(Dataset.objects.get(pk=cfg["val_dataset_id"])))
        if val_path and "train" in _split_dirs(train_path):
            # Validation comes from elsewhere: read only train/ (as the shipped model's command did), so
            # the other splits are neither decoded nor counted in the training data's content hash.
            train_path = _split_dirs(train_path)["train"]
        init_model = (ModelVersion.objects.get(pk=cfg["init_model_version_id"]).file
                      if cfg.get("init_model_version_id") else None)
        engine_cfg = TrainingConfig(
            train_data=str(train_path), output_dir=str(out), val_data=val_path, dataset_name=run.dataset.name,
            version=name, init_model=init_model,
            **{k: v for k, v in cfg.items()
               if k not in ("val_data", "val_dataset_id", "version", "output_dir", "init_model_version_id")})
        say(f"training {name}: preset {cfg['preset']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, "
            f"learning rate {cfg['learning_rate']}, augmentation {cfg['augmentation']} on {run.dataset.name}"
            + (f", validating on {val_path}" if val_path else ""))
        run.save(update_fields=["log"])

        def on_epoch(epoch: int, total: int, row: dict) -> None:
            run.history = [*[h for h in run.history if h.get("epoch") != epoch], row]
            run.progress = epoch / total
            run.heartbeat_at = timezone.now()
            parts = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch",) and isinstance(v, float))
            say(f"epoch {epoch}/{total}: {parts}")
            run.save(update_fields=["history", "progress", "log", "heartbeat_at"])

        def should_stop() -> bool:
            return TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

        result = train(engine_cfg, on_epoch=on_epoch, should_stop=should_stop)
        if result.cancelled:
            say(f"cancelled after {len(result.history)} epochs; no model version registered")
            shutil.rmtree(out, ignore_errors=True)
            _finish(run, JobStatus.CANCELLED)
            return run
        mv = registry.register_model_file(result.model_path, name=name)
        ModelVersion.objects.filter(pk=mv.pk).update(training_dataset=run.dataset)
        run.model_version = mv
        val = mv.metrics.get("validation", {})
        say(f"registered model version {name} ({result.wall_time_s:.0f} s)"
            + (f"; validation accuracy {val['accuracy']:.1%}" if val.get("accuracy") is not None else ""))
        _finish(run, JobStatus.SUCCEEDED, fields=("model_version",))
    except BaseException as exc:  # noqa: BLE001 - the row must say what happened, whatever it was
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        say("failed: " + _fail_message(exc))
        logger.debug("training run %s failed:\n%s", run.pk, traceback.format_exc())
        if not isinstance(exc, (EngineError, JobRefused)):
            run.log += traceback.format_exc()[-4000:]
        _finish(run, JobStatus.FAILED, error=_fail_message(exc))
    return run


# --------------------------------------------------------------------------------------------
# Reading faces for evaluations and audits

class _CountingDetector:
    """Passes detection through and remembers whether the last call found a face, so an audit can
    say how many images the detector cropped and how many were used whole."""

    def __init__(self, detector):
        self._detector = detector
        self.name = detector.name
        self.found = 0

    def detect(self, image):
        boxes = self._detector.detect(image)
        self.found = len(boxes)
        return boxes


def _face_cropper(mode: str, detector_name: str | None, stats: dict):
    """The production crop (ml.engine.faces.crop_face_or_whole with the pipeline's detector): the
    most confident face framed as FER2013, or the whole image when none is found (it is the face)."""
    if mode not in FACE_MODES:
        raise JobRefused(f"Face mode must be one of {', '.join(FACE_MODES)}")
    stats.update(mode=mode, detector=None, cropped_by_detector=0, whole_image=0)
    if mode == "whole":
        def whole(grey):
            stats["whole_image"] += 1
            return grey
        return whole
    from ml import runtime
    from ml.engine.faces import crop_face_or_whole
    detector = _CountingDetector(runtime.get_detector(detector_name or None))
    stats["detector"] = detector.name

    def crop(grey: np.ndarray) -> np.ndarray:
        if mode == "auto" and max(grey.shape[:2]) <= AUTO_WHOLE_MAX_SIDE:
            stats["whole_image"] += 1
            return grey
        detector.found = 0
        face = crop_face_or_whole(grey, detector, size=FACE_SIZE)
        stats["cropped_by_detector" if detector.found else "whole_image"] += 1
        return face
    return crop


def _resolve_data(job) -> tuple[Path, str]:
    if job.dataset_id:
        return dataset_local_path(job.dataset), job.dataset.name
    if job.data_path:
        path = Path(job.data_path)
        if not path.exists():
            raise JobRefused(f"{job.data_path} does not exist")
        return path, job.data_path
    raise JobRefused("Give a dataset or a data path")


def _to_model_labels(data: FaceDataset, model_labels: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Dataset labels (EMOTIONS order) as indices into the model's own labels; -1 where the image has
    no label or a label the model does not know (counted, so it can be reported)."""
    mapping = {i: (model_labels.index(label) if label in model_labels else -1) for i, label in enumerate(EMOTIONS)}
    y = np.asarray([mapping.get(int(v), -1) if v >= 0 else -1 for v in data.labels], dtype=np.int64)
    unknown: dict[str, int] = {}
    for i, label in enumerate(EMOTIONS):
        if mapping[i] < 0 and (data.labels == i).any():
            unknown[label] = int((data.labels == i).sum())
    return y, unknown


def _classify(model_version: ModelVersion, images: np.ndarray, tta: bool) -> tuple[np.ndarray, float]:
    """Probabilities and faces/second of batched classification (after one untimed warm-up batch,
    so graph tracing is not counted as throughput)."""
    from ml import runtime
    clf = runtime.get_classifier(model_version, tta_flip=tta)
    clf.predict_proba(images[:256])
    t0 = time.perf_counter()
    probs = clf.predict_proba(images, batch_size=256)
    dt = time.perf_counter() - t0
    return probs, (len(images) / dt if dt > 0 else 0.0)


# --------------------------------------------------------------------------------------------
# Evaluations

def evaluation_run(*, model_version: ModelVersion, dataset: Dataset | None = None, data_path: str = "",
                   split: str = "", tta: bool = False, faces: str = "auto", created_by=None,
                   enqueue: bool = True) -> Evaluation:
    """Record an evaluation of a model version on a labelled dataset (or a server path)."""
    if dataset is None and not data_path:
        raise JobRefused("Give a dataset or a data path to evaluate on")
    if dataset is not None and not dataset.labelled:
        raise JobRefused(f"Dataset {dataset.name} has no labels; use a bias audit for an unlabelled set")
    if faces not in FACE_MODES:
        raise JobRefused(f"Face mode must be one of {', '.join(FACE_MODES)}")
    if split not in ("", "train", "val", "test", "all"):
        raise JobRefused("Split must be train, val, test or all")
    ev = Evaluation.objects.create(model_version=model_version, dataset=dataset,
                                   data_path=str(Path(data_path).expanduser().resolve()) if data_path else "",
                                   split=split, tta=tta, faces=faces, created_by=created_by)
    if enqueue:
        _on_commit_send("run_evaluation", ev.pk)
    return ev


_SPLIT_ALIASES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                  "publictest": "val", "test": "test", "testing": "test", "privatetest": "test"}


def _split_dirs(path: Path) -> dict[str, Path]:
    """Split name -> top-level folder, for a folder laid out as train/ val/ test/."""
    if not path.is_dir():
        return {}
    found = {}
    for child in sorted(path.iterdir()):
        key = _SPLIT_ALIASES.get(child.name.lower())
        if child.is_dir() and key and key not in found:
            found[key] = child
    return found


def _split_folder(path: Path, split: str) -> tuple[Path | None, str]:
    dirs = _split_dirs(path)
    if split in dirs:
        return dirs[split], split
    if not split and "val" in dirs and len(dirs) > 1:
        return dirs["val"], "val"
    return None, ""


def _choose_split(data: FaceDataset, split: str) -> tuple[FaceDataset, str, str]:
    present = sorted(set(data.splits.tolist()))
    if split:
        if split == "all":
            return data, "all", "evaluated on every image (all splits)"
        if split not in present:
            raise JobRefused(f"This set has no {split!r} split; it has: {', '.join(present)}")
        return data.split(split), split, f"evaluated on the {split} split, as asked"
    if "val" in present and len(present) > 1:
        return data.split("val"), "val", (f"this set has splits {', '.join(present)}: evaluated on the val split "
                                          "by default (ask for another with --split)")
    if len(present) == 1:
        return data, present[0], "evaluated on every image"
    if "test" in present:
        return data.split("test"), "test", "no val split: evaluated on the test split"
    return data, "all", "evaluated on every image"


def evaluation_execute(*, evaluation: Evaluation) -> Evaluation:
    ev = evaluation
    if not _start(ev):
        return ev
    started = time.perf_counter()
    try:
        mv = ev.model_version
        path, data_name = _resolve_data(ev)
        face_stats: dict = {}
        split_dir, split_name = _split_folder(path, ev.split)
        _log(ev, f"reading {data_name}" + (f" ({split_dir.name}/ only)" if split_dir else ""))
        data = read_dataset(split_dir or path, face_cropper=_face_cropper(ev.faces, None, face_stats))
        if split_dir is not None:
            # Read only the split's folder: decoding (and detecting faces in) the training images
            # would cost time and say nothing.
            data.splits[:] = split_name
            note = (f"evaluated on the {split_name} split, as asked" if ev.split else
                    f"this set has {', '.join(_split_dirs(path))} splits: evaluated on the {split_name} split by "
                    "default (ask for another with --split)")
            split = split_name
        else:
            data, split, note = _choose_split(data, ev.split)
        y_true, not_in_model = _to_model_labels(data, list(mv.labels))
        skipped = {**data.skipped_labels, **not_in_model}
        keep = y_true >= 0
        if not keep.any():
            raise JobRefused("No image has a label this model knows"
                             + (f" (skipped: {', '.join(skipped)})" if skipped else "")
                             + "; an unlabelled set needs a bias audit, not an evaluation")
        ev.progress = 0.5
        ev.save(update_fields=["progress", "log"])
        probs, fps = _classify(mv, data.images[keep], ev.tta)
        from ml.engine.evaluation import evaluate_predictions
        metrics = evaluate_predictions(y_true[keep], probs.argmax(1), tuple(mv.labels))
        metrics.update({
            "model_version": mv.name, "data": data_name, "split": split, "note": note, "tta": ev.tta,
            "faces": face_stats, "skipped_labels": skipped, "unreadable": len(data.unreadable),
            "faces_per_second": round(fps, 1), "wall_time_s": round(time.perf_counter() - started, 2),
            "evaluation_id": ev.pk,
        })
        if skipped:
            _log(ev, "skipped labels the model does not know: "
                 + ", ".join(f"{k} ({v})" for k, v in sorted(skipped.items())))
        _log(ev, f"{metrics['n']} faces: accuracy {metrics['accuracy']:.1%}, balanced {metrics['balanced_accuracy']:.1%}, "
                 f"macro-F1 {metrics['macro_f1']:.3f}; {fps:.0f} faces/s")
        ev.metrics = metrics
        _finish(ev, JobStatus.SUCCEEDED, fields=("metrics",))
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        _log(ev, "failed: " + _fail_message(exc))
        if not isinstance(exc, (EngineError, JobRefused)):
            ev.log += traceback.format_exc()[-4000:]
        _finish(ev, JobStatus.FAILED, error=_fail_message(exc))
    return ev


# --------------------------------------------------------------------------------------------
# Bias audits

def bias_audit_run(*, model_version: ModelVersion, dataset: Dataset | None = None, data_path: str = "",
                   attributes: list[str] | None = None, gap_threshold: float = 0.10, ratio_threshold: float = 0.80,
                   min_group_size: int = 20, faces: str = "auto", detector: str = "", created_by=None,
                   enqueue: bool = True) -> BiasAudit:
    """Record a bias audit of a model version on an audit set (a manifest with group attributes)."""
    if dataset is None and not data_path:
        raise JobRefused("Give an audit dataset or a data path")
    attributes = [a.strip() for a in (attributes or []) if a and a.strip()]
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
        from ml.engine.detectors import DETECTOR_NAMES
        if detector not in DETECTOR_NAMES:
            raise JobRefused(f"Unknown detector {detector!r}; choose {' or '.join(DETECTOR_NAMES)}")
    audit = BiasAudit.objects.create(
        model_version=model_version, dataset=dataset,
        data_path=str(Path(data_path).expanduser().resolve()) if data_path else "", attributes=attributes,
        gap_threshold=gap_threshold, ratio_threshold=ratio_threshold, min_group_size=min_group_size,
        faces=faces, detector=detector, created_by=created_by)
    if enqueue:
        _on_commit_send("run_bias_audit", audit.pk)
    return audit


def bias_audit_execute(*, audit: BiasAudit) -> BiasAudit:
    if not _start(audit):
        return audit
    started = time.perf_counter()
    try:
        from ml.engine.bias import audit as engine_audit
        mv = audit.model_version
        path, data_name = _resolve_data(audit)
        face_stats: dict = {}
        _log(audit, f"reading {data_name} (faces: {audit.faces})")
        data = read_dataset(path, face_cropper=_face_cropper(audit.faces, audit.detector or None, face_stats))
        if not data.attributes:
            raise JobRefused(f"{data_name} has no group attributes: an audit set needs a manifest.csv "
                             "(path,label,<attribute columns...>)")
        if face_stats.get("detector"):
            audit.detector = face_stats["detector"]
        audit.progress = 0.5
        audit.save(update_fields=["progress", "detector", "log"])
        y_true, not_in_model = _to_model_labels(data, list(mv.labels))
        probs, fps = _classify(mv, data.images, False)
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
        _log(audit, f"{result['n']} faces ({face_stats.get('cropped_by_detector', 0)} cropped by the "
                    f"{face_stats.get('detector') or 'no'} detector); verdict {result['verdict']} with "
                    f"{len(result['flags'])} flag(s)")
        for flag in result["flags"]:
            _log(audit, "flag: " + flag["message"])
        _finish(audit, JobStatus.SUCCEEDED, fields=("result", "verdict", "attributes", "detector"))
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        _log(audit, "failed: " + _fail_message(exc))
        if not isinstance(exc, (EngineError, JobRefused)):
            audit.log += traceback.format_exc()[-4000:]
        _finish(audit, JobStatus.FAILED, error=_fail_message(exc))
    return audit


# --------------------------------------------------------------------------------------------
# Registration and promotion

def model_version_register(*, path, name: str | None = None, by=None) -> ModelVersion:
    """Register a `.keras` file (metadata JSON beside it) as a version; it is not activated."""
    try:
        return registry.register_model_file(path, name=name or None)
    except EngineError as exc:
        raise JobRefused(str(exc)) from exc


def promotion_blockers(model_version: ModelVersion) -> list[str]:
    """What a version lacks before it may become active (empty when it may)."""
    missing = []
    if not model_version.evaluations.filter(status=JobStatus.SUCCEEDED).exists():
        missing.append("succeeded evaluation")
    if not model_version.bias_audits.filter(status=JobStatus.SUCCEEDED).exists():
        missing.append("succeeded bias audit")
    return missing


def model_version_activate(*, model_version: ModelVersion, by=None, note: str = "") -> ModelVersion:
    """Make a version the active default for new analyses. Analyses already queued or running keep
    the version they were created with (their own foreign key)."""
    model_version.refresh_from_db(fields=["is_active"])
    if model_version.is_active:
        return model_version
    missing = promotion_blockers(model_version)
    if missing:
        raise PromotionRefused(
            f"Model version {model_version.name} cannot be activated: it has no {' and no '.join(missing)}. "
            "Evaluate it on a labelled dataset and audit it for bias first.")
    return registry.activate_version(model_version, by=by, note=note or "promoted")


def model_version_rollback(*, by=None) -> ModelVersion:
    """Reactivate the version that was active before the current one (logged as a rollback)."""
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        last = (ModelActivation.objects.filter(model_version=current).select_related("previous").first()
                if current else None)
        target = last.previous if last else None
        if target is None:
            raise PromotionRefused("There is no earlier active version to roll back to")
        return registry.activate_version(target, by=by, is_rollback=True,
                                         note=f"rolled back from {current.name}")
