"""Training, tuning, evaluation and bias audit as Celery jobs on a real worker process."""
import pytest

from ml import services
from ml.models import JobStatus, ModelVersion
from tests.conftest import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.services]


def _refreshed(obj):
    obj.refresh_from_db()
    return obj


def test_tiny_training_through_the_celery_task(start_worker, fer_small, settings):
    dataset = services.dataset_import(path_or_file=fer_small, name="fer-small")
    start_worker({"EMO7ION_MODEL_DIR": str(settings.EMO7ION_MODEL_DIR)})
    run = services.training_run_start(dataset=dataset, config={
        "preset": "tiny", "epochs": 2, "batch_size": 32, "learning_rate": 0.05, "warmup_epochs": 0,
        "augmentation": "light", "mixed_precision": False})
    wait_until(lambda: _refreshed(run).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=300,
               what="the training run to finish")
    assert run.status == JobStatus.SUCCEEDED, run.error + run.log
    assert run.progress == 1.0 and [h["epoch"] for h in run.history] == [1, 2]
    assert all({"loss", "accuracy", "val_loss", "val_accuracy"} <= set(h) for h in run.history)
    assert "epoch 2/2" in run.log and "registered model version" in run.log
    mv = run.model_version
    assert mv is not None and not mv.is_active
    assert mv.file.startswith(str(settings.EMO7ION_MODEL_DIR)) and mv.sha256
    val = mv.metrics["validation"]
    assert val["n"] == 70 and 0 <= val["accuracy"] <= 1 and len(val["confusion_matrix"]) == 7
    assert mv.metadata["training"]["history"] == run.history
    assert mv.training_dataset == dataset


def test_cancel_stops_a_running_training_after_its_epoch(start_worker, fer_small, settings):
    dataset = services.dataset_import(path_or_file=fer_small, name="fer-small")
    start_worker({"EMO7ION_MODEL_DIR": str(settings.EMO7ION_MODEL_DIR)})
    run = services.training_run_start(dataset=dataset, config={
        "preset": "tiny", "epochs": 200, "batch_size": 32, "learning_rate": 0.05, "warmup_epochs": 0,
        "augmentation": "none", "mixed_precision": False})
    wait_until(lambda: len(_refreshed(run).history) >= 1, timeout=300, what="a first epoch")
    services.training_run_cancel(run=run)
    wait_until(lambda: _refreshed(run).status != JobStatus.RUNNING, timeout=120, what="the run to stop")
    assert run.status == JobStatus.CANCELLED and len(run.history) < 200
    assert run.model_version is None and not ModelVersion.objects.exists()
    assert "cancelled after" in run.log


def test_evaluation_and_bias_audit_jobs_then_promotion(start_worker, model_version, fer_small, audit_zip):
    """The whole promotion path on a worker: evaluate, audit, then activation is allowed."""
    from ml.registry import activate_version
    from tests.factories import ModelVersionFactory
    labelled = services.dataset_import(path_or_file=fer_small, name="fer-small")
    audit_set = services.dataset_import(path_or_file=audit_zip, name="utk-30")
    candidate = ModelVersion.objects.get(pk=model_version.pk)
    other = ModelVersionFactory()
    activate_version(other)  # the candidate is no longer the active one
    start_worker()
    with pytest.raises(services.PromotionRefused):
        services.model_version_activate(model_version=candidate)
    ev = services.evaluation_run(model_version=candidate, dataset=labelled)
    audit = services.bias_audit_run(model_version=candidate, dataset=audit_set, min_group_size=5)
    wait_until(lambda: _refreshed(ev).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=300,
               what="the evaluation")
    wait_until(lambda: _refreshed(audit).status in (JobStatus.SUCCEEDED, JobStatus.FAILED), timeout=300,
               what="the audit")
    assert ev.status == JobStatus.SUCCEEDED, ev.error
    assert ev.metrics["n"] == 70 and ev.metrics["split"] == "val"
    assert audit.status == JobStatus.SUCCEEDED, audit.error
    assert audit.verdict in ("pass", "flagged") and set(audit.result["attributes"]) == {"gender", "race"}
    assert audit.result["n"] == 30 and audit.result["labelled"] is False
    services.model_version_activate(model_version=candidate)
    assert ModelVersion.objects.get(is_active=True) == candidate


def test_a_bad_job_fails_with_a_reason_and_the_worker_carries_on(start_worker, model_version, fer_small, tmp_path):
    proc = start_worker()
    bad = services.evaluation_run(model_version=model_version, data_path=str(tmp_path / "vanished"))
    wait_until(lambda: _refreshed(bad).status == JobStatus.FAILED, timeout=300, what="the bad evaluation to fail")
    assert "does not exist" in bad.error
    good = services.evaluation_run(model_version=model_version, data_path=str(fer_small / "val"))
    wait_until(lambda: _refreshed(good).status == JobStatus.SUCCEEDED, timeout=300, what="the next evaluation")
    assert proc.poll() is None  # the same worker, still running


def test_a_search_on_a_worker_reports_progress_and_stops_when_cancelled(start_worker, fer_small, settings):
    dataset = services.dataset_import(path_or_file=fer_small, name="fer-small")
    start_worker({"EMO7ION_MODEL_DIR": str(settings.EMO7ION_MODEL_DIR)})
    run = services.tuning_run_start(dataset=dataset, algorithm="random", max_trials=40, epochs_per_trial=2,
                                    batch_size=16, limit_per_class=6)
    wait_until(lambda: len(_refreshed(run).trials) >= 1, timeout=300, what="a first finished trial")
    assert run.status == JobStatus.RUNNING and 0 < run.progress < 1 and run.heartbeat_at is not None
    assert "trial 1/40" in run.log and run.trials[0]["val_accuracy"] is not None
    services.tuning_run_cancel(run=run)
    wait_until(lambda: _refreshed(run).status != JobStatus.RUNNING, timeout=180, what="the search to stop")
    assert run.status == JobStatus.CANCELLED and len(run.trials) < 40
    assert "cancelled after" in run.log and not run.best_training_run
