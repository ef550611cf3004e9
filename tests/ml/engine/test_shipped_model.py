"""The shipped default model is what its metadata says: FER2013 labels in FER2013 order, a matching
sha256, and validation metrics that a fresh evaluation on PublicTest reproduces (the README quotes them)."""
from __future__ import annotations

import numpy as np

from ml.engine.classifier import EmotionClassifier, read_metadata
from ml.engine.datasets import read_dataset
from ml.engine.evaluation import evaluate_predictions
from ml.engine.labels import EMOTIONS

from tests.conftest import ROOT, missing

DEFAULT_MODEL = ROOT / "ml" / "default_model" / "emo7ion-fer2013-v1.keras"


def _model_path():
    if not DEFAULT_MODEL.is_file():
        missing(f"{DEFAULT_MODEL} is missing: the default model must be committed")
    return DEFAULT_MODEL


def test_metadata_describes_the_model_and_its_training():
    meta = read_metadata(_model_path())
    assert meta["labels"] == list(EMOTIONS)
    assert meta["input_size"] == 48
    training = meta["training"]
    assert training["dataset_name"] == "fer2013"
    assert len(training["dataset_content_hash"]) == 64
    assert training["n_train"] == 28709
    assert len(training["history"]) == training["config"]["epochs"]
    assert set(meta["metrics"]["validation"]) >= {"accuracy", "balanced_accuracy", "macro_f1", "per_class",
                                                  "confusion_matrix"}


def test_recorded_validation_metrics_are_reproduced_on_publictest(fer_sample_dir):
    meta = read_metadata(_model_path())
    val = read_dataset(fer_sample_dir / "val")
    clf = EmotionClassifier(_model_path())  # verifies the sha256 too
    predicted = clf.predict(val.images)
    fresh = evaluate_predictions(val.labels, predicted)
    recorded = meta["metrics"]["validation"]
    assert fresh["n"] == recorded["n"] == 3435
    assert abs(fresh["accuracy"] - recorded["accuracy"]) < 0.002
    assert abs(fresh["balanced_accuracy"] - recorded["balanced_accuracy"]) < 0.002
    assert np.array_equal(np.asarray(fresh["confusion_matrix"]).sum(axis=1),
                          np.asarray(recorded["confusion_matrix"]).sum(axis=1))
