"""ML operations (reads): datasets, model versions, jobs, and what a report needs to say about
the model that made it.

Nothing here is organisation-owned: datasets, model versions, evaluations and audits are platform
records, managed by staff and readable (model pages) by any signed-in user.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db.models import Count, Q, QuerySet

from emo7ion_site.core.jobs import JobStatus

from .models import BiasAudit, Dataset, Evaluation, ModelActivation, ModelVersion, TrainingRun


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
    return ModelVersion.objects.select_related("training_dataset").annotate(
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


def latest_evaluation(model_version: ModelVersion) -> Evaluation | None:
    return evaluations_for(model_version).filter(status=JobStatus.SUCCEEDED).order_by("-finished_at").first()


def latest_bias_audit(model_version: ModelVersion) -> BiasAudit | None:
    """What a report states about its model (DESIGN.md §6): the latest succeeded audit."""
    return bias_audits_for(model_version).filter(status=JobStatus.SUCCEEDED).order_by("-finished_at").first()


def model_version_accuracy(model_version: ModelVersion) -> dict:
    """The measured accuracy a report shows beside the model: the latest evaluation, else the
    validation metrics recorded at training time. Keys: source, accuracy, balanced_accuracy,
    per_class_recall, n, data."""
    ev = latest_evaluation(model_version)
    metrics, source, data = ({}, "", "")
    if ev is not None:
        metrics, source, data = ev.metrics, "evaluation", ev.metrics.get("data", "")
    elif model_version.metrics.get("validation"):
        metrics, source = model_version.metrics["validation"], "training validation"
        data = (model_version.metadata.get("training") or {}).get("dataset_name", "")
    if not metrics:
        return {}
    return {"source": source, "data": data, "accuracy": metrics.get("accuracy"),
            "balanced_accuracy": metrics.get("balanced_accuracy"), "n": metrics.get("n"),
            "per_class_recall": {k: v.get("recall") for k, v in (metrics.get("per_class") or {}).items()}}


def activations_list() -> QuerySet[ModelActivation]:
    return ModelActivation.objects.select_related("model_version", "previous", "activated_by")


def training_runs_list() -> QuerySet[TrainingRun]:
    return TrainingRun.objects.select_related("dataset", "model_version", "created_by")


def evaluations_list() -> QuerySet[Evaluation]:
    return Evaluation.objects.select_related("dataset", "model_version", "created_by")


def bias_audits_list() -> QuerySet[BiasAudit]:
    return BiasAudit.objects.select_related("dataset", "model_version", "created_by")


def job_status(job) -> dict:
    """What a page polls while a job runs."""
    out = {"id": job.pk, "status": job.status, "progress": round(job.progress, 4), "error": job.error,
           "finished": job.is_finished, "log": getattr(job, "log", "")[-20000:]}
    if isinstance(job, TrainingRun):
        out.update(history=job.history, cancel_requested=job.cancel_requested,
                   model_version_id=job.model_version_id, epochs=job.config.get("epochs"))
    return out
