"""Training runs: validate the options, queue a run, cancel it, and train (resuming from the run's
checkpoint when a worker died mid-way), registering the result as a model version."""
from __future__ import annotations

import logging
import math
import shutil
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from emo7ion_site.core.jobs import JobCancelled, enqueue_on_commit, task_id
from ml import registry
from ml.engine.datasets import split_dirs
from ml.models import Dataset, JobStatus, ModelVersion, TrainingRun
from ml.selectors import dataset_local_path

from .errors import JobRefused
from .jobs import job_log, ml_job_run

logger = logging.getLogger(__name__)

# The engine's architecture presets (ml.engine.architectures.PRESETS). Repeated here because that
# module imports Keras, and web processes must not pay for TensorFlow to render a form; a test
# keeps the two lists equal.
ARCHITECTURE_PRESETS = ("tiny", "small", "vgg-s", "vgg", "vgg-m", "tuned")
AUGMENTATIONS = ("none", "light", "strong")
CLASS_WEIGHTINGS = ("none", "sqrt", "balanced")

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
# Options the service resolves itself; the rest go to the engine's TrainingConfig as they are.
_SERVICE_OPTIONS = ("val_data", "val_dataset_id", "version", "output_dir", "init_model_version_id")


def _validate_numbers(cfg: dict) -> None:
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


def _validate_references(cfg: dict) -> None:
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
    _validate_numbers(cfg)
    _validate_references(cfg)
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
        enqueue_on_commit("ml.tasks.run_training", args=[run.pk], task_id=task_id("ml:training", run.pk))
    return run


def training_run_cancel(*, run: TrainingRun, by=None) -> TrainingRun:
    """A queued run is cancelled at once; a running one stops after its current epoch."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.status == JobStatus.QUEUED:
            run.status, run.finished_at = JobStatus.CANCELLED, timezone.now()
            job_log(run, f"cancelled before it started{f' by {by}' if by else ''}")
        elif run.status == JobStatus.RUNNING:
            run.cancel_requested = True
            job_log(run, f"cancel requested{f' by {by}' if by else ''}; stopping after the current epoch")
        run.save(update_fields=["status", "finished_at", "cancel_requested", "log"])
    return run


def _training_version_name(run: TrainingRun) -> str:
    return run.config.get("version") or f"{run.dataset.name}-{run.config['preset']}-run{run.pk}"


def _alive_elsewhere(run: TrainingRun) -> bool:
    """True when another worker is training this run right now (the broker redelivered a task that
    is still running): its heartbeat is fresh."""
    stale_after = getattr(settings, "EMO7ION_TRAINING_STALE_AFTER", TRAINING_STALE_AFTER_S)
    return bool(run.status == JobStatus.RUNNING and run.heartbeat_at
                and (timezone.now() - run.heartbeat_at).total_seconds() < stale_after)


def training_run_execute(*, run: TrainingRun, echo: Callable[[str], None] | None = None) -> TrainingRun:
    """Train (resuming from the run's checkpoint if a worker died mid-way) and register the result.
    `echo` also receives every log line (the command prints them)."""
    run.refresh_from_db()
    if _alive_elsewhere(run):
        logger.info("training run %s is alive on another worker; this delivery does nothing", run.pk)
        return run

    def say(line: str) -> None:
        job_log(run, line)
        if echo:
            echo(line)

    return ml_job_run(run, lambda: _train(run, say), log=say)


def _engine_config(run: TrainingRun, name: str, out: Path):
    from ml.engine.training import TrainingConfig

    cfg = run.config
    train_path = dataset_local_path(run.dataset)
    val_path = cfg.get("val_data")
    if cfg.get("val_dataset_id"):
        val_path = str(dataset_local_path(Dataset.objects.get(pk=cfg["val_dataset_id"])))
    if val_path and "train" in split_dirs(train_path):
        # Validation comes from elsewhere: read only train/ (as the shipped model's command did), so
        # the other splits are neither decoded nor counted in the training data's content hash.
        train_path = split_dirs(train_path)["train"]
    init_model = (ModelVersion.objects.get(pk=cfg["init_model_version_id"]).file
                  if cfg.get("init_model_version_id") else None)
    return TrainingConfig(
        train_data=str(train_path), output_dir=str(out), val_data=val_path, dataset_name=run.dataset.name,
        version=name, init_model=init_model, **{k: v for k, v in cfg.items() if k not in _SERVICE_OPTIONS})


def _train(run: TrainingRun, say: Callable[[str], None]) -> tuple[str, ...]:
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    if run.cancel_requested:
        raise JobCancelled
    from ml.engine.training import train

    cfg = run.config
    name = _training_version_name(run)
    out = Path(cfg.get("output_dir") or Path(settings.EMO7ION_MODEL_DIR) / get_valid_filename(name))
    engine_cfg = _engine_config(run, name, out)
    say(f"training {name}: preset {cfg['preset']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, "
        f"learning rate {cfg['learning_rate']}, augmentation {cfg['augmentation']} on {run.dataset.name}"
        + (f", validating on {engine_cfg.val_data}" if engine_cfg.val_data else ""))
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
        raise JobCancelled
    mv = registry.register_model_file(result.model_path, name=name)
    ModelVersion.objects.filter(pk=mv.pk).update(training_dataset=run.dataset)
    run.model_version = mv
    val = mv.metrics.get("validation", {})
    say(f"registered model version {name} ({result.wall_time_s:.0f} s)"
        + (f"; validation accuracy {val['accuracy']:.1%}" if val.get("accuracy") is not None else ""))
    return ("model_version",)
