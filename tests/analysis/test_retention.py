"""Retention: raw footage goes after the organisation's period; records, analyses and aggregates stay."""
import hashlib
import json
import os
import time
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


def test_deleting_a_raw_file_tells_the_apps_that_made_something_from_its_frames(retained_project):
    """Analysis never imports the apps above it: whatever they made from the footage's frames (the
    reports' thumbnails) is deleted by their receiver of `footage_file_deleted`."""
    from analysis.signals import footage_file_deleted

    old = _stored_footage(retained_project, age_days=31, sha="9" * 64)
    heard = []

    def receiver(sender, footage, **kwargs):
        heard.append((sender, footage.pk, footage.file_deleted_at is not None))

    footage_file_deleted.connect(receiver)
    try:
        assert services.footage_apply_retention() == [old.pk]
        assert services.footage_delete_file(footage=Footage.objects.get(pk=old.pk)) is False  # nothing left
    finally:
        footage_file_deleted.disconnect(receiver)
    assert heard == [(Footage, old.pk, True)]


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
    assert json.loads(out.getvalue()) == {"footage_ids": [old.pk], "dry_run": False,
                                          "cache": {"removed": 0, "freed_bytes": 0, "kept_bytes": 0}}
    assert not default_storage.exists(old.file.name)


# --- The footage cache -----------------------------------------------------------------------------

def _cached(name: str, size: int, used_hours_ago: float, now: float):
    path = media.cache_dir() / name
    path.write_bytes(b"x" * size)
    os.utime(path, (now - used_hours_ago * 3600, now - used_hours_ago * 3600))
    return path


def test_cache_prune_removes_least_recently_used_copies_until_under_the_cap(retained_project):
    now = time.time()
    oldest = _cached("a" * 64 + ".mp4", 400, used_hours_ago=72, now=now)
    older = _cached("b" * 64 + ".mp4", 400, used_hours_ago=48, now=now)
    newer = _cached("c" * 64 + ".mp4", 400, used_hours_ago=24, now=now)
    in_use = _cached("d" * 64 + ".mp4", 400, used_hours_ago=0.1, now=now)
    partial = _cached(".part-abc123", 100, used_hours_ago=5, now=now)

    result = media.prune_cache(max_bytes=900, now=now)

    # 1,700 bytes: the stale partial download goes, then the oldest copies until 800 <= 900 remain.
    assert sorted(result.removed) == sorted([partial.name, oldest.name, older.name])
    assert result.freed_bytes == 900 and result.kept_bytes == 800
    assert newer.exists() and in_use.exists() and not oldest.exists()


def test_cache_prune_never_removes_a_copy_in_use_even_over_the_cap(retained_project):
    now = time.time()
    in_use = _cached("e" * 64 + ".mp4", 1000, used_hours_ago=0.5, now=now)
    result = media.prune_cache(max_bytes=10, now=now)
    assert result.removed == [] and result.kept_bytes == 1000 and in_use.exists()


def test_a_cache_hit_counts_as_a_use(retained_project, s3_storage):
    footage = _stored_footage(retained_project, age_days=1, sha="0" * 64)  # on moto's S3
    data = b"not really a video, only bytes to delete"
    Footage.objects.filter(pk=footage.pk).update(sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data))
    footage.refresh_from_db()
    copy = media.local_path_for(footage)  # downloaded into the cache
    assert copy.parent == media.cache_dir() and copy.read_bytes() == data
    week_ago = time.time() - 7 * 86400
    os.utime(copy, (week_ago, week_ago))
    assert media.local_path_for(footage) == copy  # served from the cache...
    assert copy.stat().st_mtime > time.time() - 60  # ...and marked as used now
