"""Evaluations: measure a model version on labelled faces (accuracy, balanced accuracy, macro-F1,
per-class metrics, confusion matrix, calibration error and reliability table, faces per second)."""
from __future__ import annotations

import time
from pathlib import Path

from django.utils import timezone

from emo7ion_site.core.jobs import enqueue_on_commit, task_id
from ml.engine.datasets import choose_split, read_dataset, split_dirs, split_folder
from ml.engine.evaluation import evaluate_probabilities
from ml.engine.faces import FACE_MODES
from ml.engine.labels import to_model_labels
from ml.models import Dataset, Evaluation, ModelVersion

from .errors import JobRefused
from .jobs import job_log, ml_job_run
from .scoring import classify, inference_mode, production_face_cropper, resolve_data

SPLITS = ("", "train", "val", "test", "all")


def evaluation_run(*, model_version: ModelVersion, dataset: Dataset | None = None, data_path: str = "",
                   split: str = "", tta: bool = False, faces: str = "auto", created_by=None,
                   recorded_from: str = Evaluation.RecordedFrom.EVALUATION, enqueue: bool = True) -> Evaluation:
    """Record an evaluation of a model version on a labelled dataset (or a server path)."""
    if dataset is None and not data_path:
        raise JobRefused("Give a dataset or a data path to evaluate on")
    if dataset is not None and not dataset.labelled:
        raise JobRefused(f"Dataset {dataset.name} has no labels; use a bias audit for an unlabelled set")
    if faces not in FACE_MODES:
        raise JobRefused(f"Face mode must be one of {', '.join(FACE_MODES)}")
    if split not in SPLITS:
        raise JobRefused("Split must be train, val, test or all")
    ev = Evaluation.objects.create(model_version=model_version, dataset=dataset,
                                   data_path=str(Path(data_path).expanduser().resolve()) if data_path else "",
                                   split=split, tta=tta, faces=faces, created_by=created_by,
                                   recorded_from=recorded_from)
    if enqueue:
        enqueue_on_commit("ml.tasks.run_evaluation", args=[ev.pk], task_id=task_id("ml:evaluation", ev.pk))
    return ev


def evaluation_execute(*, evaluation: Evaluation) -> Evaluation:
    """Evaluate on the row's data and store the metrics (the task and the command call this)."""
    return ml_job_run(evaluation, lambda: _evaluate(evaluation))


def _read(ev: Evaluation, face_stats: dict):
    """The faces to evaluate on, the split's name and a note that says which split and why."""
    path, data_name = resolve_data(ev)
    split_dir, split_name = split_folder(path, ev.split)
    job_log(ev, f"reading {data_name}" + (f" ({split_dir.name}/ only)" if split_dir else ""))
    data = read_dataset(split_dir or path, face_cropper=production_face_cropper(ev.faces, None, face_stats))
    if split_dir is None:
        data, split, note = choose_split(data, ev.split)
        return data, split, note, data_name
    # Read only the split's folder: decoding (and detecting faces in) the training images would cost
    # time and say nothing.
    data.splits[:] = split_name
    note = (f"evaluated on the {split_name} split, as asked" if ev.split else
            f"this set has {', '.join(split_dirs(path))} splits: evaluated on the {split_name} split by "
            "default (ask for another with --split)")
    return data, split_name, note, data_name


def _evaluate(ev: Evaluation) -> tuple[str, ...]:
    started = time.perf_counter()
    mv = ev.model_version
    face_stats: dict = {}
    data, split, note, data_name = _read(ev, face_stats)
    y_true, not_in_model = to_model_labels(data.labels, list(mv.labels))
    skipped = {**data.skipped_labels, **not_in_model}
    keep = y_true >= 0
    if not keep.any():
        raise JobRefused("No image has a label this model knows"
                         + (f" (skipped: {', '.join(skipped)})" if skipped else "")
                         + "; an unlabelled set needs a bias audit, not an evaluation")
    ev.progress = 0.5
    ev.heartbeat_at = timezone.now()  # the watchdog reads a fresh beat as "a worker is on it"
    ev.save(update_fields=["progress", "log", "heartbeat_at"])
    probs, fps = classify(mv, data.images[keep], ev.tta)
    metrics = evaluate_probabilities(y_true[keep], probs, tuple(mv.labels))
    metrics.update({
        "model_version": mv.name, "data": data_name, "split": split, "note": note, "tta": ev.tta,
        **inference_mode(mv, ev.tta),
        "faces": face_stats, "skipped_labels": skipped, "unreadable": len(data.unreadable),
        "faces_per_second": round(fps, 1), "wall_time_s": round(time.perf_counter() - started, 2),
        "evaluation_id": ev.pk,
    })
    if skipped:
        job_log(ev, "skipped labels the model does not know: "
                + ", ".join(f"{k} ({v})" for k, v in sorted(skipped.items())))
    job_log(ev, f"{metrics['n']} faces: accuracy {metrics['accuracy']:.1%}, balanced {metrics['balanced_accuracy']:.1%}, "
                f"macro-F1 {metrics['macro_f1']:.3f}, ECE {metrics['ece']:.3f}; {fps:.0f} faces/s")
    ev.metrics = metrics
    return ("metrics",)
