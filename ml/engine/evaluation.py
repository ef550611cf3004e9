"""Classification metrics: accuracy, balanced accuracy, macro-F1, per-class P/R/F1/support, confusion matrix."""
from __future__ import annotations

import numpy as np

from .labels import EMOTIONS


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int = len(EMOTIONS)) -> np.ndarray:
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def evaluate_predictions(y_true, y_pred, labels: tuple[str, ...] = EMOTIONS) -> dict:
    """Metrics over the classes present in y_true (absent classes get support 0 and no recall)."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    if y_true.size == 0:
        raise ValueError("No labelled images to evaluate")
    cm = confusion_matrix(y_true, y_pred, len(labels))
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    tp = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / np.maximum(predicted, 1), 0.0)
        recall = np.where(support > 0, tp / np.maximum(support, 1), 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    present = support > 0
    return {
        "n": int(y_true.size),
        "accuracy": float(tp.sum() / y_true.size),
        "balanced_accuracy": float(recall[present].mean()),
        "macro_f1": float(f1[present].mean()),
        "per_class": {
            label: {"precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
                    "f1": round(float(f1[i]), 4), "support": int(support[i])}
            for i, label in enumerate(labels)
        },
        "confusion_matrix": cm.tolist(),
        "labels": list(labels),
    }


def evaluate_probabilities(y_true, probs, labels: tuple[str, ...] = EMOTIONS, bins: int = 15) -> dict:
    """`evaluate_predictions` on the most probable class, plus calibration: the expected calibration
    error (`ece`) and the reliability table (`reliability`: confidence bins with accuracy)."""
    from .calibration import reliability

    probs = np.asarray(probs)
    metrics = evaluate_predictions(y_true, probs.argmax(axis=1), labels)
    table = reliability(probs, y_true, bins=bins)
    metrics["ece"] = table["ece"]
    metrics["reliability"] = table["bins"]
    return metrics
