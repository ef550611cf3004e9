"""What a report states about the model that made it (DESIGN.md §6): its measured accuracy and its
latest bias audit, read through `ml.selectors` (reports never query the ML models directly)."""
from __future__ import annotations

from analysis.models import Analysis
from emo7ion_site.plotting import EMOTION_COLOURS
from ml import selectors as ml_selectors
from ml.engine.labels import EMOTIONS


def _metrics_of(metrics: dict | None) -> dict:
    """Training writes {"validation": {...}}; evaluation runs write the metrics at the top level."""
    metrics = metrics or {}
    if "accuracy" not in metrics and isinstance(metrics.get("validation"), dict):
        return metrics["validation"]
    return metrics


def analysis_model_info(*, analysis: Analysis) -> dict:
    """The model version that made this analysis, with its measured accuracy: the latest succeeded
    evaluation when there is one, else the validation metrics recorded at training."""
    mv = analysis.model_version
    evaluation = ml_selectors.latest_evaluation(mv)
    if evaluation is not None and _metrics_of(evaluation.metrics).get("accuracy") is not None:
        metrics = _metrics_of(evaluation.metrics)
        measured_on = (evaluation.dataset.name if evaluation.dataset else evaluation.data_path) or "an evaluation set"
        source = f"evaluation on {measured_on}"
    else:
        evaluation = None
        metrics = _metrics_of(mv.metrics)
        training = (mv.metadata or {}).get("training") or {}
        source = "validation split at training" + (f" ({training['dataset_name']})"
                                                    if training.get("dataset_name") else "")
    per_class = metrics.get("per_class") or {}
    return {
        "model_version": mv,
        "accuracy": metrics.get("accuracy"),
        "balanced_accuracy": metrics.get("balanced_accuracy"),
        "macro_f1": metrics.get("macro_f1"),
        "n": metrics.get("n"),
        "per_class_recall": [{"emotion": e, "recall": (per_class.get(e) or {}).get("recall"),
                              "colour": EMOTION_COLOURS[e]} for e in EMOTIONS if e in per_class],
        "source": source,
        "evaluation": evaluation,
        "bias_audit": ml_selectors.latest_bias_audit(mv),
    }
