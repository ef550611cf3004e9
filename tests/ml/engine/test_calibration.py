"""Calibration: temperature scaling makes over-confident probabilities honest without changing any
prediction; logit offsets raise balanced accuracy within the allowed accuracy loss; both round-trip
through the model's metadata and are applied by the classifier."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ml.engine.calibration import (apply_calibration, fit_calibration, fit_logit_offsets, fit_temperature,
                                   reliability, softmax)
from ml.engine.classifier import EmotionClassifier, metadata_path_for
from ml.engine.evaluation import evaluate_probabilities


def _overconfident(n=4000, classes=7, seed=0):
    """True class probabilities from a known softmax, reported with logits x3 (over-confident)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.0, (n, classes))
    labels = np.array([rng.choice(classes, p=p) for p in softmax(logits)])
    return softmax(logits * 3.0), labels


def test_temperature_undoes_overconfidence_and_keeps_every_prediction():
    probs, labels = _overconfident()
    t = fit_temperature(probs, labels)
    assert t == pytest.approx(3.0, rel=0.15)
    calibrated = apply_calibration(probs, {"temperature": t})
    assert (calibrated.argmax(1) == probs.argmax(1)).all()
    before, after = reliability(probs, labels)["ece"], reliability(calibrated, labels)["ece"]
    assert before > 0.15 and after < 0.03


def test_reliability_table_of_perfectly_calibrated_confidences():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.5, 1.0, 20000)
    correct = rng.uniform(size=20000) < confidence
    probs = np.stack([confidence, 1 - confidence], axis=1)
    labels = np.where(correct, 0, 1)
    table = reliability(probs, labels, bins=10)
    assert table["ece"] < 0.02
    assert sum(row["n"] for row in table["bins"]) == 20000
    assert table["bins"][0]["n"] == 0 and table["bins"][0]["accuracy"] is None  # nothing below 0.1


def test_logit_offsets_raise_balanced_accuracy_within_the_accuracy_floor():
    rng = np.random.default_rng(2)
    n = 6000
    labels = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])
    logits = rng.normal(0, 1.0, (n, 3))
    logits[np.arange(n), labels] += 1.2
    logits[:, 0] += 1.5  # a model strongly biased towards the majority class
    probs = softmax(logits)
    base_pred = probs.argmax(1)
    offsets = fit_logit_offsets(probs, labels, max_accuracy_drop=0.01)
    adjusted = apply_calibration(probs, {"logit_offsets": offsets.tolist()}).argmax(1)

    def balanced(pred):
        return np.mean([np.mean(pred[labels == c] == c) for c in range(3)])
    assert balanced(adjusted) > balanced(base_pred) + 0.02
    assert np.mean(adjusted == labels) >= np.mean(base_pred == labels) - 0.01
    assert offsets[0] < 0  # the majority class is pushed down
    assert abs(offsets.mean()) < 1e-9


def test_evaluation_reports_ece_and_reliability():
    probs, labels = _overconfident(n=500)
    metrics = evaluate_probabilities(labels, probs)
    assert metrics["n"] == 500 and 0 <= metrics["ece"] <= 1
    assert len(metrics["reliability"]) == 15
    assert metrics["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == labels))


def test_stored_calibration_and_tta_are_applied_at_inference(tiny_model_path, tmp_path):
    model = tmp_path / tiny_model_path.name
    model.write_bytes(tiny_model_path.read_bytes())
    meta = json.loads(metadata_path_for(tiny_model_path).read_text())
    metadata_path_for(model).write_text(json.dumps(meta))
    faces = np.random.default_rng(3).integers(0, 255, (6, 48, 48), dtype=np.uint8)
    raw = EmotionClassifier(model).predict_proba(faces)
    flipped = EmotionClassifier(model, tta="none").predict_proba(faces[:, :, ::-1])

    calibration = fit_calibration(raw, np.arange(6) % 7, logit_adjustment=False, fitted_on="six faces")
    meta["calibration"] = calibration
    meta["inference"] = {"tta": "flip"}
    metadata_path_for(model).write_text(json.dumps(meta))
    clf = EmotionClassifier(model)
    assert clf.tta == "flip"
    expected = apply_calibration((raw + flipped) / 2, calibration)
    np.testing.assert_allclose(clf.predict_proba(faces), expected, rtol=1e-4, atol=1e-6)
    uncalibrated = EmotionClassifier(model, tta="none", calibrated=False)
    np.testing.assert_allclose(uncalibrated.predict_proba(faces), raw, rtol=1e-5, atol=1e-6)


def test_ten_crop_needs_a_model_trained_on_crops(tiny_model_path):
    from ml.engine.errors import ConfigurationError
    with pytest.raises(ConfigurationError, match="trained on crops"):
        EmotionClassifier(tiny_model_path, tta="crops").predict_proba(np.zeros((1, 48, 48), np.uint8))
    with pytest.raises(ConfigurationError, match="Unknown test-time augmentation"):
        EmotionClassifier(tiny_model_path, tta="rotate")


def test_calibrating_a_model_file_writes_its_metadata_and_the_classifier_follows(tiny_model_path, tmp_path,
                                                                                 fer_val_dir):
    from ml.engine.calibration import calibrate_model_file
    from ml.engine.datasets import read_dataset

    model = tmp_path / tiny_model_path.name
    model.write_bytes(tiny_model_path.read_bytes())
    metadata_path_for(model).write_text(metadata_path_for(tiny_model_path).read_text())
    import cv2

    from ml.engine.labels import EMOTIONS
    subset = tmp_path / "val"
    data = read_dataset(fer_val_dir, limit_per_class=15)
    for i, (image, label) in enumerate(zip(data.images, data.labels)):  # a small labelled tree: <label>/<file>
        (subset / EMOTIONS[label]).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(subset / EMOTIONS[label] / f"{i}.png"), image)
    meta = calibrate_model_file(str(model), str(subset), tta="flip")
    assert meta["inference"] == {"tta": "flip"}
    assert meta["calibration"]["temperature"] > 0 and len(meta["calibration"]["logit_offsets"]) == 7
    assert meta["metrics"]["calibrated_validation"]["n"] == 105
    assert len(meta["metrics"]["calibrated_validation"]["reliability"]) == 15
    clf = EmotionClassifier(model)
    assert clf.tta == "flip" and clf.calibration == meta["calibration"]
