"""A model version's reference evaluation (issue 14): the ONE evaluation reports, the model card and
the API quote, on a named dataset. It is recorded when the version is trained (an evaluation of the
run's validation faces in the mode inference serves) or registered (what its metadata measured), or
at its promotion when it has none; evaluations on other sets never replace it."""
from __future__ import annotations

from typing import Callable

from django.utils import timezone

from emo7ion_site.core.jobs import JobStatus
from ml.models import Dataset, Evaluation, ModelVersion
from ml.selectors import reference_source_from_metadata

from .evaluation import evaluation_execute, evaluation_run


def model_version_set_reference(*, model_version: ModelVersion, evaluation: Evaluation) -> ModelVersion:
    """Make `evaluation` (a succeeded one of this version) the version's reference."""
    if evaluation.model_version_id != model_version.pk or evaluation.status != JobStatus.SUCCEEDED:
        raise ValueError("A reference evaluation is a succeeded evaluation of the same version")
    ModelVersion.objects.filter(pk=model_version.pk).update(reference_evaluation=evaluation)
    model_version.reference_evaluation = evaluation
    return model_version


def _record_from_metadata(model_version: ModelVersion) -> Evaluation | None:
    """An evaluation row holding what the version's metadata measured (no faces are read again)."""
    source = reference_source_from_metadata(model_version)
    if source is None:
        return None
    now = timezone.now()
    return Evaluation.objects.create(
        model_version=model_version, recorded_from=Evaluation.RecordedFrom.TRAINING, status=JobStatus.SUCCEEDED,
        progress=1.0, started_at=now, finished_at=now, dataset=source["dataset"], data_path=source["data_path"],
        split=source["split"], faces="whole",
        metrics={**source["metrics"], "data": source["data_name"], "split": source["split"],
                 "model_version": model_version.name, "note": "recorded with the model at training"},
        log="recorded from the model's metadata\n")


def model_version_ensure_reference(*, model_version: ModelVersion) -> Evaluation | None:
    """Give a version without a reference one: what its metadata measured at training, else (at
    promotion) its latest evaluation that someone ran. Returns the reference, or None."""
    model_version.refresh_from_db(fields=["reference_evaluation"])
    if model_version.reference_evaluation is not None:
        return model_version.reference_evaluation
    reference = _record_from_metadata(model_version) or (
        model_version.evaluations.filter(status=JobStatus.SUCCEEDED, recorded_from=Evaluation.RecordedFrom.EVALUATION)
        .order_by("-finished_at").first())
    if reference is not None:
        model_version_set_reference(model_version=model_version, evaluation=reference)
    return reference


def reference_evaluate_trained(*, model_version: ModelVersion, dataset: Dataset, val_dataset: Dataset | None,
                               val_data: str | None, say: Callable[[str], None]) -> Evaluation | None:
    """Evaluate a just-trained version on the faces it was validated on, in the mode inference serves
    (its metadata's crop, TTA and calibration), and make that its reference: with ECE, the reliability
    table and faces per second, which training does not measure. Falls back to the metadata's numbers
    when the evaluation cannot run."""
    if not model_version.metrics.get("validation"):
        say("no validation faces: the version has no reference evaluation")
        return None
    if val_dataset is not None or val_data:
        target = {"dataset": val_dataset, "data_path": val_data or ""}
    else:
        target = {"dataset": dataset, "split": "val"}
    # Faces as training read them (whole images), so the reference measures the same faces.
    evaluation = evaluation_run(model_version=model_version, faces="whole", enqueue=False,
                                recorded_from=Evaluation.RecordedFrom.TRAINING, **target)
    evaluation = evaluation_execute(evaluation=evaluation)
    if evaluation.status != JobStatus.SUCCEEDED:
        say(f"the reference evaluation failed ({evaluation.error}); quoting the training's validation instead")
        return model_version_ensure_reference(model_version=model_version)
    model_version_set_reference(model_version=model_version, evaluation=evaluation)
    say(f"reference evaluation: {evaluation.metrics['accuracy']:.1%} on {evaluation.data_name} "
        f"({evaluation.metrics['n']:,} faces, ECE {evaluation.metrics.get('ece', 0):.3f})")
    return evaluation
