"""The model registry: which model versions exist and which one is active.

The shipped default model is registered on first use, so a fresh install has it without
any command. Exactly one version is active (a partial unique constraint enforces it).
"""
from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction

from ml.engine.classifier import read_metadata

from .models import ModelActivation, ModelVersion


def register_model_file(path: str | Path, *, name: str | None = None, activate: bool = False,
                        is_default_shipped: bool = False, by=None) -> ModelVersion:
    """Register a `.keras` file (its metadata JSON beside it). Idempotent by name + sha256."""
    path = Path(path).resolve()
    meta = read_metadata(path)
    name = name or meta.get("version") or path.stem
    mv, _ = ModelVersion.objects.update_or_create(
        name=name,
        defaults={"file": str(path), "sha256": meta["sha256"], "architecture": meta.get("architecture", ""),
                  "labels": meta["labels"], "metadata": {k: v for k, v in meta.items() if k != "metrics"},
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
