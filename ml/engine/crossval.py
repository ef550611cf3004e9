"""k-fold cross-validation of a training recipe: how much a recipe's scores move with the data it sees.

The labelled faces are split into k stratified folds; fold i trains on the other k-1 and is scored on
fold i with the recipe's own test-time crop. The result gives each fold's metrics and, per metric, the
mean and (sample) standard deviation over folds.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from .datasets import FaceDataset
from .errors import DatasetError
from .training import EpochCallback, TrainingConfig, _load_data, train

SUMMARISED = ("accuracy", "balanced_accuracy", "macro_f1")
FoldCallback = Callable[[int, int, dict], None]  # (fold, folds, fold result)


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """A fold number (0..k-1) per face: each class is shuffled and dealt round-robin, so every fold
    holds nearly the same share of every class."""
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rng.shuffle(idx)
        folds[idx] = (np.arange(len(idx)) + offset) % k
        offset += len(idx)  # start the next class where this one stopped: folds stay the same size
    return folds


def _mean_sd(values: list[float]) -> dict:
    arr = np.asarray(values, np.float64)
    return {"mean": round(float(arr.mean()), 4), "sd": round(float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, 4)}


def cross_validate(config: TrainingConfig, folds: int, *, on_fold: FoldCallback | None = None,
                   on_epoch: EpochCallback | None = None,
                   should_stop: Callable[[], bool] | None = None) -> dict:
    """Train the recipe `folds` times, each under `<output_dir>/fold-<i>`; return per-fold metrics and
    the mean ± sd of each summarised metric (and of each class's recall)."""
    if folds < 2:
        raise DatasetError("Cross-validation needs at least 2 folds")
    data, _ = _load_data(replace(config, val_data=None))
    labelled = data.subset(data.labels >= 0)
    smallest = min((int((labelled.labels == c).sum()) for c in np.unique(labelled.labels)), default=0)
    if smallest < folds:
        raise DatasetError(f"Every class needs at least {folds} faces for {folds} folds; the smallest has {smallest}")
    assignment = stratified_folds(labelled.labels, folds, config.seed)
    results: list[dict] = []
    cancelled = False
    for fold in range(folds):
        held_out = assignment == fold
        fold_data = (_with_split(labelled.subset(~held_out), "train"), _with_split(labelled.subset(held_out), "val"))
        fold_config = replace(config, output_dir=str(Path(config.output_dir) / f"fold-{fold + 1}"),
                              version=f"{config.version or 'cv'}-fold-{fold + 1}")
        result = train(fold_config, on_epoch=on_epoch, should_stop=should_stop, datasets=fold_data)
        from .classifier import read_metadata
        metrics = read_metadata(result.model_path)["metrics"].get("validation", {}) if result.model_path else {}
        row = {"fold": fold + 1, "n_train": len(fold_data[0]), "n_val": len(fold_data[1]),
               **{k: metrics.get(k) for k in SUMMARISED},
               "recall": {label: m["recall"] for label, m in metrics.get("per_class", {}).items()},
               "cancelled": result.cancelled}
        results.append(row)
        if on_fold:
            on_fold(fold + 1, folds, row)
        if result.cancelled:
            cancelled = True
            break
    complete = [r for r in results if not r["cancelled"] and r["accuracy"] is not None]
    summary = {k: _mean_sd([r[k] for r in complete]) for k in SUMMARISED} if complete else {}
    if complete:
        summary["recall"] = {label: _mean_sd([r["recall"][label] for r in complete])
                             for label in complete[0]["recall"]}
    return {"folds": folds, "results": results, "summary": summary, "cancelled": cancelled}


def _with_split(data: FaceDataset, split: str) -> FaceDataset:
    data.splits = np.full(len(data), split)
    return data
