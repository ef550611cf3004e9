"""The seeds' toolkit in the engine, on tiny data: k-fold cross-validation (stratified folds, mean ± sd)
and a KerasTuner search with a trial budget, a results table, cancel, and "train with the best"."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ml.engine.crossval import cross_validate, stratified_folds
from ml.engine.errors import DatasetError
from ml.engine.training import TrainingConfig, train
from ml.engine.tuning import TuningConfig, training_overrides, tune


def test_stratified_folds_share_every_class_evenly():
    labels = np.repeat(np.arange(3), [30, 12, 7])
    folds = stratified_folds(labels, 3, seed=1)
    assert sorted(Counter(folds).values()) == [16, 16, 17]
    for c, n in ((0, 30), (1, 12), (2, 7)):
        per_fold = Counter(folds[labels == c])
        assert max(per_fold.values()) - min(per_fold.values()) <= 1 and sum(per_fold.values()) == n
    assert (stratified_folds(labels, 3, seed=1) == folds).all()


def test_k_fold_trains_each_fold_and_summarises(fer_sample_dir, tmp_path):
    config = TrainingConfig(train_data=str(fer_sample_dir / "train"), output_dir=str(tmp_path / "cv"), preset="tiny",
                            epochs=1, batch_size=16, limit_per_class=6, augmentation="none", warmup_epochs=0)
    seen = []
    result = cross_validate(config, 3, on_fold=lambda fold, folds, row: seen.append((fold, folds)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    assert [r["n_val"] for r in result["results"]] == [14, 14, 14]
    accuracies = [r["accuracy"] for r in result["results"]]
    assert result["summary"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies), abs=1e-4)
    assert result["summary"]["accuracy"]["sd"] == pytest.approx(np.std(accuracies, ddof=1), abs=1e-4)
    assert set(result["summary"]["recall"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert (tmp_path / "cv" / "fold-3" / "model.keras").exists()


def test_k_fold_refuses_more_folds_than_the_smallest_class(fer_sample_dir, tmp_path):
    config = TrainingConfig(train_data=str(fer_sample_dir / "train"), output_dir=str(tmp_path / "cv"),
                            preset="tiny", epochs=1, limit_per_class=2)
    with pytest.raises(DatasetError, match="at least 3 faces for 3 folds; the smallest has 2"):
        cross_validate(config, 3)


def _tuning(fer_sample_dir, tmp_path, **kw):
    return TuningConfig(train_data=str(fer_sample_dir / "train"), val_data=str(fer_sample_dir / "val"),
                        output_dir=str(tmp_path / "tune"), limit_per_class=8, batch_size=16, **kw)


def test_a_search_spends_its_trial_budget_and_its_best_trains(fer_sample_dir, tmp_path):
    rows = []
    result = tune(_tuning(fer_sample_dir, tmp_path, algorithm="random", max_trials=2, epochs_per_trial=1),
                  on_trial=lambda done, total, row: rows.append((done, total)))
    assert rows == [(1, 2), (2, 2)] and not result["cancelled"]
    assert len(result["trials"]) == 2
    best = result["best"]
    assert best["val_accuracy"] == max(t["val_accuracy"] for t in result["trials"])
    assert set(best["hyperparameters"]) == {"width", "dense_units", "dropout", "learning_rate"}
    assert (tmp_path / "tune" / "results.json").exists()
    overrides = training_overrides(best["hyperparameters"])
    trained = train(TrainingConfig(train_data=str(fer_sample_dir / "train"), output_dir=str(tmp_path / "best"),
                                   epochs=1, batch_size=16, limit_per_class=4, augmentation="none", **overrides))
    import keras
    model = keras.models.load_model(trained.model_path)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)][0]
    assert dense.units == best["hyperparameters"]["dense_units"]


def test_a_search_can_be_cancelled(fer_sample_dir, tmp_path):
    result = tune(_tuning(fer_sample_dir, tmp_path, algorithm="hyperband", max_trials=4, epochs_per_trial=3),
                  should_stop=lambda: True)
    assert result["cancelled"] and result["best"] is None
