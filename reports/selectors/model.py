"""What a report states about the model that made it (DESIGN.md §6): its reference evaluation, named
by its dataset, its calibration and its latest bias audit, read through `ml.selectors` (reports never
query the ML models directly).

The measured accuracy is the version's ONE reference evaluation (issue 14), never the latest one: an
evaluation on a posed 6-class set must not become "the model was right on 76% of faces"."""
from __future__ import annotations

from analysis.models import Analysis
from emo7ion_site.plotting import EMOTION_COLOURS
from ml import selectors as ml_selectors
from ml.engine.labels import EMOTIONS


def analysis_model_info(*, analysis: Analysis) -> dict:
    """The model version that made this analysis, with its reference evaluation (accuracy on a named
    dataset), the calibration its probabilities went through, and its latest bias audit."""
    mv = analysis.model_version
    reference = ml_selectors.model_version_reference(mv) or {}
    recall = reference.get("per_class_recall") or {}
    calibration = (mv.metadata or {}).get("calibration") or {}
    return {
        "model_version": mv,
        "accuracy": reference.get("accuracy"),
        "balanced_accuracy": reference.get("balanced_accuracy"),
        "macro_f1": reference.get("macro_f1"),
        "n": reference.get("n"),
        "ece": reference.get("ece"),
        "data_name": reference.get("data_name", ""),
        "headline": reference.get("headline", ""),
        "missing_classes": reference.get("missing_classes", []),
        "per_class_recall": [{"emotion": e, "recall": recall.get(e), "colour": EMOTION_COLOURS[e]}
                             for e in EMOTIONS if e in recall],
        "source": (f"reference evaluation on {reference['data_name']} ({reference['recorded']})"
                   if reference else ""),
        "evaluation": reference.get("evaluation"),
        "temperature": calibration.get("temperature"),
        "bias_audit": ml_selectors.latest_bias_audit(mv),
    }
