"""The new training and tuning options, without training anything: what is refused and why, the
deterministic task ids of a resumed piece and of a search, cancelling a paused run, the forms and
the pages."""
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from ml import services
from ml.models import JobStatus, TrainingRun, TrainingStatus, TuningRun
from tests.factories import DatasetFactory, TrainingRunFactory, TuningRunFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("config, message", [
    ({"folds": 1}, "at least 2 folds"),
    ({"folds": 3, "max_minutes": 30}, "cannot pause"),
    ({"folds": 3, "val_data": "/"}, "validates on its own held-out folds"),
    ({"crop_size": 20}, "crop size must be 0"),
    ({"crop_size": 60}, "crop size must be between 0 and 48"),
    ({"swa_epochs": 5, "epochs": 3}, "SWA cannot average more epochs"),
    ({"max_minutes": -1}, "max minutes must be between"),
    ({"architecture_options": {"width": 0.5}}, "apply to the 'tuned' preset only"),
    ({"preset": "tuned", "architecture_options": {"depth": 3}}, "Unknown architecture options: depth"),
    ({"preset": "tuned", "architecture_options": {"dropout": 2}}, "dropout must be between"),
])
def test_training_options_are_refused_with_a_reason(config, message):
    with pytest.raises(services.JobRefused, match=message):
        services.training_run_start(dataset=DatasetFactory(), config={"preset": "tiny", **config}, enqueue=False)


def test_new_options_are_kept_in_the_run_config():
    run = services.training_run_start(dataset=DatasetFactory(), enqueue=False, config={
        "preset": "tuned", "crop_size": 40, "swa_epochs": 2, "max_minutes": 90, "epochs": 4,
        "architecture_options": {"width": 0.75, "dense_units": 128, "dropout": 0.3}})
    assert {k: run.config[k] for k in ("crop_size", "swa_epochs", "max_minutes", "folds")} == {
        "crop_size": 40, "swa_epochs": 2, "max_minutes": 90.0, "folds": 0}
    assert run.config["architecture_options"] == {"width": 0.75, "dense_units": 128, "dropout": 0.3}


def test_a_resumed_piece_and_a_search_have_deterministic_task_ids(sent, django_capture_on_commit_callbacks):
    run = TrainingRunFactory(status=TrainingStatus.PAUSED, history=[{"epoch": 1}, {"epoch": 2}])
    dataset = DatasetFactory()
    with django_capture_on_commit_callbacks(execute=True):
        services.training_run_resume(run=run)
        search = services.tuning_run_start(dataset=dataset, max_trials=3, epochs_per_trial=2)
    assert sent == [("ml.tasks.run_training", [run.pk], f"ml:training:{run.pk}:resume:2"),
                    ("ml.tasks.run_tuning", [search.pk], f"ml:tuning:{search.pk}")]
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED and "continues from epoch 2" in run.log
    with pytest.raises(services.JobRefused, match="only a paused run can be resumed"):
        services.training_run_resume(run=run)


def test_cancelling_a_paused_run_ends_it_and_deletes_its_checkpoint(settings):
    run = TrainingRunFactory(status=TrainingStatus.PAUSED, history=[{"epoch": 1}])
    checkpoint = Path(settings.EMO7ION_MODEL_DIR) / f"{run.dataset.name}-tiny-run{run.pk}" / "checkpoint"
    checkpoint.mkdir(parents=True)
    (checkpoint / "state.json").write_text("{}")
    run = services.training_run_cancel(run=run)
    assert run.status == JobStatus.CANCELLED and run.finished_at and "cancelled while paused" in run.log
    assert not checkpoint.parent.exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"algorithm": "grid"}, "Unknown search algorithm 'grid'"),
    ({"max_trials": 0}, "max trials must be a whole number between 1 and 200"),
    ({"epochs_per_trial": 1000}, "epochs per trial must be"),
    ({"limit_per_class": 0}, "limit per class must be at least 1"),
])
def test_tuning_options_are_refused_with_a_reason(kwargs, message):
    with pytest.raises(services.JobRefused, match=message):
        services.tuning_run_start(dataset=DatasetFactory(), enqueue=False, **kwargs)


def test_a_search_needs_faces_to_score_trials_on():
    no_val = DatasetFactory(split_counts={"train": 70})
    with pytest.raises(services.JobRefused, match="has no val/ split to score trials on"):
        services.tuning_run_start(dataset=no_val, enqueue=False)
    run = services.tuning_run_start(dataset=no_val, val_dataset=DatasetFactory(), enqueue=False)
    assert run.status == JobStatus.QUEUED


def test_a_queued_search_is_cancelled_at_once_and_its_task_then_does_nothing():
    run = TuningRunFactory()
    services.tuning_run_cancel(run=run)
    services.tuning_run_execute(run=run)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED and run.trials == [] and "cancelled before it started" in run.log
    running = TuningRunFactory(status=JobStatus.RUNNING)
    running = services.tuning_run_cancel(run=running)
    assert running.cancel_requested and running.status == JobStatus.RUNNING


def test_train_with_the_best_needs_a_finished_search():
    run = TuningRunFactory(status=JobStatus.RUNNING, best={})
    with pytest.raises(services.JobRefused, match="has no best trial yet"):
        services.tuning_run_train_best(run=run)


def test_commands_refuse_bad_options(db):
    DatasetFactory(name="rows-only")
    with pytest.raises(CommandError, match="max trials must be a whole number"):
        call_command("tune_model", "--dataset", "rows-only", "--trials", "0")
    with pytest.raises(CommandError, match="cannot pause"):
        call_command("train_model", "--dataset", "rows-only", "--folds", "3", "--max-minutes", "5")
    with pytest.raises(CommandError, match="Give --dataset"):
        call_command("train_model")
    with pytest.raises(CommandError, match="only a paused run can be resumed"):
        call_command("train_model", "--resume", str(TrainingRunFactory(status=JobStatus.SUCCEEDED).pk))


def test_training_form_takes_the_new_options(staff_client, django_capture_on_commit_callbacks):
    dataset = DatasetFactory()
    with django_capture_on_commit_callbacks(execute=False):
        response = staff_client.post(reverse("ml:training_list"), {
            "dataset": dataset.pk, "preset": "vgg-m", "epochs": 8, "batch_size": 32, "learning_rate": 0.04,
            "warmup_epochs": 1, "augmentation": "strong", "class_weighting": "sqrt", "crop_size": 40,
            "swa_epochs": 2, "max_minutes": 45})
    run = TrainingRun.objects.get()
    assert response.status_code == 302
    assert (run.config["preset"], run.config["crop_size"], run.config["swa_epochs"], run.config["max_minutes"],
            run.config["folds"]) == ("vgg-m", 40, 2, 45.0, 0)
    html = staff_client.get(reverse("ml:training_detail", args=[run.pk])).content.decode()
    assert "40 px crops" in html and "SWA over the last 2 epochs" in html and "pauses after 45 min" in html


def test_tuning_pages_start_a_search_and_refuse_bad_budgets(staff_client, django_capture_on_commit_callbacks):
    dataset = DatasetFactory()
    assert staff_client.get(reverse("ml:tuning_list")).status_code == 200
    response = staff_client.post(reverse("ml:tuning_list"), {"dataset": dataset.pk, "algorithm": "hyperband",
                                                             "max_trials": 0, "epochs_per_trial": 2, "batch_size": 16})
    assert response.status_code == 400 and not TuningRun.objects.exists()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(reverse("ml:tuning_list"), {
            "dataset": dataset.pk, "algorithm": "hyperband", "max_trials": 4, "epochs_per_trial": 3, "batch_size": 16})
    run = TuningRun.objects.get()
    assert response["Location"] == reverse("ml:tuning_detail", args=[run.pk]) and len(callbacks) == 1
    assert (run.algorithm, run.max_trials, run.epochs_per_trial) == ("hyperband", 4, 3)
    html = staff_client.get(reverse("ml:tuning_detail", args=[run.pk])).content.decode()
    assert "at most 4 trials × 3 epochs" in html and reverse("ml:tuning_cancel", args=[run.pk]) in html
    status = staff_client.get(reverse("ml:tuning_status", args=[run.pk])).json()
    assert status["status"] == "queued" and status["trials"] == [] and status["max_trials"] == 4
    staff_client.post(reverse("ml:tuning_cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED


def test_tuning_pages_are_staff_only(client):
    from tests.factories import OrganisationFactory, member_of
    run = TuningRunFactory()
    client.force_login(member_of(OrganisationFactory()))
    for url in (reverse("ml:tuning_list"), reverse("ml:tuning_detail", args=[run.pk]),
                reverse("ml:tuning_status", args=[run.pk])):
        assert client.get(url).status_code == 403, url


def test_tuning_runs_are_in_the_admin(admin_client):
    from django.contrib import admin
    assert admin.site._registry[TuningRun].list_filter
    assert admin_client.get(reverse("admin:ml_tuningrun_changelist") + "?q=x").status_code == 200
