"""Model versions: registration of a trained file, and promotion (activation and rollback) under
the rule that a version is evaluated and audited for bias before it serves new analyses. Both give a
version without one its reference evaluation (`reference.py`)."""
from __future__ import annotations

from django.db import transaction

from ml import registry
from ml.engine.errors import EngineError
from ml.models import Evaluation, JobStatus, ModelActivation, ModelVersion

from .errors import JobRefused, PromotionRefused
from .reference import model_version_ensure_reference


def model_version_register(*, path, name: str | None = None, by=None) -> ModelVersion:
    """Register a `.keras` file (metadata JSON beside it) as a version; it is not activated. When its
    metadata records validation metrics, they become its reference evaluation."""
    try:
        model_version = registry.register_model_file(path, name=name or None)
    except EngineError as exc:
        raise JobRefused(str(exc)) from exc
    model_version_ensure_reference(model_version=model_version)
    return model_version


def promotion_blockers(model_version: ModelVersion) -> list[str]:
    """What a version lacks before it may become active (empty when it may)."""
    missing = []
    # The numbers recorded with the training are the version's own: an evaluation someone ran counts.
    if not model_version.evaluations.filter(status=JobStatus.SUCCEEDED,
                                            recorded_from=Evaluation.RecordedFrom.EVALUATION).exists():
        missing.append("succeeded evaluation")
    if not model_version.bias_audits.filter(status=JobStatus.SUCCEEDED).exists():
        missing.append("succeeded bias audit")
    return missing


def model_version_activate(*, model_version: ModelVersion, by=None, note: str = "") -> ModelVersion:
    """Make a version the active default for new analyses. Analyses already queued or running keep
    the version they were created with (their own foreign key)."""
    model_version.refresh_from_db(fields=["is_active"])
    if model_version.is_active:
        return model_version
    missing = promotion_blockers(model_version)
    if missing:
        raise PromotionRefused(
            f"Model version {model_version.name} cannot be activated: it has no {' and no '.join(missing)}. "
            "Evaluate it on a labelled dataset and audit it for bias first.")
    model_version = registry.activate_version(model_version, by=by, note=note or "promoted")
    model_version_ensure_reference(model_version=model_version)
    return model_version


def model_version_rollback(*, by=None) -> ModelVersion:
    """Reactivate the version that was active before the current one (logged as a rollback)."""
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(is_active=True).first()
        last = (ModelActivation.objects.filter(model_version=current).select_related("previous").first()
                if current else None)
        target = last.previous if last else None
        if target is None:
            raise PromotionRefused("There is no earlier active version to roll back to")
        return registry.activate_version(target, by=by, is_rollback=True,
                                         note=f"rolled back from {current.name}")
