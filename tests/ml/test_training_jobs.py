"""The seeds' toolkit through Celery (eager: the task runs in-process, sent by name as a worker would
get it), on tiny data: a run that pauses at its budget and resumes, k-fold cross-validation with
progress, cancel and its page, a KerasTuner search with its page and "train with the best", and the
model metadata (crop size, TTA, temperature, logit offsets, SWA) from register to the classifier."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.urls import reverse

from ml import services
from ml.models import Evaluation, JobStatus, ModelVersion, TrainingRun, TuningRun
from tests.ml.test_pages import _figure_ids

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TINY = {"preset": "tiny", "batch_size": 32, "learning_rate": 0.05, "warmup_epochs": 0, "augmentation": "none",
        "mixed_precision": False, "limit_per_class": 10}


@pytest.fixture
def fer_dataset(fer_small):
    return services.dataset_import(path_or_file=fer_small, name="fer-small")


def test_a_paused_run_shows_as_resumable_and_resumes_through_celery(staff_client, fer_dataset, eager, settings,
                                                                     django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_run_start(dataset=fer_dataset, config={**TINY, "epochs": 2, "pause_after_epochs": 1})
    run.refresh_from_db()
    assert run.status == "paused" and not run.is_finished and run.finished_at is None and not run.error
    assert [h["epoch"] for h in run.history] == [1] and run.model_version is None and run.progress == 0.5
    assert "paused after epoch 1/2" in run.log
    assert (Path(settings.EMO7ION_MODEL_DIR) / f"fer-small-tiny-run{run.pk}" / "checkpoint" / "state.json").exists()
    status = staff_client.get(reverse("ml:training_status", args=[run.pk])).json()
    assert status["status"] == "paused" and status["paused"] and status["finished"]  # the page stops polling
    html = staff_client.get(reverse("ml:training_detail", args=[run.pk])).content.decode()
    assert 'id="paused"' in html and reverse("ml:training_resume", args=[run.pk]) in html
    services.training_run_execute(run=run)  # a stray redelivery of the first piece does not resume it
    run.refresh_from_db()
    assert run.status == "paused" and len(run.history) == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("ml:training_resume", args=[run.pk]))
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error + run.log
    assert [h["epoch"] for h in run.history] == [1, 2] and run.progress == 1.0
    mv = run.model_version
    assert [h["epoch"] for h in mv.metadata["training"]["history"]] == [1, 2]
    # The reference: the validation faces evaluated in the served mode, with calibration error.
    reference = mv.reference_evaluation
    assert reference.recorded_from == Evaluation.RecordedFrom.TRAINING and reference.status == JobStatus.SUCCEEDED
    assert reference.metrics["n"] == 70 and 0 <= reference.metrics["ece"] <= 1
    assert len(reference.metrics["reliability"]) == 15
    assert "succeeded evaluation" in services.promotion_blockers(mv)  # someone still has to evaluate it
    html = staff_client.get(reverse("ml:model_version_detail", args=[mv.pk])).content.decode()
    assert "on fer-small val, 70 faces" in html and "reliability" in _figure_ids(html)


def _track_folds(monkeypatch, run_of, after_fold=None):
    """Wrap the engine's per-fold training: record the run's progress after each fold (and act)."""
    import ml.engine.crossval as crossval

    seen, original = [], crossval.train

    def train(config, **kw):
        result = original(config, **kw)
        run = run_of()
        seen.append(round(run.progress, 3))
        if after_fold:
            after_fold(run, len(seen))
        return result
    monkeypatch.setattr(crossval, "train", train)
    return seen


def test_k_fold_cross_validation_through_celery_with_progress_and_its_page(staff_client, fer_dataset, eager,
                                                                            monkeypatch, settings,
                                                                            django_capture_on_commit_callbacks):
    progress = _track_folds(monkeypatch, lambda: TrainingRun.objects.latest("pk"))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("ml:training_list"), {
            "dataset": fer_dataset.pk, "preset": "tiny", "epochs": 1, "batch_size": 32, "learning_rate": 0.05,
            "warmup_epochs": 0, "augmentation": "none", "class_weighting": "sqrt", "limit_per_class": 6, "folds": 3})
    run = TrainingRun.objects.get()
    assert response["Location"] == reverse("ml:training_detail", args=[run.pk])
    assert run.status == JobStatus.SUCCEEDED, run.error + run.log
    assert progress == [pytest.approx(1 / 3, abs=1e-3), pytest.approx(2 / 3, abs=1e-3), 1.0]
    assert [(h["fold"], h["epoch"]) for h in run.history] == [(1, 1), (2, 1), (3, 1)]
    cv = run.cross_validation
    assert [r["fold"] for r in cv["results"]] == [1, 2, 3] and [r["n_val"] for r in cv["results"]] == [14, 14, 14]
    accuracies = [r["accuracy"] for r in cv["results"]]
    assert cv["summary"]["accuracy"]["mean"] == pytest.approx(np.mean(accuracies), abs=1e-4)
    assert cv["summary"]["accuracy"]["sd"] == pytest.approx(np.std(accuracies, ddof=1), abs=1e-4)
    assert run.model_version is None and not ModelVersion.objects.exists()   # it measures a recipe
    assert not (Path(settings.EMO7ION_MODEL_DIR) / f"fer-small-tiny-run{run.pk}").exists()
    html = staff_client.get(reverse("ml:training_detail", args=[run.pk])).content.decode()
    assert _figure_ids(html) == {"curves", "crossval"} and "mean ± sd" in html
    assert html.count("<td>14</td>") == 3
    status = staff_client.get(reverse("ml:training_status", args=[run.pk])).json()
    assert {t["name"] for t in status["crossval_figure"]["data"]} == {"mean ± sd", "fold 1", "fold 2", "fold 3"}
    out = io.StringIO()
    call_command("train_model", "--dataset", "fer-small", "--preset", "tiny", "--epochs", "1", "--batch-size", "32",
                 "--limit-per-class", "4", "--augmentation", "none", "--folds", "2", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["status"] == "succeeded" and len(result["cross_validation"]["results"]) == 2
    assert set(result["cross_validation"]["summary"]) == {"accuracy", "balanced_accuracy", "macro_f1", "recall"}


def test_a_k_fold_run_cancelled_mid_way_keeps_its_finished_folds(fer_dataset, eager, monkeypatch,
                                                                 django_capture_on_commit_callbacks):
    def cancel_after_first(run, folds_done):
        if folds_done == 1:
            services.training_run_cancel(run=run)
    _track_folds(monkeypatch, lambda: TrainingRun.objects.latest("pk"), after_fold=cancel_after_first)
    with django_capture_on_commit_callbacks(execute=True):
        run = services.training_run_start(dataset=fer_dataset, config={**TINY, "epochs": 1, "folds": 3,
                                                                       "limit_per_class": 6})
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.cancel_requested
    results = run.cross_validation["results"]
    assert [r["fold"] for r in results] == [1, 2] and results[1]["cancelled"] and run.cross_validation["cancelled"]
    assert "cancelled during fold 2/3" in run.log


def test_tuning_run_through_celery_its_page_and_train_with_the_best(staff_client, fer_dataset, eager, settings,
                                                                    django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("ml:tuning_list"), {
            "dataset": fer_dataset.pk, "algorithm": "random", "max_trials": 2, "epochs_per_trial": 1,
            "batch_size": 16, "limit_per_class": 8})
    run = TuningRun.objects.get()
    assert response["Location"] == reverse("ml:tuning_detail", args=[run.pk])
    assert run.status == JobStatus.SUCCEEDED, run.error + run.log
    assert run.progress == 1.0 and len(run.trials) == 2 and "trial 2/2" in run.log
    assert run.best["val_accuracy"] == max(t["val_accuracy"] for t in run.trials)
    assert set(run.best["hyperparameters"]) == {"width", "dense_units", "dropout", "learning_rate"}
    assert not (Path(settings.EMO7ION_MODEL_DIR) / "tuning" / f"tuning-run{run.pk}").exists()
    html = staff_client.get(reverse("ml:tuning_detail", args=[run.pk])).content.decode()
    assert _figure_ids(html) == {"trials"} and html.count('<tr class="best">') == 1
    assert reverse("ml:tuning_train_best", args=[run.pk]) in html
    assert reverse("ml:tuning_detail", args=[run.pk]) in staff_client.get(reverse("ml:tuning_list")).content.decode()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(reverse("ml:tuning_train_best", args=[run.pk]), {"epochs": 3})
    training = TrainingRun.objects.get()
    assert response["Location"] == reverse("ml:training_detail", args=[training.pk]) and len(callbacks) == 1
    best = run.best["hyperparameters"]
    assert training.config["preset"] == "tuned" and training.config["epochs"] == 3
    assert training.config["learning_rate"] == pytest.approx(best["learning_rate"])
    assert training.config["architecture_options"] == {k: best[k] for k in ("width", "dense_units", "dropout")}
    assert training.config["limit_per_class"] == 8
    run.refresh_from_db()
    assert run.best_training_run == training


def test_metadata_round_trips_from_register_to_the_classifier_and_the_model_page(staff_client, fer_small, tmp_path):
    """Crop size, SWA, TTA, temperature and logit offsets: written by training and calibration, kept by
    register_model on the ModelVersion, applied by the classifier the workers load, shown on the page."""
    from ml import runtime
    from ml.engine.calibration import apply_calibration, calibrate_model_file
    from ml.engine.classifier import EmotionClassifier
    from ml.engine.datasets import read_dataset
    from ml.engine.training import TrainingConfig, train

    trained = train(TrainingConfig(
        train_data=str(fer_small / "train"), val_data=str(fer_small / "val"), output_dir=str(tmp_path / "m"),
        preset="tiny", epochs=2, batch_size=32, learning_rate=0.05, warmup_epochs=0, augmentation="light",
        limit_per_class=10, crop_size=40, swa_epochs=1, version="tiny-crops"))
    calibrate_model_file(trained.model_path, str(fer_small / "val"), tta="flip")
    out = io.StringIO()
    call_command("register_model", trained.model_path, "--json", stdout=out)
    mv = ModelVersion.objects.get(pk=json.loads(out.getvalue())["id"])
    meta = mv.metadata
    calibration = meta["calibration"]
    assert meta["crop"] == {"size": 40} and meta["inference"]["tta"] == "flip"
    assert meta["training"]["swa"]["epochs"] == 1 and meta["training"]["config"]["swa_epochs"] == 1
    assert calibration["temperature"] > 0 and len(calibration["logit_offsets"]) == 7

    clf = runtime.get_classifier(mv)
    assert clf.crop_size == 40 and clf.tta == "flip" and clf.calibration == calibration
    faces = read_dataset(fer_small / "val").images[:24]
    raw = EmotionClassifier(mv.file, tta="flip", calibrated=False).predict_proba(faces)
    np.testing.assert_allclose(clf.predict_proba(faces), apply_calibration(raw, calibration), atol=1e-5)

    reference = mv.reference_evaluation  # the calibrated validation: the mode inference serves
    assert reference.recorded_from == Evaluation.RecordedFrom.TRAINING
    assert reference.metrics["ece"] == mv.metrics["calibrated_validation"]["ece"]
    html = staff_client.get(reverse("ml:model_version_detail", args=[mv.pk])).content.decode()
    assert "data-tta>flip<" in html and f"data-temperature>{calibration['temperature']}<" in html
    assert "the centre 40 px crop of the 48 px face" in html and "(SWA, from epoch 2)" in html
    assert html.count("<tr><th scope=\"row\">", html.index('id="logit-offsets"')) >= 7 and "data-ece" in html
    assert str(tmp_path) not in html and str(fer_small) not in html

    out = io.StringIO()
    call_command("evaluate_model", "--data", str(fer_small), "--model", "tiny-crops", "--json", stdout=out)
    result = json.loads(out.getvalue())
    assert result["tta_mode"] == "flip" and result["calibrated"] and result["crop_size"] == 40
    assert 0 <= result["ece"] <= 1 and len(result["reliability"]) == 15
    assert sum(b["n"] for b in result["reliability"]) == result["n"] == 70
