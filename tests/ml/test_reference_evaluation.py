"""Issue 14's bug: a report's "measured accuracy" was whatever had been evaluated last. A model version
now has ONE reference evaluation, on a named dataset, which reports, the model card and the API quote;
other evaluations are listed, one whose data lacks some of the model's classes says so, and no page
shows a server path."""
import json
import shutil

import pytest
from django.urls import reverse

from accounts.models import Role
from analysis.models import Analysis
from ml import services
from ml.engine.evaluation import evaluate_predictions
from ml.engine.labels import EMOTIONS
from ml.models import Evaluation, JobStatus, data_name_for_path
from reports.selectors import analysis_model_info
from tests.factories import (AnalysisFactory, BiasAuditFactory, DatasetFactory, EvaluationFactory, FootageFactory,
                             ModelVersionFactory, OrganisationFactory, member_of)

pytestmark = pytest.mark.django_db

SECRET = "/srv/emo7ion-private/datasets"   # a server path no page may show


def _metrics(accuracy: float, n: int, *, without: tuple[str, ...] = ()) -> dict:
    """Engine metrics of `n` faces with the given accuracy; classes in `without` have no face."""
    present = [i for i, e in enumerate(EMOTIONS) if e not in without]
    y_true = [present[k % len(present)] for k in range(n)]
    right = round(accuracy * n)
    y_pred = [t if k < right else present[(present.index(t) + 1) % len(present)] for k, t in enumerate(y_true)]
    return evaluate_predictions(y_true, y_pred)


def _fer2013_version(**fields):
    """A version as the shipped v1 records itself: 64.1% on FER2013's PublicTest (the val/ folder)."""
    return ModelVersionFactory(metrics={"validation": _metrics(0.641, 3435)}, metadata={"training": {
        "dataset_name": "fer2013", "config": {"train_data": f"{SECRET}/fer2013/train",
                                              "val_data": f"{SECRET}/fer2013/val", "output_dir": f"{SECRET}/out"}}},
        **fields)


def _ckplus_evaluation(mv):
    """A later evaluation on a posed 6-class set (no neutral face): it must not become the quote."""
    return EvaluationFactory(model_version=mv, status=JobStatus.SUCCEEDED, data_path=f"{SECRET}/ckplus",
                             metrics={**_metrics(0.76, 900, without=("neutral",)), "data": f"{SECRET}/ckplus"})


def test_data_is_named_never_given_as_a_path():
    assert data_name_for_path(f"{SECRET}/fer2013/val") == "FER2013 PublicTest"
    assert data_name_for_path("../shared/datasets/fer2013/test/") == "FER2013 PrivateTest"
    assert data_name_for_path(f"{SECRET}/ckplus") == "ckplus"
    assert data_name_for_path(f"{SECRET}/jaffe/validation") == "jaffe validation"
    assert data_name_for_path("") == ""


def test_the_report_quotes_the_reference_evaluation_not_the_latest(client):
    mv = _fer2013_version()
    reference = services.model_version_ensure_reference(model_version=mv)
    assert reference.recorded_from == Evaluation.RecordedFrom.TRAINING and mv.reference_evaluation == reference
    ckplus = _ckplus_evaluation(mv)
    analysis = AnalysisFactory(footage=FootageFactory(duration_s=30.0), model_version=mv,
                               status=Analysis.Status.SUCCEEDED)

    info = analysis_model_info(analysis=analysis)
    assert info["accuracy"] == pytest.approx(0.641, abs=1e-3) and info["n"] == 3435
    assert info["headline"] == "64.1% on FER2013 PublicTest, 3,435 faces"
    assert info["evaluation"] == reference and info["missing_classes"] == []

    client.force_login(member_of(analysis.footage.project.organisation, Role.VIEWER))
    html = client.get(f"/analyses/{analysis.pk}/report/").content.decode()
    assert "The model's measured accuracy is 64.1% on FER2013 PublicTest, 3,435 faces" in html
    assert "0.760" not in html and "76.0%" not in html  # the CK+ figure is nowhere
    assert SECRET not in html
    document = json.loads(client.get(f"/analyses/{analysis.pk}/export/report.json").content)
    assert document["model_version"]["accuracy"] == pytest.approx(0.641, abs=1e-3)
    assert "FER2013 PublicTest" in document["model_version"]["accuracy_source"]

    # The model page lists the CK+ evaluation below the reference and says what it lacks.
    html = client.get(reverse("ml:model_version_detail", args=[mv.pk])).content.decode()
    assert "64.1% on FER2013 PublicTest, 3,435 faces" in html.split('id="reference"')[1].split("</section>")[0]
    others = html.split('id="other-evaluations"')[1]
    assert f'href="/ml/evaluations/{ckplus.pk}/"' in others and "ckplus" in others
    assert "this data has no neutral faces" in others
    assert SECRET not in html
    html = client.get(reverse("ml:evaluation_detail", args=[ckplus.pk])).content.decode()
    assert "This data has no neutral faces" in html and SECRET not in html


def test_the_api_quotes_the_reference_and_shows_no_path(client):
    mv = _fer2013_version()
    _ckplus_evaluation(mv)
    client.force_login(member_of(OrganisationFactory(), Role.VIEWER))
    body = client.get(f"/api/v1/model-versions/{mv.pk}/").content.decode()
    data = json.loads(body)
    assert data["reference_evaluation"]["headline"] == "64.1% on FER2013 PublicTest, 3,435 faces"
    assert data["reference_evaluation"]["recorded"] == "recorded at training"
    assert data["metadata"]["training"]["config"]["val_data"] == "FER2013 PublicTest"
    assert data["evaluations"][0]["data_name"] == "ckplus" and data["evaluations"][0]["missing_classes"] == ["neutral"]
    assert SECRET not in body
    listed = client.get("/api/v1/model-versions/").json()
    row = next(r for r in listed["results"] if r["id"] == mv.pk)
    assert row["reference_evaluation"]["accuracy"] == pytest.approx(0.641, abs=1e-3)


def test_promotion_gives_a_version_without_one_its_reference():
    bare = ModelVersionFactory()   # no metadata metrics: the evaluation that allowed promotion becomes it
    evaluation = EvaluationFactory(model_version=bare, status=JobStatus.SUCCEEDED, metrics=_metrics(0.7, 100))
    BiasAuditFactory(model_version=bare, status=JobStatus.SUCCEEDED, verdict="pass")
    services.model_version_activate(model_version=bare)
    bare.refresh_from_db()
    assert bare.reference_evaluation == evaluation

    recorded = _fer2013_version()  # its training's numbers win over an evaluation on another set
    ckplus = _ckplus_evaluation(recorded)
    BiasAuditFactory(model_version=recorded, status=JobStatus.SUCCEEDED, verdict="pass")
    services.model_version_activate(model_version=recorded)
    recorded.refresh_from_db()
    assert recorded.reference_evaluation != ckplus
    assert recorded.reference_evaluation.recorded_from == Evaluation.RecordedFrom.TRAINING
    services.model_version_activate(model_version=bare)   # a second promotion keeps the reference
    assert bare.reference_evaluation == evaluation


def test_register_model_records_the_metadata_as_reference_but_it_does_not_count_for_promotion(tiny_model_path):
    mv = services.model_version_register(path=tiny_model_path, name="tiny-registered")
    reference = mv.reference_evaluation
    assert reference is not None and reference.recorded_from == Evaluation.RecordedFrom.TRAINING
    assert reference.metrics["accuracy"] == mv.metrics["validation"]["accuracy"]
    assert "succeeded evaluation" in services.promotion_blockers(mv)


def test_no_ml_page_shows_a_server_path(client):
    staff = member_of(OrganisationFactory(), Role.VIEWER, is_staff=True)
    client.force_login(staff)
    mv = _fer2013_version()
    dataset = DatasetFactory(source_path=f"{SECRET}/fer-in-place")
    evaluation = _ckplus_evaluation(mv)
    audit = BiasAuditFactory(model_version=mv, data_path=f"{SECRET}/audit-set", status=JobStatus.SUCCEEDED)
    for url in (reverse("ml:index"), reverse("ml:model_version_detail", args=[mv.pk]),
                reverse("ml:evaluation_detail", args=[evaluation.pk]), reverse("ml:bias_audit_detail", args=[audit.pk]),
                reverse("ml:dataset_detail", args=[dataset.pk]), reverse("ml:model_version_list")):
        html = client.get(url).content.decode()
        assert SECRET not in html, url
    assert "fer-in-place" in client.get(reverse("ml:dataset_detail", args=[dataset.pk])).content.decode()


def test_a_real_evaluation_on_a_six_class_set_then_a_report(client, model_version, fer_small, tmp_path):
    """The bug as a new user met it, on real faces: evaluate on a set without neutral, then read a report."""
    services.model_version_ensure_reference(model_version=model_version)
    reference = model_version.reference_evaluation
    six_class = tmp_path / "posed-six"
    shutil.copytree(fer_small / "val", six_class)
    shutil.rmtree(six_class / "neutral")
    ev = services.evaluation_run(model_version=model_version, data_path=str(six_class), enqueue=False)
    ev = services.evaluation_execute(evaluation=ev)
    assert ev.status == JobStatus.SUCCEEDED and ev.missing_classes == ["neutral"]
    assert ev.metrics["data"] == "posed-six" and 0 <= ev.metrics["ece"] <= 1 and len(ev.metrics["reliability"]) == 15
    analysis = AnalysisFactory(footage=FootageFactory(duration_s=30.0), model_version=model_version,
                               status=Analysis.Status.SUCCEEDED)
    info = analysis_model_info(analysis=analysis)
    assert info["evaluation"] == reference != ev
    client.force_login(member_of(analysis.footage.project.organisation, Role.VIEWER))
    html = client.get(f"/analyses/{analysis.pk}/report/").content.decode()
    assert info["headline"] in html and "fer2013-sample" in info["headline"]
    assert str(tmp_path) not in html
