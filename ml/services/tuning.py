"""Tuning runs: a KerasTuner search (Hyperband or random) over dropout, widths, dense units and the
learning rate (ml.engine.tuning), with a budget of trials x epochs, progress per trial and cancel
between epochs. Its best hyper-parameters start an ordinary training run ("train with the best")."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.utils import timezone

from emo7ion_site.core.jobs import JobCancelled, JobStatus, enqueue_on_commit, task_id
from ml.engine.tuning import training_overrides
from ml.models import Dataset, TrainingRun, TuningRun

from .errors import JobRefused
from .jobs import alive_elsewhere, job_cancel, job_log, ml_job_run
from .training import training_run_start
from .training_options import check_trainable, training_data_paths

ALGORITHMS = tuple(TuningRun.Algorithm.values)
# (lowest, highest) of each budget number a search accepts.
TUNING_LIMITS = {"max_trials": (1, 200), "epochs_per_trial": (1, 500), "batch_size": (1, 8192)}


def _check_budget(numbers: dict) -> None:
    for key, (lo, hi) in TUNING_LIMITS.items():
        if not isinstance(numbers[key], int) or not lo <= numbers[key] <= hi:
            raise JobRefused(f"{key.replace('_', ' ')} must be a whole number between {lo} and {hi}")


def tuning_run_start(*, dataset: Dataset, val_dataset: Dataset | None = None, algorithm: str = "random",
                     max_trials: int = 6, epochs_per_trial: int = 5, batch_size: int = 128,
                     limit_per_class: int | None = None, seed: int = 7, created_by=None,
                     enqueue: bool = True) -> TuningRun:
    """Record a queued search on a labelled dataset and (by default) enqueue it."""
    check_trainable(dataset)
    if algorithm not in ALGORITHMS:
        raise JobRefused(f"Unknown search algorithm {algorithm!r}; use {' or '.join(ALGORITHMS)}")
    _check_budget({"max_trials": max_trials, "epochs_per_trial": epochs_per_trial, "batch_size": batch_size})
    if limit_per_class is not None and limit_per_class < 1:
        raise JobRefused("limit per class must be at least 1")
    if val_dataset is not None and not val_dataset.labelled:
        raise JobRefused(f"Dataset {val_dataset.name} has no labels: it cannot score trials")
    if val_dataset is None and not dataset.split_counts.get("val"):
        raise JobRefused(f"Dataset {dataset.name} has no val/ split to score trials on: choose a validation dataset")
    run = TuningRun.objects.create(
        dataset=dataset, val_dataset=val_dataset, algorithm=algorithm, max_trials=max_trials,
        epochs_per_trial=epochs_per_trial, batch_size=batch_size, limit_per_class=limit_per_class, seed=seed,
        created_by=created_by)
    if enqueue:
        enqueue_on_commit("ml.tasks.run_tuning", args=[run.pk], task_id=task_id("ml:tuning", run.pk))
    return run


def tuning_run_cancel(*, run: TuningRun, by=None) -> TuningRun:
    """A queued search is cancelled at once; a running one stops after its current epoch."""
    return job_cancel(run, by=by)


def tuning_run_execute(*, run: TuningRun, echo: Callable[[str], None] | None = None) -> TuningRun:
    """Run the search on the row's data and store every trial and the best (the task and the
    command call this)."""
    run.refresh_from_db()
    if alive_elsewhere(run):
        return run

    def say(line: str) -> None:
        job_log(run, line)
        if echo:
            echo(line)

    return ml_job_run(run, lambda: _search(run, say), log=say)


def _search(run: TuningRun, say: Callable[[str], None]) -> tuple[str, ...]:
    from ml.engine.tuning import TuningConfig, tune

    TuningRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    if run.cancel_requested:
        raise JobCancelled
    train_path, val_path = training_data_paths(run.dataset, val_dataset=run.val_dataset)
    out = Path(settings.EMO7ION_MODEL_DIR) / "tuning" / f"tuning-run{run.pk}"
    config = TuningConfig(train_data=train_path, output_dir=str(out), val_data=val_path, algorithm=run.algorithm,
                          max_trials=run.max_trials, epochs_per_trial=run.epochs_per_trial,
                          batch_size=run.batch_size, limit_per_class=run.limit_per_class, seed=run.seed)
    say(f"{run.get_algorithm_display()} on {run.dataset.name}: at most {run.max_trials} trials x "
        f"{run.epochs_per_trial} epochs, scored on "
        + (run.val_dataset.name if run.val_dataset else "its val split"))
    run.trials, run.best = [], {}
    run.save(update_fields=["trials", "best", "log"])

    def on_trial(done: int, total: int, row: dict) -> None:
        run.trials = [*run.trials, row]
        run.progress, run.heartbeat_at = min(1.0, done / total), timezone.now()
        score = f"{row['val_accuracy']:.1%}" if row["val_accuracy"] is not None else "none"
        say(f"trial {done}/{total}: validation accuracy {score} with "
            + ", ".join(f"{k} {v:g}" for k, v in sorted(row["hyperparameters"].items())))
        run.save(update_fields=["trials", "progress", "heartbeat_at", "log"])

    def should_stop() -> bool:  # after every epoch: also the heartbeat of a long trial
        TuningRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
        return TuningRun.objects.filter(pk=run.pk, cancel_requested=True).exists()

    try:
        result = tune(config, on_trial=on_trial, should_stop=should_stop)
    finally:
        shutil.rmtree(out, ignore_errors=True)  # KerasTuner's trial checkpoints: the row holds the results
    run.trials, run.best = result["trials"], result["best"] or {}
    if result["cancelled"]:
        say(f"cancelled after {len(run.trials)} trial(s)")
        run.save(update_fields=["trials", "best", "log"])
        raise JobCancelled
    if not run.best:
        raise JobRefused("No trial finished with a validation score")
    say(f"best: trial {run.best['trial']} with validation accuracy {run.best['val_accuracy']:.1%}")
    return ("trials", "best")


def tuning_run_train_best(*, run: TuningRun, epochs: int | None = None, created_by=None,
                          enqueue: bool = True) -> TrainingRun:
    """Start an ordinary training run with the search's best hyper-parameters (the `tuned` preset with
    the found width, dense units and dropout, and the found learning rate) on the same data."""
    if run.status != JobStatus.SUCCEEDED or not run.best:
        raise JobRefused(f"Tuning run {run.pk} has no best trial yet: only a finished search can train its best")
    config = {**training_overrides(run.best["hyperparameters"]), "batch_size": run.batch_size, "seed": run.seed,
              "limit_per_class": run.limit_per_class, "val_dataset_id": run.val_dataset_id, "epochs": epochs}
    training = training_run_start(dataset=run.dataset, config=config, created_by=created_by, enqueue=enqueue)
    TuningRun.objects.filter(pk=run.pk).update(best_training_run=training)
    run.best_training_run = training
    return training
