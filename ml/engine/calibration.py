"""Post-hoc adjustments of a trained classifier's probabilities, fitted on a held-out set.

- **Logit adjustment** (Menon et al. 2021, arXiv 2007.07314): one additive offset per class on the
  log-probabilities, chosen to raise balanced accuracy (minority classes such as fear and disgust
  are under-predicted by a net trained on FER2013's skewed classes) while overall accuracy may fall
  by at most a fixed amount.
- **Temperature scaling** (Guo et al. 2017, arXiv 1706.04599): one scalar T dividing the logits,
  fitted by minimising the negative log-likelihood, so that "80% sure" is right about 80% of the time.
  It never changes which class wins.

Both are stored in the model's metadata (`calibration`) and applied by `EmotionClassifier` at inference.
"""
from __future__ import annotations

import numpy as np

_EPS = 1e-7


def as_logits(probs: np.ndarray) -> np.ndarray:
    """Log-probabilities: logits up to a per-row constant, which softmax ignores."""
    return np.log(np.clip(np.asarray(probs, np.float64), _EPS, 1.0))


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def apply_calibration(probs: np.ndarray, calibration: dict | None) -> np.ndarray:
    """Probabilities after the stored offsets and temperature (unchanged when there are none)."""
    if not calibration:
        return np.asarray(probs, np.float32)
    logits = as_logits(probs)
    offsets = calibration.get("logit_offsets")
    if offsets is not None:
        logits = logits + np.asarray(offsets, np.float64)[None, :]
    temperature = float(calibration.get("temperature", 1.0))
    return softmax(logits / temperature).astype(np.float32)


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray, n_classes: int) -> float:
    recalls = [np.mean(pred[y == c] == c) for c in range(n_classes) if np.any(y == c)]
    return float(np.mean(recalls))


def fit_logit_offsets(probs: np.ndarray, labels: np.ndarray, *, max_accuracy_drop: float = 0.005,
                      grid: np.ndarray | None = None, rounds: int = 3) -> np.ndarray:
    """Per-class offsets by coordinate ascent on balanced accuracy, keeping accuracy within
    `max_accuracy_drop` of the unadjusted model's. Returns zeros when nothing helps."""
    logits = as_logits(probs)
    labels = np.asarray(labels, int)
    n_classes = logits.shape[1]
    grid = np.round(np.arange(-1.0, 1.01, 0.05), 2) if grid is None else grid
    base_accuracy = float(np.mean(logits.argmax(1) == labels))
    floor = base_accuracy - max_accuracy_drop
    offsets = np.zeros(n_classes)

    def score(candidate: np.ndarray) -> tuple[float, float]:
        pred = (logits + candidate).argmax(1)
        return _balanced_accuracy(labels, pred, n_classes), float(np.mean(pred == labels))

    best_balanced, _ = score(offsets)
    for _ in range(rounds):
        improved = False
        for c in range(n_classes):
            for value in grid:
                candidate = offsets.copy()
                candidate[c] = value
                balanced, accuracy = score(candidate)
                if accuracy >= floor and balanced > best_balanced + 1e-9:
                    best_balanced, offsets, improved = balanced, candidate, True
        if not improved:
            break
    return offsets - offsets.mean()  # softmax ignores a common shift; centred offsets read better


def fit_temperature(probs: np.ndarray, labels: np.ndarray, offsets: np.ndarray | None = None) -> float:
    """The T > 0 minimising the negative log-likelihood of softmax((log p + offsets) / T)."""
    logits = as_logits(probs) + (0.0 if offsets is None else np.asarray(offsets)[None, :])
    labels = np.asarray(labels, int)
    rows = np.arange(len(labels))

    def nll(t: float) -> float:
        z = logits / t
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[rows, labels]))

    # NLL is unimodal in log T: golden-section search over T in [0.05, 20].
    lo, hi = np.log(0.05), np.log(20.0)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(np.exp(a)), nll(np.exp(b))
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(np.exp(a))
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(np.exp(b))
    return float(np.exp((lo + hi) / 2))


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict:
    """Expected calibration error and the reliability table (equal-width confidence bins).

    ECE = sum over bins of (share of samples in the bin) x |accuracy - mean confidence|.
    """
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels, int)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        mask = which == b
        n = int(mask.sum())
        row = {"lower": round(float(edges[b]), 4), "upper": round(float(edges[b + 1]), 4), "n": n,
               "confidence": None, "accuracy": None}
        if n:
            conf, acc = float(confidence[mask].mean()), float(correct[mask].mean())
            row.update(confidence=round(conf, 4), accuracy=round(acc, 4))
            ece += n / len(labels) * abs(acc - conf)
        table.append(row)
    return {"ece": round(float(ece), 4), "bins": table}


def fit_calibration(probs: np.ndarray, labels: np.ndarray, *, logit_adjustment: bool = True,
                    max_accuracy_drop: float = 0.005, fitted_on: str = "") -> dict:
    """Offsets (optional) then temperature, with the ECE before and after: what goes in the metadata."""
    offsets = fit_logit_offsets(probs, labels, max_accuracy_drop=max_accuracy_drop) if logit_adjustment else None
    temperature = fit_temperature(probs, labels, offsets)
    calibration = {"temperature": round(temperature, 4), "fitted_on": fitted_on, "n": int(len(labels))}
    if offsets is not None:
        calibration["logit_offsets"] = [round(float(o), 4) for o in offsets]
        calibration["max_accuracy_drop"] = max_accuracy_drop
    calibration["ece_before"] = reliability(probs, labels)["ece"]
    calibration["ece_after"] = reliability(apply_calibration(probs, calibration), labels)["ece"]
    return calibration


def calibrate_model_file(model_path: str, data_path: str, *, tta: str = "flip", logit_adjustment: bool = True,
                         max_accuracy_drop: float = 0.005, batch_size: int = 256) -> dict:
    """Fit offsets and temperature on a labelled class-folder tree and write them, with the chosen
    test-time augmentation, into the model's metadata. Returns the updated metadata."""
    import json

    from .classifier import EmotionClassifier, metadata_path_for, read_metadata
    from .datasets import read_dataset
    from .evaluation import evaluate_probabilities

    data = read_dataset(data_path)
    data = data.split_if_present("val")
    data = data.subset(data.labels >= 0)
    clf = EmotionClassifier(model_path, tta=tta, calibrated=False)
    probs = clf.predict_proba(data.images, batch_size=batch_size)
    calibration = fit_calibration(probs, data.labels, logit_adjustment=logit_adjustment,
                                  max_accuracy_drop=max_accuracy_drop, fitted_on=str(data_path))
    meta = read_metadata(model_path)
    meta["calibration"] = calibration
    meta["inference"] = {**(meta.get("inference") or {}), "tta": tta}
    # With its reliability table: the model page draws the diagram of what the classifier will serve.
    meta.setdefault("metrics", {})["calibrated_validation"] = evaluate_probabilities(
        data.labels, apply_calibration(probs, calibration))
    metadata_path_for(model_path).write_text(json.dumps(meta, indent=1))
    return meta


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="Fit logit offsets and a temperature on held-out faces and "
                                                 "store them in a model's metadata.")
    parser.add_argument("model", help="the .keras file (its .json metadata is beside it)")
    parser.add_argument("data", help="a labelled class-folder tree (the selection split)")
    parser.add_argument("--tta", choices=("none", "flip", "crops"), default="flip")
    parser.add_argument("--no-logit-adjustment", action="store_true")
    parser.add_argument("--max-accuracy-drop", type=float, default=0.005)
    args = parser.parse_args(argv)
    meta = calibrate_model_file(args.model, args.data, tta=args.tta, logit_adjustment=not args.no_logit_adjustment,
                                max_accuracy_drop=args.max_accuracy_drop)
    print(json.dumps({"calibration": meta["calibration"], "inference": meta["inference"],
                      "calibrated_validation": {k: v for k, v in meta["metrics"]["calibrated_validation"].items()
                                                if k in ("accuracy", "balanced_accuracy", "macro_f1", "ece")},
                      "fear_recall": meta["metrics"]["calibrated_validation"]["per_class"]["fear"]["recall"]}))


if __name__ == "__main__":
    main()
