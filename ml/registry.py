"""The model registry: which model versions exist, which one is active, and where their files are.

The shipped default model is registered on first use, so a fresh install has it without
any command. Exactly one version is active (a partial unique constraint enforces it).

A registered (or trained) version's `.keras` file and metadata JSON are copied into the default
storage (S3 in production) under `models/<sha256>/`, so that every worker host can run it: a worker
whose model directory is empty fetches the files once into its own cache, keyed by the sha256
(`ml.runtime`). `ModelVersion.file` stays the path on the host that registered it.
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction

from ml.engine.classifier import metadata_path_for, read_metadata

from .models import ModelActivation, ModelVersion

MODEL_STORAGE_PREFIX = "models"


def model_storage_names(sha256: str, filename: str) -> dict[str, str]:
    """Where a version's files live in the default storage: under its sha256, with their own names."""
    model = f"{MODEL_STORAGE_PREFIX}/{sha256}/{Path(filename).name}"
    return {"model": model, "metadata": str(Path(model).with_suffix(".json"))}


def stored_model_names(model_version: ModelVersion) -> dict[str, str]:
    """The storage names recorded at registration (derived from the sha256 for older rows)."""
    return (model_version.metadata or {}).get("storage") or model_storage_names(model_version.sha256,
                                                                                model_version.file)


def model_files_store(path: str | Path, sha256: str) -> dict[str, str]:
    """Copy a model's `.keras` file and metadata JSON into the default storage, once: the names carry
    the sha256, so registering the same model again stores nothing new. Returns the names."""
    path = Path(path)
    names = model_storage_names(sha256, path.name)
    for local, name in ((path, names["model"]), (metadata_path_for(path), names["metadata"])):
        if default_storage.exists(name):
            continue
        with open(local, "rb") as fh:
            saved = default_storage.save(name, File(fh, name=Path(name).name))
        if saved != name:  # another process stored it at the same moment: the same bytes are there
            default_storage.delete(saved)
    return names


def register_model_file(path: str | Path, *, name: str | None = None, activate: bool = False,
                        is_default_shipped: bool = False, by=None) -> ModelVersion:
    """Register a `.keras` file (its metadata JSON beside it) and store both in the default storage.
    Idempotent by name + sha256."""
    path = Path(path).resolve()
    meta = read_metadata(path)
    name = name or meta.get("version") or path.stem
    stored = model_files_store(path, meta["sha256"])
    mv, _ = ModelVersion.objects.update_or_create(
        name=name,
        defaults={"file": str(path), "sha256": meta["sha256"], "architecture": meta.get("architecture", ""),
                  "labels": meta["labels"],
                  "metadata": {**{k: v for k, v in meta.items() if k != "metrics"}, "storage": stored},
                  "metrics": meta.get("metrics", {}), "is_default_shipped": is_default_shipped},
    )
    if activate:
        activate_version(mv, by=by, note="registered and activated")
    return mv


@transaction.atomic
def activate_version(mv: ModelVersion, *, by=None, note: str = "", is_rollback: bool = False) -> ModelVersion:
    """Make `mv` the one active version and log who did it. Promotion rules (evaluation and
    bias audit required) are checked by ml.services before calling this."""
    previous = ModelVersion.objects.select_for_update().filter(is_active=True).exclude(pk=mv.pk).first()
    ModelVersion.objects.filter(is_active=True).exclude(pk=mv.pk).update(is_active=False)
    if not mv.is_active:
        ModelVersion.objects.filter(pk=mv.pk).update(is_active=True)
        mv.is_active = True
        ModelActivation.objects.create(model_version=mv, previous=previous, activated_by=by,
                                       is_rollback=is_rollback, note=note[:300])
    return mv


def shipped_default_path() -> Path:
    return Path(settings.EMO7ION_DEFAULT_MODEL)


def ensure_default_model() -> ModelVersion | None:
    """Register the shipped default model when the registry has no active version."""
    active = ModelVersion.objects.filter(is_active=True).first()
    if active is not None:
        return active
    path = shipped_default_path()
    if not path.is_file():
        return None
    try:
        return register_model_file(path, activate=True, is_default_shipped=True)
    except IntegrityError:  # another process registered it at the same moment
        return ModelVersion.objects.filter(is_active=True).first()


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first() or ensure_default_model()
