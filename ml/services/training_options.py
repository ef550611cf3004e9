"""The options a training run (or a k-fold cross-validation, or a tuning run's data) accepts: their
defaults, the checks that refuse bad ones with a message for a person, and where the faces come from."""
from __future__ import annotations

import math
from pathlib import Path

from ml.engine.datasets import FACE_SIZE, split_dirs
from ml.models import Dataset, ModelVersion
from ml.selectors import dataset_local_path

from .errors import JobRefused
from .jobs import STALE_AFTER_S

# The engine's architecture presets (ml.engine.architectures.PRESETS). Repeated here because that
# module imports Keras, and web processes must not pay for TensorFlow to render a form; a test
# keeps the two lists equal.
ARCHITECTURE_PRESETS = ("tiny", "small", "vgg-s", "vgg", "vgg-m", "resnet-m", "tuned")
AUGMENTATIONS = ("none", "light", "strong")
CLASS_WEIGHTINGS = ("none", "sqrt", "balanced")
MAX_FOLDS = 20

# A running training whose last epoch ended longer ago than this is taken for dead (its worker was
# lost) when its task is delivered again, and resumes from its checkpoint. Longer than any epoch.
TRAINING_STALE_AFTER_S = STALE_AFTER_S

TRAINING_DEFAULTS = {
    "preset": "vgg-s", "epochs": 30, "batch_size": 128, "learning_rate": 0.05, "warmup_epochs": 2,
    "augmentation": "strong", "class_weighting": "sqrt", "weight_decay": 5e-4, "label_smoothing": 0.1,
    "patience": 0, "seed": 7, "mixed_precision": False, "limit_per_class": None, "val_data": None,
    "val_dataset_id": None, "version": "", "output_dir": None,
    "init_model_version_id": None,  # fine-tune: start from this model version's weights
    "crop_size": 0,              # train on random crops of this side, test on the centre crop; 0 = whole face
    "swa_epochs": 0,             # average the weights of the last N epochs
    "max_minutes": 0,            # pause (resumable) before an epoch that would overrun; 0 = no limit
    "pause_after_epochs": 0,     # pause after this many epochs of each piece; 0 = off
    "architecture_options": None,  # the `tuned` preset's width, dense_units, dropout
    "folds": 0,                  # >= 2: k-fold cross-validation of the recipe instead of one model
}
# Options the service resolves itself; the rest go to the engine's TrainingConfig as they are.
SERVICE_OPTIONS = ("val_data", "val_dataset_id", "version", "output_dir", "init_model_version_id", "folds")
TUNED_OPTIONS = {"width": (0.05, 4.0), "dense_units": (8, 4096), "dropout": (0.0, 0.9)}


def _check_range(cfg: dict, key: str, kind, lo, hi, message: str) -> None:
    try:
        cfg[key] = kind(cfg[key])
    except (TypeError, ValueError):
        raise JobRefused(f"{key.replace('_', ' ')} must be {message}") from None
    if not (math.isfinite(cfg[key]) and lo <= cfg[key] <= hi):
        raise JobRefused(f"{key.replace('_', ' ')} must be between {lo} and {hi}")


def _validate_numbers(cfg: dict) -> None:
    for key, lo, hi in [("epochs", 1, 1000), ("batch_size", 1, 8192), ("warmup_epochs", 0, 100),
                        ("patience", 0, 1000), ("swa_epochs", 0, 1000), ("pause_after_epochs", 0, 1000),
                        ("folds", 0, MAX_FOLDS), ("crop_size", 0, FACE_SIZE)]:
        _check_range(cfg, key, int, lo, hi, "a whole number")
    for key in ("learning_rate", "weight_decay", "label_smoothing"):
        try:
            cfg[key] = float(cfg[key])
        except (TypeError, ValueError):
            raise JobRefused(f"{key.replace('_', ' ')} must be a number") from None
        if not math.isfinite(cfg[key]) or cfg[key] < 0 or (key == "learning_rate" and not 0 < cfg[key] <= 10):
            raise JobRefused(f"{key.replace('_', ' ')} is out of range")
    _check_range(cfg, "max_minutes", float, 0, 7 * 24 * 60, "a number of minutes")
    if cfg["limit_per_class"] is not None:
        cfg["limit_per_class"] = int(cfg["limit_per_class"])
        if cfg["limit_per_class"] < 1:
            raise JobRefused("limit per class must be at least 1")
    if cfg["crop_size"] and cfg["crop_size"] < 24:
        raise JobRefused(f"crop size must be 0 (the whole {FACE_SIZE} px face) or between 24 and {FACE_SIZE} px")
    if cfg["swa_epochs"] > cfg["epochs"]:
        raise JobRefused("SWA cannot average more epochs than the run has")
    if cfg["folds"] == 1:
        raise JobRefused("k-fold cross-validation needs at least 2 folds (0 trains one model)")


def _validate_architecture_options(cfg: dict) -> None:
    options = cfg["architecture_options"]
    if not options:
        cfg["architecture_options"] = None
        return
    if cfg["preset"] != "tuned" or not isinstance(options, dict):
        raise JobRefused("Architecture options (width, dense units, dropout) apply to the 'tuned' preset only")
    unknown = set(options) - set(TUNED_OPTIONS)
    if unknown:
        raise JobRefused(f"Unknown architecture options: {', '.join(sorted(unknown))}")
    for key, (lo, hi) in TUNED_OPTIONS.items():
        if key in options:
            _check_range(options, key, int if key == "dense_units" else float, lo, hi, "a number")


def _validate_run_shape(cfg: dict) -> None:
    """k-fold runs train k models in one go: they cannot pause, and validate on their own folds."""
    if cfg["folds"]:
        if cfg["max_minutes"] or cfg["pause_after_epochs"]:
            raise JobRefused("A k-fold cross-validation cannot pause: leave max minutes and pause after empty")
        if cfg["val_data"] or cfg["val_dataset_id"] is not None:
            raise JobRefused("A k-fold cross-validation validates on its own held-out folds: "
                             "leave the validation data empty")


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


def validate_training_config(config: dict) -> dict:
    """The full option set of a run (defaults filled in), or JobRefused saying what is wrong."""
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
    _validate_architecture_options(cfg)
    _validate_run_shape(cfg)
    _validate_references(cfg)
    cfg["mixed_precision"] = bool(cfg["mixed_precision"])
    return cfg


def check_trainable(dataset: Dataset) -> None:
    """A training or tuning run needs a ready dataset with a label for every image."""
    if dataset.status != Dataset.Status.READY:
        raise JobRefused(f"Dataset {dataset.name} is not ready: {dataset.error or dataset.status}")
    if not dataset.labelled or sum(dataset.class_counts.values()) < dataset.n_images:
        raise JobRefused(f"Dataset {dataset.name} is not fully labelled; training needs a label for every image")


def training_data_paths(dataset: Dataset, *, val_dataset: Dataset | None = None,
                        val_data: str | None = None) -> tuple[str, str | None]:
    """The local paths to train and validate on. With validation data from elsewhere only the
    dataset's train/ split is read (as the shipped model's command did), so the other splits are
    neither decoded nor counted in the training data's content hash."""
    train_path = dataset_local_path(dataset)
    val_path = str(dataset_local_path(val_dataset)) if val_dataset is not None else val_data
    if val_path and "train" in split_dirs(train_path):
        train_path = split_dirs(train_path)["train"]
    return str(train_path), val_path
