"""Training runs: queue a run (one model, or a k-fold cross-validation of the recipe), cancel, pause
and resume it, and train (resuming from the run's checkpoint when a worker died mid-way or the run
paused at its time budget). A trained model is registered as a version with its reference evaluation."""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from emo7ion_site.core.jobs import JobCancelled, JobPaused, enqueue_on_commit
from ml import registry
from ml.models import Dataset, ModelVersion, TrainingRun, TrainingStatus, data_name_for_path

from .errors import JobRefused
from .jobs import alive_elsewhere, job_cancel, job_log, ml_job_run, ml_job_task_id
from .reference import reference_evaluate_trained
from .training_options import SERVICE_OPTIONS, check_trainable, training_data_paths, validate_training_config

logger = logging.getLogger(__name__)


class TrainingPaused(JobPaused):
    """The run stopped at its time budget with a complete checkpoint: it is left paused."""

    def __init__(self):
        super().__init__(TrainingStatus.PAUSED)


def _enqueue(run: TrainingRun) -> None:
    # A resumed piece's id names the epoch it starts from: a second click on Resume sends the same id.
    enqueue_on_commit("ml.tasks.run_training", args=[run.pk], task_id=ml_job_task_id(run))


def training_run_start(*, dataset: Dataset, config: dict | None = None, created_by=None,
                       enqueue: bool = True) -> TrainingRun:
    """Record a queued training run on a labelled dataset and (by default) enqueue it. With
    `config["folds"]` >= 2 the run cross-validates the recipe instead of training one model."""
    check_trainable(dataset)
    cfg = validate_training_config(config or {})
    run = TrainingRun.objects.create(dataset=dataset, config=cfg, created_by=created_by)
    if enqueue:
        _enqueue(run)
    return run


def training_run_cancel(*, run: TrainingRun, by=None) -> TrainingRun:
    """A queued or paused run is cancelled at once (a paused run's checkpoint is deleted); a running
    one stops after its current epoch."""
    run.refresh_from_db(fields=["status"])
    was_paused = run.status == TrainingStatus.PAUSED
    run = job_cancel(run, by=by, stop_at_once=(TrainingStatus.QUEUED, TrainingStatus.PAUSED))
    if was_paused and run.status == TrainingStatus.CANCELLED:
        shutil.rmtree(_output_dir(run), ignore_errors=True)
    return run


def training_run_resume(*, run: TrainingRun, by=None, enqueue: bool = True) -> TrainingRun:
    """Queue the next piece of a paused run: it continues from its checkpoint, on the schedule an
    uninterrupted run would have followed."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.status != TrainingStatus.PAUSED:
            raise JobRefused(f"Training run {run.pk} is {run.status}: only a paused run can be resumed")
        run.status, run.cancel_requested = TrainingStatus.QUEUED, False
        job_log(run, f"resume queued{f' by {by}' if by else ''}: continues from epoch {len(run.history)}")
        run.save(update_fields=["status", "cancel_requested", "log"])
    if enqueue:
        _enqueue(run)
    return run


def training_run_execute(*, run: TrainingRun, echo: Callable[[str], None] | None = None) -> TrainingRun:
    """Train (resuming from the run's checkpoint if there is one) and register the result. `echo`
    also receives every log line (the command prints them)."""
    run.refresh_from_db()
    if alive_elsewhere(run):
        logger.info("training run %s is alive on another worker; this delivery does nothing", run.pk)
        return run
    if run.status == TrainingStatus.PAUSED:  # only training_run_resume sends it on
        logger.info("training run %s is paused; this delivery does nothing", run.pk)
        return run

    def say(line: str) -> None:
        job_log(run, line)
        if echo:
            echo(line)

    return ml_job_run(run, lambda: _work(run, say), log=say)


def _version_name(run: TrainingRun) -> str:
    return run.config.get("version") or f"{run.dataset.name}-{run.config['preset']}-run{run.pk}"


def _output_dir(run: TrainingRun) -> Path:
    return Path(run.config.get("output_dir") or Path(settings.EMO7ION_MODEL_DIR) / get_valid_filename(_version_name(run)))


def _val_dataset(run: TrainingRun) -> Dataset | None:
    return Dataset.objects.get(pk=run.config["val_dataset_id"]) if run.config.get("val_dataset_id") else None


def _engine_config(run: TrainingRun):
    from ml.engine.training import TrainingConfig

    cfg = run.config
    train_path, val_path = training_data_paths(run.dataset, val_dataset=_val_dataset(run), val_data=cfg.get("val_data"))
    init_model = (ModelVersion.objects.get(pk=cfg["init_model_version_id"]).file
                  if cfg.get("init_model_version_id") else None)
    return TrainingConfig(
        train_data=train_path, output_dir=str(_output_dir(run)), val_data=val_path, dataset_name=run.dataset.name,
        version=_version_name(run), init_model=init_model,
        **{k: v for k, v in cfg.items() if k not in SERVICE_OPTIONS})


def _epoch_recorder(run: TrainingRun, say: Callable[[str], None], fold: dict | None = None):
    """The engine's per-epoch callback: history row, progress over every epoch (of every fold),
    heartbeat and a log line, saved together."""
    folds = run.config.get("folds") or 1

    def on_epoch(epoch: int, total: int, row: dict) -> None:
        current = fold["current"] if fold else None
        if current:
            row = {"fold": current, **row}
        run.history = [*[h for h in run.history if (h.get("fold"), h.get("epoch")) != (current, epoch)], row]
        run.progress = (((current or 1) - 1) * total + epoch) / (total * folds)
        run.heartbeat_at = timezone.now()
        parts = ", ".join(f"{k} {v:.4f}" for k, v in row.items() if isinstance(v, float))
        say((f"fold {current}/{folds}, " if current else "") + f"epoch {epoch}/{total}: {parts}")
        run.save(update_fields=["history", "progress", "log", "heartbeat_at"])
    return on_epoch


def _cancel_requested(run: TrainingRun) -> Callable[[], bool]:
    return lambda: TrainingRun.objects.filter(pk=run.pk, cancel_requested=True).exists()


def _work(run: TrainingRun, say: Callable[[str], None]) -> tuple[str, ...]:
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
    if run.cancel_requested:
        raise JobCancelled
    cfg = run.config
    extras = [f"{cfg['crop_size']} px crops" if cfg.get("crop_size") else "",
              f"SWA over the last {cfg['swa_epochs']} epochs" if cfg.get("swa_epochs") else "",
              f"pausing after {cfg['max_minutes']:g} min" if cfg.get("max_minutes") else ""]
    engine_cfg = _engine_config(run)
    what = f"{cfg['folds']}-fold cross-validation of" if run.is_cross_validation else "training"
    say(f"{what} {_version_name(run)}: preset {cfg['preset']}, {cfg['epochs']} epochs, batch {cfg['batch_size']}, "
        f"learning rate {cfg['learning_rate']}, augmentation {cfg['augmentation']} on {run.dataset.name}"
        + "".join(f", {e}" for e in extras if e)
        + (f", validating on {data_name_for_path(engine_cfg.val_data)}" if engine_cfg.val_data else "")
        + (f"; resuming after epoch {len(run.history)}" if run.history and not run.is_cross_validation else ""))
    run.save(update_fields=["log"])
    if run.is_cross_validation:
        return _cross_validate(run, engine_cfg, say)
    return _train_one(run, engine_cfg, say)


def _train_one(run: TrainingRun, engine_cfg, say: Callable[[str], None]) -> tuple[str, ...]:
    from ml.engine.training import train

    result = train(engine_cfg, on_epoch=_epoch_recorder(run, say), should_stop=_cancel_requested(run))
    if result.cancelled:
        say(f"cancelled after {len(result.history)} epochs; no model version registered")
        shutil.rmtree(engine_cfg.output_dir, ignore_errors=True)
        raise JobCancelled
    if result.paused:
        say(f"paused after epoch {len(result.history)}/{engine_cfg.epochs} at its time budget; the checkpoint "
            "is complete: resume the run to continue it")
        raise TrainingPaused
    mv = registry.register_model_file(result.model_path, name=engine_cfg.version)
    ModelVersion.objects.filter(pk=mv.pk).update(training_dataset=run.dataset)
    mv.training_dataset = run.dataset
    run.model_version = mv
    val = mv.metrics.get("validation", {})
    say(f"registered model version {mv.name} ({result.wall_time_s:.0f} s)"
        + (f"; validation accuracy {val['accuracy']:.1%}" if val.get("accuracy") is not None else ""))
    run.save(update_fields=["model_version", "log"])
    reference_evaluate_trained(model_version=mv, dataset=run.dataset, val_dataset=_val_dataset(run),
                               val_data=run.config.get("val_data"), say=say)
    return ("model_version",)


def _cross_validate(run: TrainingRun, engine_cfg, say: Callable[[str], None]) -> tuple[str, ...]:
    from ml.engine.crossval import cross_validate

    fold = {"current": 1}

    def on_fold(done: int, folds: int, row: dict) -> None:
        fold["current"] = done + 1
        earlier = [r for r in run.cross_validation.get("results", []) if r["fold"] != row["fold"]]
        run.cross_validation = {"folds": folds, "results": [*earlier, row], "summary": {}, "cancelled": False}
        if row.get("accuracy") is not None:
            say(f"fold {done}/{folds}: accuracy {row['accuracy']:.1%}, balanced {row['balanced_accuracy']:.1%}, "
                f"macro-F1 {row['macro_f1']:.3f} on {row['n_val']} held-out faces")
        run.save(update_fields=["cross_validation", "log"])

    try:
        result = cross_validate(engine_cfg, run.config["folds"], on_fold=on_fold,
                                on_epoch=_epoch_recorder(run, say, fold), should_stop=_cancel_requested(run))
    finally:
        # The folds' models are not kept (nothing serves them): the row holds every number.
        shutil.rmtree(engine_cfg.output_dir, ignore_errors=True)
    run.cross_validation = result
    if result["cancelled"]:
        say(f"cancelled during fold {len(result['results'])}/{result['folds']}; the finished folds are kept")
        run.save(update_fields=["cross_validation", "log"])
        raise JobCancelled
    summary = result["summary"]
    say("cross-validation: " + ", ".join(f"{k.replace('_', ' ')} {summary[k]['mean']:.1%} ± {summary[k]['sd']:.1%}"
                                          for k in ("accuracy", "balanced_accuracy") if k in summary))
    return ("cross_validation",)
