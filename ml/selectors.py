"""ML operations (reads): datasets, model versions, jobs, and what a report needs to say about
the model that made it.

Nothing here is organisation-owned: datasets, model versions, evaluations and audits are platform
records, managed by staff and readable (model pages) by any signed-in user.
"""
from __future__ import annotations

import shutil
from pathlib import Path, PurePath

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Count, Q, QuerySet

from emo7ion_site.core.jobs import JobStatus
from ml.engine.datasets import SPLIT_ALIASES

from .models import (BiasAudit, Dataset, Evaluation, ModelActivation, ModelVersion, TrainingRun, TrainingStatus,
                     TuningRun, classes_without_faces, data_name_for_path, named_split)


def dataset_local_path(dataset: Dataset) -> Path:
    """A local path the engine can read: the imported-in-place folder/file, the stored file itself
    on local storage, or a copy cached under EMO7ION_CACHE_DIR when storage is remote (S3)."""
    if dataset.source_path:
        return Path(dataset.source_path)
    name = dataset.file.name if hasattr(dataset.file, "name") else str(dataset.file)
    try:
        return Path(default_storage.path(name))
    except NotImplementedError:  # remote storage: fetch once, keep by name
        cache = Path(settings.EMO7ION_CACHE_DIR) / "datasets"
        cache.mkdir(parents=True, exist_ok=True)
        local = cache / Path(name).name
        if not local.exists():
            tmp = local.with_suffix(local.suffix + ".part")
            with default_storage.open(name, "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            tmp.replace(local)
        return local


def datasets_list(*, kind: str | None = None) -> QuerySet[Dataset]:
    qs = Dataset.objects.select_related("created_by")
    return qs.filter(kind=kind) if kind else qs


def datasets_for_training() -> QuerySet[Dataset]:
    return Dataset.objects.filter(status=Dataset.Status.READY, labelled=True)


def datasets_for_evaluation() -> QuerySet[Dataset]:
    return Dataset.objects.filter(status=Dataset.Status.READY, labelled=True)


def datasets_for_audit() -> QuerySet[Dataset]:
    return Dataset.objects.filter(status=Dataset.Status.READY).exclude(attributes={})


def model_versions_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.select_related("training_dataset", "reference_evaluation__dataset").annotate(
        n_evaluations=Count("evaluations", filter=Q(evaluations__status=JobStatus.SUCCEEDED), distinct=True),
        n_audits=Count("bias_audits", filter=Q(bias_audits__status=JobStatus.SUCCEEDED), distinct=True),
    )


def model_version_by_ref(ref: str | int) -> ModelVersion:
    """A version by name or id (what the commands' --model accepts)."""
    ref = str(ref).strip()
    mv = ModelVersion.objects.filter(name=ref).first()
    if mv is None and ref.isdigit():
        mv = ModelVersion.objects.filter(pk=int(ref)).first()
    if mv is None:
        names = ", ".join(ModelVersion.objects.values_list("name", flat=True)[:20]) or "none registered"
        raise ModelVersion.DoesNotExist(f"No model version {ref!r}; known versions: {names}")
    return mv


def evaluations_for(model_version: ModelVersion) -> QuerySet[Evaluation]:
    return model_version.evaluations.select_related("dataset", "created_by")


def bias_audits_for(model_version: ModelVersion) -> QuerySet[BiasAudit]:
    return model_version.bias_audits.select_related("dataset", "created_by")


def latest_bias_audit(model_version: ModelVersion) -> BiasAudit | None:
    """What a report states about its model (DESIGN.md §6): the latest succeeded audit."""
    return bias_audits_for(model_version).filter(status=JobStatus.SUCCEEDED).order_by("-finished_at").first()


# Metadata keys that hold server paths: pages and the API show the folder's or file's name instead.
_PATH_KEYS = ("train_data", "output_dir", "val_data", "init_model", "teacher_model", "fitted_on")


def public_metadata(value):
    """A model's metadata with every server path replaced by the name of what it points to."""
    if isinstance(value, dict):
        return {k: (data_name_for_path(v) if k in _PATH_KEYS and isinstance(v, str) else public_metadata(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [public_metadata(v) for v in value]
    return value


def reference_source_from_metadata(model_version: ModelVersion) -> dict | None:
    """The evaluation a version's metadata records, as {metrics, data_path, dataset, split}: the
    calibrated validation (the mode inference serves) when it was calibrated, else the validation
    at training. None when the metadata records neither."""
    meta = model_version.metadata or {}
    training = meta.get("training") or {}
    calibrated = model_version.metrics.get("calibrated_validation")
    metrics = calibrated or model_version.metrics.get("validation")
    if not metrics or metrics.get("accuracy") is None:
        return None
    data_path = ((meta.get("calibration") or {}).get("fitted_on") if calibrated
                 else (training.get("config") or {}).get("val_data")) or ""
    dataset = None
    # Calibration and training read the val split of a folder that has splits; a split folder is one.
    split = "" if SPLIT_ALIASES.get(PurePath(data_path).name.lower()) else "val"
    if not data_path:  # validated on the training set's own val split
        dataset = model_version.training_dataset or Dataset.objects.filter(name=training.get("dataset_name")).first()
    data_name = dataset.name if dataset else data_name_for_path(data_path) or training.get("dataset_name", "")
    if not data_name:  # a version whose metadata does not say what it trained on
        data_name, split = "the validation faces recorded at training", ""
    return {"metrics": metrics, "data_path": data_path, "dataset": dataset, "split": split, "data_name": data_name}


def _reference_view(metrics: dict, *, data_name: str, split: str, labels: list[str], evaluation=None,
                    recorded: str) -> dict:
    per_class = metrics.get("per_class") or {}
    missing = classes_without_faces(metrics, labels)
    where = named_split(data_name, split) if split in ("train", "val", "test") else data_name
    n = metrics.get("n")
    return {
        "evaluation": evaluation, "metrics": metrics, "data_name": where, "split": split, "n": n,
        "accuracy": metrics.get("accuracy"), "balanced_accuracy": metrics.get("balanced_accuracy"),
        "macro_f1": metrics.get("macro_f1"), "ece": metrics.get("ece"),
        "reliability": metrics.get("reliability") or [], "missing_classes": missing, "recorded": recorded,
        "per_class_recall": {label: (per_class.get(label) or {}).get("recall") for label in labels if label in per_class},
        "headline": (f"{metrics['accuracy']:.1%} on {where}" + (f", {n:,} faces" if n else "")),
    }


def model_version_reference(model_version: ModelVersion) -> dict | None:
    """What reports, the model card and the API quote as a version's measured accuracy: its ONE
    reference evaluation (issue 14), never simply the latest, which may be on other faces or classes.
    A version registered before references existed (the shipped default registers itself) falls
    back to what its metadata recorded at training. None when nothing was measured."""
    labels = list(model_version.labels)
    ev = model_version.reference_evaluation
    if ev is not None and ev.status == JobStatus.SUCCEEDED and ev.metrics.get("accuracy") is not None:
        recorded = "recorded at training" if ev.recorded_from == Evaluation.RecordedFrom.TRAINING else "evaluation"
        return _reference_view(ev.metrics, data_name=ev.data_name, split=ev.metrics.get("split") or ev.split,
                               labels=labels, evaluation=ev, recorded=recorded)
    source = reference_source_from_metadata(model_version)
    if source is None:
        return None
    return _reference_view(source["metrics"], data_name=source["data_name"], split=source["split"], labels=labels,
                           recorded="recorded at training")


def other_evaluations(model_version: ModelVersion) -> QuerySet[Evaluation]:
    """Every evaluation of a version but its reference (the model page lists them below it)."""
    return evaluations_for(model_version).exclude(pk=model_version.reference_evaluation_id or 0)


def activations_list() -> QuerySet[ModelActivation]:
    return ModelActivation.objects.select_related("model_version", "previous", "activated_by")


def training_runs_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("dataset", "model_version", "created_by")


def tuning_runs_list() -> QuerySet[TuningRun]:
    return TuningRun.objects.select_related("dataset", "val_dataset", "best_training_run", "created_by")


def evaluations_list() -> QuerySet[Evaluation]:
    return Evaluation.objects.select_related("dataset", "model_version", "created_by")


def bias_audits_list() -> QuerySet[BiasAudit]:
    return BiasAudit.objects.select_related("dataset", "model_version", "created_by")


def job_status(job) -> dict:
    """What a page polls while a job runs."""
    out = {"id": job.pk, "status": job.status, "progress": round(job.progress, 4), "error": job.error,
           "finished": job.is_finished, "log": getattr(job, "log", "")[-20000:]}
    if isinstance(job, TrainingRun):
        paused = job.status == TrainingStatus.PAUSED
        out.update(history=job.history, cancel_requested=job.cancel_requested, paused=paused,
                   model_version_id=job.model_version_id, epochs=job.config.get("epochs"),
                   folds=job.config.get("folds") or 0, cross_validation=job.cross_validation,
                   finished=job.is_finished or paused)  # a paused run waits for a person: stop polling
    if isinstance(job, TuningRun):
        out.update(trials=job.trials, best=job.best, max_trials=job.max_trials,
                   cancel_requested=job.cancel_requested, best_training_run_id=job.best_training_run_id)
    return out


# --- One record for a page: pages fetch objects only through these (a missing one is a 404) ---------


def _get_or_404(queryset: QuerySet, pk):
    from django.shortcuts import get_object_or_404
    return get_object_or_404(queryset, pk=pk)


def dataset_get(pk) -> Dataset:
    return _get_or_404(datasets_list(), pk)


def model_version_get(pk) -> ModelVersion:
    return _get_or_404(model_versions_list(), pk)


def evaluation_get(pk) -> Evaluation:
    return _get_or_404(evaluations_list(), pk)


def bias_audit_get(pk) -> BiasAudit:
    return _get_or_404(bias_audits_list(), pk)


def training_run_get(pk) -> TrainingRun:
    return _get_or_404(training_runs_list(), pk)


def tuning_run_get(pk) -> TuningRun:
    return _get_or_404(tuning_runs_list(), pk)
