"""Hyper-parameter search with KerasTuner (Hyperband or random search) over a VGG-style family.

The searched knobs are the ones the seeds tuned by hand: dropout, stage widths, dense units and the
learning rate. A search has a budget of trials x epochs, reports each finished trial, can be
cancelled between epochs, and returns a results table plus the best hyper-parameters as a
`TrainingConfig` overlay, so "train with the best" is an ordinary training run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .datasets import FACE_SIZE
from .errors import ConfigurationError
from .labels import EMOTIONS

ALGORITHMS = ("hyperband", "random")
TrialCallback = Callable[[int, int, dict], None]  # (trials done, max trials, trial row)


@dataclass
class TuningConfig:
    train_data: str
    output_dir: str
    val_data: str | None = None
    algorithm: str = "random"
    max_trials: int = 6
    epochs_per_trial: int = 5
    batch_size: int = 128
    limit_per_class: int | None = None
    seed: int = 7


def _hyper_model(hp):
    import keras

    from .architectures import build_model
    model = build_model("tuned", FACE_SIZE, 0.0, width=hp.Choice("width", [0.5, 0.75, 1.0]),
                        dense_units=hp.Choice("dense_units", [128, 256, 512]),
                        dropout=hp.Float("dropout", 0.2, 0.6, step=0.1))
    model.compile(optimizer=keras.optimizers.SGD(hp.Float("learning_rate", 0.005, 0.1, sampling="log"),
                                                 momentum=0.9, nesterov=True),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _make_tuner(config: TuningConfig):
    import keras_tuner as kt
    common = dict(objective="val_accuracy", directory=str(Path(config.output_dir)), project_name="search",
                  overwrite=True, seed=config.seed)
    if config.algorithm == "random":
        return kt.RandomSearch(_hyper_model, max_trials=config.max_trials, **common)
    if config.algorithm == "hyperband":
        # Hyperband spends at most max_epochs on a trial; its bracket sizes follow from it, so the trial
        # budget caps the search by stopping once max_trials trials have run.
        return kt.Hyperband(_hyper_model, max_epochs=config.epochs_per_trial, factor=3,
                            hyperband_iterations=1, max_consecutive_failed_trials=2, **common)
    raise ConfigurationError(f"Unknown search algorithm {config.algorithm!r}; use {' or '.join(ALGORITHMS)}")


def tune(config: TuningConfig, *, on_trial: TrialCallback | None = None,
         should_stop: Callable[[], bool] | None = None) -> dict:
    """Run the search; return {"trials": [...], "best": {...}, "cancelled": bool}. Each trial row has
    its hyper-parameters, best validation accuracy and epochs run."""
    import keras
    import keras_tuner as kt

    from .training import _load_data, TrainingConfig

    train_data, val_data = _load_data(TrainingConfig(train_data=config.train_data, output_dir=config.output_dir,
                                                     val_data=config.val_data,
                                                     limit_per_class=config.limit_per_class))
    if val_data is None or not len(val_data):
        raise ConfigurationError("Tuning needs validation faces: a val/ split in the data, or val_data")
    keras.utils.set_random_seed(config.seed)
    x_train, y_train = train_data.images[..., None].astype(np.float32), train_data.labels
    x_val, y_val = val_data.images[..., None].astype(np.float32), val_data.labels
    tuner = _make_tuner(config)
    rows: list[dict] = []

    class _Cancelled(kt.errors.FatalError):
        pass

    class _Watch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if should_stop and should_stop():
                raise _Cancelled("cancelled")

    original_end = tuner.on_trial_end

    def on_trial_end(trial):
        original_end(trial)
        score = trial.score
        row = {"trial": trial.trial_id, "hyperparameters": dict(trial.hyperparameters.values),
               "val_accuracy": round(float(score), 4) if score is not None else None,
               "status": str(trial.status)}
        rows.append(row)
        if on_trial:
            on_trial(len(rows), config.max_trials, row)
        if len(rows) >= config.max_trials:
            tuner.oracle.max_trials = len(rows)  # the trial budget is spent: the oracle stops the search

    tuner.on_trial_end = on_trial_end
    cancelled = False
    try:
        tuner.search(x_train, y_train, validation_data=(x_val, y_val), epochs=config.epochs_per_trial,
                     batch_size=config.batch_size, callbacks=[_Watch()], verbose=0)
    except _Cancelled:
        cancelled = True
    finished = [r for r in rows if r["val_accuracy"] is not None]
    best = max(finished, key=lambda r: r["val_accuracy"]) if finished else None
    result = {"algorithm": config.algorithm, "max_trials": config.max_trials,
              "epochs_per_trial": config.epochs_per_trial, "trials": rows, "best": best, "cancelled": cancelled,
              "labels": list(EMOTIONS)}
    Path(config.output_dir, "results.json").write_text(json.dumps(result, indent=1))
    return result


def training_overrides(best_hyperparameters: dict) -> dict:
    """The searched values as training options ("train with the best"): the `tuned` architecture with
    the found width, dense units and dropout, and the found learning rate."""
    return {"preset": "tuned", "learning_rate": float(best_hyperparameters["learning_rate"]),
            "architecture_options": {k: best_hyperparameters[k] for k in ("width", "dense_units", "dropout")}}
