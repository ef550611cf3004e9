"""Retention: raw footage goes after the organisation's period; records, analyses and aggregates stay."""
import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from analysis import media, services
from analysis.models import Analysis, Footage, TimelineBucket
from tests.factories import AnalysisFactory, FootageFactory, OrganisationFactory, ProjectFactory

pytestmark = pytest.mark.django_db


def _stored_footage(project, *, age_days: int, sha: str) -> Footage:
    footage = FootageFactory(project=project, sha256=sha)
    footage.file.save(f"{sha[:8]}.mp4", ContentFile(b"not really a video, only bytes to delete"), save=True)
    Footage.objects.filter(pk=footage.pk).update(created_at=timezone.now() - timedelta(days=age_days))
    footage.refresh_from_db()
    return footage


@pytest.fixture
def retained_project(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMO7ION_CACHE_DIR = str(tmp_path / "cache")
    return ProjectFactory(organisation=OrganisationFactory(footage_retention_days=30))


def test_old_footage_loses_its_file_and_keeps_its_results(retained_project):
    old = _stored_footage(retained_project, age_days=31, sha="a" * 64)
    recent = _stored_footage(retained_project, age_days=5, sha="b" * 64)
    analysis = AnalysisFactory(footage=old, status=Analysis.Status.SUCCEEDED, summary={"faces_detected": 3})
    TimelineBucket.objects.create(analysis=analysis, index=0, t_start=0, t_end=10, faces=3)
    cached = media.cache_dir() / f"{old.sha256}.mp4"
    cached.write_bytes(b"cached copy")
    old_name = old.file.name

    assert services.footage_apply_retention() == [old.pk]

    old.refresh_from_db()
    assert old.file_deleted_at is not None
    assert not default_storage.exists(old_name)
    assert not cached.exists()
    assert default_storage.exists(recent.file.name)
    assert Footage.objects.get(pk=recent.pk).file_deleted_at is None
    analysis.refresh_from_db()
    assert analysis.summary == {"faces_detected": 3}
    assert analysis.buckets.count() == 1
    # A second run finds nothing more to do.
    assert services.footage_apply_retention() == []


def test_running_analysis_and_organisations_without_retention_are_left_alone(retained_project):
    busy = _stored_footage(retained_project, age_days=40, sha="c" * 64)
    AnalysisFactory(footage=busy, status=Analysis.Status.RUNNING)
    keep_forever = _stored_footage(ProjectFactory(organisation=OrganisationFactory()), age_days=400, sha="d" * 64)

    assert services.footage_apply_retention() == []
    assert default_storage.exists(busy.file.name)
    assert default_storage.exists(keep_forever.file.name)


def test_shared_cache_copy_survives_while_an_identical_upload_still_needs_it(retained_project):
    old = _stored_footage(retained_project, age_days=31, sha="e" * 64)
    twin = _stored_footage(ProjectFactory(organisation=OrganisationFactory()), age_days=31, sha="e" * 64)
    cached = media.cache_dir() / f"{old.sha256}.mp4"
    cached.write_bytes(b"cached copy")

    assert services.footage_apply_retention() == [old.pk]
    assert cached.exists(), "the other organisation's identical footage still uses the cached copy"
    assert default_storage.exists(twin.file.name)


def test_command_dry_run_then_real_run(retained_project):
    old = _stored_footage(retained_project, age_days=31, sha="f" * 64)

    out = StringIO()
    call_command("apply_retention", "--dry-run", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"footage_ids": [old.pk], "dry_run": True}
    assert default_storage.exists(old.file.name)

    out = StringIO()
    call_command("apply_retention", "--json", stdout=out)
    assert json.loads(out.getvalue()) == {"footage_ids": [old.pk], "dry_run": False}
    assert not default_storage.exists(old.file.name)
