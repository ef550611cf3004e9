"""Promotion: a version becomes active only with a succeeded evaluation and bias audit; activation
and rollback are logged with who and when; analyses keep the version they were created with."""
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ml import registry, services
from ml.models import JobStatus, ModelActivation, ModelVersion
from tests.factories import (AnalysisFactory, BiasAuditFactory, EvaluationFactory, ModelVersionFactory,
                             UserFactory)

pytestmark = pytest.mark.django_db


def _evaluated(mv, status=JobStatus.SUCCEEDED):
    return EvaluationFactory(model_version=mv, status=status, metrics={"accuracy": 0.7})


def _audited(mv, status=JobStatus.SUCCEEDED):
    return BiasAuditFactory(model_version=mv, status=status, verdict="pass")


def test_refused_without_evaluation_and_audit():
    mv = ModelVersionFactory()
    with pytest.raises(services.PromotionRefused,
                       match=f"{mv.name} cannot be activated: it has no succeeded evaluation and no succeeded bias audit"):
        services.model_version_activate(model_version=mv, by=UserFactory(is_staff=True))
    mv.refresh_from_db()
    assert not mv.is_active and not ModelActivation.objects.exists()


def test_refused_with_evaluation_but_no_audit():
    mv = ModelVersionFactory()
    _evaluated(mv)
    _audited(mv, status=JobStatus.FAILED)  # a failed audit is no audit
    with pytest.raises(services.PromotionRefused, match="no succeeded bias audit"):
        services.model_version_activate(model_version=mv)
    assert not ModelVersion.objects.filter(is_active=True).exists()


def test_refused_with_audit_but_no_evaluation():
    mv = ModelVersionFactory()
    _audited(mv)
    with pytest.raises(services.PromotionRefused, match="no succeeded evaluation"):
        services.model_version_activate(model_version=mv)


def test_allowed_with_both_logged_with_who_and_when_and_rollback():
    admin = UserFactory(is_staff=True)
    old = ModelVersionFactory()
    registry.activate_version(old, note="initial")
    new = ModelVersionFactory()
    _evaluated(new)
    _audited(new)
    services.model_version_activate(model_version=new, by=admin)
    assert list(ModelVersion.objects.filter(is_active=True)) == [new]
    log = ModelActivation.objects.filter(model_version=new).get()
    assert log.activated_by == admin and log.previous == old and not log.is_rollback and log.created_at

    back = services.model_version_rollback(by=admin)
    assert back == old
    assert list(ModelVersion.objects.filter(is_active=True)) == [old]
    rb = ModelActivation.objects.filter(is_rollback=True).get()
    assert rb.model_version == old and rb.previous == new and rb.activated_by == admin
    assert f"rolled back from {new.name}" in rb.note


def test_rollback_with_nothing_before_is_refused():
    mv = ModelVersionFactory()
    registry.activate_version(mv)
    with pytest.raises(services.PromotionRefused, match="no earlier active version"):
        services.model_version_rollback(by=None)


def test_analyses_keep_their_version_when_another_is_activated():
    old = ModelVersionFactory()
    registry.activate_version(old)
    running = AnalysisFactory(model_version=old, status="running")
    new = ModelVersionFactory()
    _evaluated(new)
    _audited(new)
    services.model_version_activate(model_version=new)
    running.refresh_from_db()
    assert running.model_version == old  # its own foreign key: promotion never rewrites it
    assert registry.active_model_version() == new


def test_register_model_command_and_activation_rules(tiny_model_path):
    out = io.StringIO()
    with pytest.raises(CommandError, match="cannot be activated: it has no succeeded evaluation"):
        call_command("register_model", str(tiny_model_path), "--name", "tiny-cli", "--activate", stdout=out)
    mv = ModelVersion.objects.get(name="tiny-cli")  # registered all the same, only not active
    assert not mv.is_active and mv.sha256 and mv.labels[0] == "angry"
    _evaluated(mv)
    _audited(mv)
    call_command("register_model", str(tiny_model_path), "--name", "tiny-cli", "--activate", stdout=out)
    assert ModelVersion.objects.get(name="tiny-cli").is_active


def test_register_model_missing_metadata_is_a_clear_error(tmp_path):
    bogus = tmp_path / "m.keras"
    bogus.write_bytes(b"not a model")
    with pytest.raises(CommandError, match="metadata m.json is missing"):
        call_command("register_model", str(bogus), stdout=io.StringIO())


def test_service_preset_list_matches_the_engine():
    """ml.services repeats the engine's preset names so web processes need not import Keras."""
    from ml.engine.architectures import PRESETS
    assert tuple(PRESETS) == services.ARCHITECTURE_PRESETS
