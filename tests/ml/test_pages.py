"""ML operations pages: staff see and use them; other signed-in users may only read model
version, evaluation and bias audit pages; anonymous users are sent to sign in."""
import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from ml import registry, services
from ml.engine.bias import audit as engine_audit
from ml.engine.evaluation import evaluate_predictions
from ml.models import BiasAudit, Dataset, Evaluation, JobStatus, ModelVersion, TrainingRun
from tests.factories import (BiasAuditFactory, EvaluationFactory, ModelVersionFactory, OrganisationFactory,
                             TrainingRunFactory, member_of)
from tests.ml.conftest import zip_folder

pytestmark = pytest.mark.django_db


@pytest.fixture
def records(fer_small):
    """One of everything, with real engine outputs in the result fields."""
    ds = services.dataset_import(path_or_file=fer_small, name="fer-small")
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.integers(0, 7, 300), rng.integers(0, 7, 300)
    history = [{"epoch": 1, "loss": 1.9, "accuracy": 0.3, "val_loss": 1.8, "val_accuracy": 0.35},
               {"epoch": 2, "loss": 1.6, "accuracy": 0.4, "val_loss": 1.7, "val_accuracy": 0.38}]
    mv = ModelVersionFactory(metrics={"validation": evaluate_predictions(y_true, y_pred)},
                             metadata={"training": {"dataset_name": "fer-small", "history": history,
                                                    "config": {"preset": "tiny", "epochs": 2}}})
    ev = EvaluationFactory(model_version=mv, dataset=ds, status=JobStatus.SUCCEEDED,
                           metrics={**evaluate_predictions(y_true, y_pred), "split": "val", "note": "val",
                                    "faces_per_second": 1000.0, "data": "fer-small"})
    groups = {"gender": ["f", "m"] * 150, "age_band": ["20-39"] * 200 + ["60+"] * 100}
    result = engine_audit(y_pred, groups, y_true=y_true)
    labelled = BiasAuditFactory(model_version=mv, data_path="/audit", status=JobStatus.SUCCEEDED, result=result,
                                verdict=result["verdict"])
    unlabelled = BiasAuditFactory(model_version=mv, data_path="/audit2", status=JobStatus.SUCCEEDED,
                                  result=engine_audit(y_pred, groups))
    run = TrainingRunFactory(dataset=ds, config={"preset": "tiny", "epochs": 2, "batch_size": 32,
                                                 "learning_rate": 0.1, "augmentation": "none"},
                             history=history, status=JobStatus.RUNNING, progress=1.0, log="epoch 1/2\n")
    return {"dataset": ds, "mv": mv, "ev": ev, "labelled": labelled, "unlabelled": unlabelled, "run": run}


def staff_urls(r):
    return [reverse("ml:index"), reverse("ml:dataset_list"), reverse("ml:dataset_upload"),
            reverse("ml:dataset_detail", args=[r["dataset"].pk]), reverse("ml:training_list"),
            reverse("ml:training_detail", args=[r["run"].pk]), reverse("ml:training_status", args=[r["run"].pk]),
            reverse("ml:model_version_list"), reverse("ml:evaluation_new"), reverse("ml:bias_audit_new")]


def reader_urls(r):
    return [reverse("ml:model_version_detail", args=[r["mv"].pk]), reverse("ml:evaluation_detail", args=[r["ev"].pk]),
            reverse("ml:bias_audit_detail", args=[r["labelled"].pk]),
            reverse("ml:bias_audit_detail", args=[r["unlabelled"].pk])]


def _figure_ids(html: str) -> set[str]:
    start = html.index('id="ml-figures">') + len('id="ml-figures">')
    figs = json.loads(html[start:html.index("</script>", start)])
    for name in figs:
        assert f'id="fig-{name}"' in html, f"figure {name} has no element to draw into"
    return set(figs)


def test_staff_see_every_page(staff_client, records):
    for url in staff_urls(records) + reader_urls(records):
        response = staff_client.get(url)
        assert response.status_code == 200, url


def test_non_staff_members_are_refused_management_but_may_read_model_pages(client, records):
    member = member_of(OrganisationFactory())
    client.force_login(member)
    for url in staff_urls(records):
        assert client.get(url).status_code == 403, url
    for url in reader_urls(records):
        response = client.get(url)
        assert response.status_code == 200, url
        assert b"Activate for new analyses" not in response.content and b"Roll back" not in response.content
    activate = reverse("ml:model_version_activate", args=[records["mv"].pk])
    assert client.post(activate).status_code == 403
    assert client.post(reverse("ml:training_cancel", args=[records["run"].pk])).status_code == 403


def test_anonymous_users_are_sent_to_sign_in(client, records):
    for url in staff_urls(records) + reader_urls(records):
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login" in response["Location"], url


def test_dataset_stats_page_has_class_balance_samples_and_attributes(staff_client, records, audit_zip):
    html = staff_client.get(reverse("ml:dataset_detail", args=[records["dataset"].pk])).content.decode()
    assert _figure_ids(html) == {"class-balance"}
    assert html.count('src="data:image/png;base64,') == 7 * 8
    assert "/static/plotly/plotly.min.js" in html and 'src="http' not in html  # served locally, no CDN
    audit_set = services.dataset_import(path_or_file=audit_zip, name="utk-30")
    html = staff_client.get(reverse("ml:dataset_detail", args=[audit_set.pk])).content.decode()
    assert _figure_ids(html) == {"attributes"}
    assert "gender" in html and "race" in html


def test_model_version_page_shows_metrics_and_curves(staff_client, records):
    mv = records["mv"]
    html = staff_client.get(reverse("ml:model_version_detail", args=[mv.pk])).content.decode()
    assert _figure_ids(html) == {"per-class", "confusion", "curves"}
    assert "it has no succeeded" not in html  # it has both
    assert "Activate for new analyses" in html
    bare = ModelVersionFactory()
    html = staff_client.get(reverse("ml:model_version_detail", args=[bare.pk])).content.decode()
    assert "It cannot be activated yet: it has no succeeded evaluation and no succeeded bias audit" in html


def test_bias_audit_pages_render_charts(staff_client, records):
    html = staff_client.get(reverse("ml:bias_audit_detail", args=[records["labelled"].pk])).content.decode()
    assert _figure_ids(html) == {"parity-overview", "parity-0", "accuracy-0", "recall-0",
                                 "parity-1", "accuracy-1", "recall-1"}
    assert "A <strong>labelled</strong> audit" in html and "By gender" in html and "By age_band" in html
    html = staff_client.get(reverse("ml:bias_audit_detail", args=[records["unlabelled"].pk])).content.decode()
    assert _figure_ids(html) == {"parity-overview", "parity-0", "parity-1"}
    assert "An <strong>unlabelled</strong> audit" in html


def test_activate_refused_then_allowed_from_the_page(staff_client, staff_user):
    mv = ModelVersionFactory()
    url = reverse("ml:model_version_activate", args=[mv.pk])
    response = staff_client.post(url, follow=True)
    assert "cannot be activated: it has no succeeded evaluation and no succeeded bias audit" in response.content.decode()
    assert not ModelVersion.objects.filter(is_active=True).exists()
    EvaluationFactory(model_version=mv, status=JobStatus.SUCCEEDED)
    BiasAuditFactory(model_version=mv, status=JobStatus.SUCCEEDED)
    response = staff_client.post(url, follow=True)
    assert "is now the active model" in response.content.decode()
    mv.refresh_from_db()
    assert mv.is_active and mv.activations.get().activated_by == staff_user


def test_rollback_from_the_page(staff_client):
    old, new = ModelVersionFactory(), ModelVersionFactory()
    registry.activate_version(old)
    registry.activate_version(new)
    response = staff_client.post(reverse("ml:model_version_rollback"), follow=True)
    assert f"Rolled back: {old.name} is active again" in response.content.decode()
    assert ModelVersion.objects.get(is_active=True) == old


def test_upload_dataset_through_the_page(staff_client, fer_small, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    z = zip_folder(fer_small / "val", tmp_path / "val.zip")
    response = staff_client.post(reverse("ml:dataset_upload"), {
        "name": "uploaded", "kind": "", "file": SimpleUploadedFile("val.zip", z.read_bytes())})
    ds = Dataset.objects.get(name="uploaded")
    assert response.status_code == 302 and response["Location"] == reverse("ml:dataset_detail", args=[ds.pk])
    assert ds.n_images == 70 and ds.kind == "training"


def test_bad_upload_shows_the_reason(staff_client, tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    response = staff_client.post(reverse("ml:dataset_upload"), {
        "name": "bad", "file": SimpleUploadedFile("faces.csv", b"name,age\nbob,3\n")})
    assert response.status_code == 400
    assert "neither FER2013" in response.content.decode()
    assert not Dataset.objects.exists()


def test_training_form_queues_a_run_and_cancel(staff_client, records, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(reverse("ml:training_list"), {
            "dataset": records["dataset"].pk, "preset": "tiny", "epochs": 3, "batch_size": 32,
            "learning_rate": 0.05, "warmup_epochs": 0, "augmentation": "light", "class_weighting": "sqrt"})
    run = TrainingRun.objects.exclude(pk=records["run"].pk).get()
    assert response.status_code == 302 and response["Location"] == reverse("ml:training_detail", args=[run.pk])
    assert run.status == "queued" and run.config["epochs"] == 3 and len(callbacks) == 1  # enqueued after commit
    staff_client.post(reverse("ml:training_cancel", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == "cancelled"
    staff_client.post(reverse("ml:training_cancel", args=[records["run"].pk]))  # running: asked to stop
    records["run"].refresh_from_db()
    assert records["run"].cancel_requested and records["run"].status == "running"


def test_training_form_rejects_bad_numbers(staff_client, records):
    response = staff_client.post(reverse("ml:training_list"), {
        "dataset": records["dataset"].pk, "preset": "huge", "epochs": 0, "batch_size": 32,
        "learning_rate": -1, "warmup_epochs": 0, "augmentation": "light", "class_weighting": "sqrt"})
    assert response.status_code == 400
    assert TrainingRun.objects.count() == 1


def test_training_status_json_drives_the_live_chart(staff_client, records):
    data = staff_client.get(reverse("ml:training_status", args=[records["run"].pk])).json()
    assert data["status"] == "running" and len(data["history"]) == 2
    assert {t["name"] for t in data["figure"]["data"]} >= {"training loss", "validation accuracy"}


def test_evaluation_and_audit_forms_queue_jobs(staff_client, records, audit_zip, django_capture_on_commit_callbacks):
    mv, ds = records["mv"], records["dataset"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(reverse("ml:evaluation_new"), {"model_version": mv.pk, "dataset": ds.pk,
                                                                     "split": "", "faces": "auto"})
    ev = Evaluation.objects.exclude(pk=records["ev"].pk).get()
    assert response["Location"] == reverse("ml:evaluation_detail", args=[ev.pk]) and len(callbacks) == 1
    audit_set = services.dataset_import(path_or_file=audit_zip, name="utk-30")
    response = staff_client.post(reverse("ml:bias_audit_new"), {
        "model_version": mv.pk, "dataset": audit_set.pk, "attributes": "religion", "gap_threshold": 0.1,
        "ratio_threshold": 0.8, "min_group_size": 5})
    assert response.status_code == 400 and "utk-30 has no attribute religion" in response.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = staff_client.post(reverse("ml:bias_audit_new"), {
            "model_version": mv.pk, "dataset": audit_set.pk, "attributes": "gender", "gap_threshold": 0.2,
            "ratio_threshold": 0.8, "min_group_size": 5})
    audit = BiasAudit.objects.get(dataset=audit_set)
    assert audit.attributes == ["gender"] and audit.gap_threshold == 0.2 and audit.status == "queued"
    assert len(callbacks) == 1


def test_every_ml_model_is_in_the_admin_with_filters_and_search(admin_client):
    from django.contrib import admin

    from ml import models
    for model in (models.Dataset, models.ModelVersion, models.ModelActivation, models.TrainingRun,
                  models.Evaluation, models.BiasAudit):
        model_admin = admin.site._registry[model]
        assert model_admin.list_filter and model_admin.search_fields, model
        url = reverse(f"admin:ml_{model._meta.model_name}_changelist")
        assert admin_client.get(url + "?q=x").status_code == 200
