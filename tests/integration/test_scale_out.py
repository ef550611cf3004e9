"""Scale-out on the engine we already run (issue 13): two Celery workers that share nothing but Redis,
PostgreSQL and the S3 server (moto), each with its own local folders, as two hosts would have.

The model version exists only in the storage (the trainer's disk is gone), so each worker fetches it into
its own sha256-keyed cache. One footage of several segments is analysed by both; the result is identical
to one process analysing it alone."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings

from analysis import services
from analysis.models import Analysis, AnalysisSegment
from ml import registry, runtime
from tests.conftest import require_services, wait_until

from .conftest import analysis_results, stored_webcam_clip

pytestmark = [pytest.mark.services, pytest.mark.slow]

SEGMENT_SECONDS = 1.0   # the 2.4 s webcam clip: three segments


@pytest.fixture
def model_only_in_storage(s3_storage, tmp_path):
    """The shipped model registered from a trainer host's disk (which stores it in S3), then that disk
    gone: no worker can use the registered path."""
    trainer = tmp_path / "trainer-host"
    trainer.mkdir()
    shipped = settings.EMO7ION_DEFAULT_MODEL
    for suffix in (".keras", ".json"):
        shutil.copy(str(shipped).removesuffix(".keras") + suffix, trainer)
    version = registry.register_model_file(trainer / f"{shipped.rsplit('/', 1)[-1]}", name="scale-out", activate=True)
    shutil.rmtree(trainer)
    runtime._verified.clear()
    runtime._classifier.cache_clear()
    yield version
    runtime._verified.clear()
    runtime._classifier.cache_clear()


@pytest.fixture
def webcam_in_s3(transactional_db, s3_storage, settings):
    require_services()
    settings.EMO7ION_SEGMENT_SECONDS = SEGMENT_SECONDS
    footage = stored_webcam_clip()
    assert footage.file.storage.__class__.__name__ == "S3Storage"
    return footage


def host_env(s3_storage: dict, tmp_path, name: str) -> dict:
    """What one worker host sets: the shared services, and folders of its own."""
    folders = {"EMO7ION_CACHE_DIR": tmp_path / f"{name}-cache", "MEDIA_ROOT": tmp_path / f"{name}-media"}
    for folder in folders.values():
        folder.mkdir()
    return {**{k: v for k, v in s3_storage.items() if k.isupper()}, **{k: str(v) for k, v in folders.items()},
            "DJANGO_SETTINGS_MODULE": "tests.integration.worker_settings",
            "EMO7ION_SEGMENT_SECONDS": str(SEGMENT_SECONDS),
            # Each segment waits a second once claimed, so neither worker can finish them all before
            # the other has loaded its model: the point is to see both take part.
            "WORKER_HOOK_PAUSE_S": "1"}


def test_two_worker_hosts_share_one_footage_and_match_a_single_worker(webcam_in_s3, model_only_in_storage,
                                                                      s3_storage, start_worker, tmp_path, settings):
    hosts = {name: host_env(s3_storage, tmp_path, name) for name in ("host-a", "host-b")}
    workers = [start_worker(env) for env in hosts.values()]
    analysis = services.analysis_create(footage=webcam_in_s3, created_by=webcam_in_s3.uploaded_by,
                                        model_version=model_only_in_storage, detector="haar", sample_fps=5)
    wait_until(lambda: Analysis.objects.get(pk=analysis.pk).is_finished, timeout=300,
               what="the two workers to finish (see var/worker-*.log)")
    analysis.refresh_from_db()
    assert analysis.status == "succeeded", analysis.error
    assert all(w.poll() is None for w in workers), "a worker died"

    segments = list(AnalysisSegment.objects.filter(analysis=analysis).values("index", "worker", "status"))
    assert len(segments) == 3 and {s["status"] for s in segments} == {"done"}
    ran_by = {s["worker"] for s in segments}
    assert len(ran_by) == 2, f"one worker did every segment: {segments}"
    assert all(name.startswith("test-") for name in ran_by)

    # Each host fetched the model into its own cache, keyed by the registered sha256.
    for env in hosts.values():
        cached = Path(env["EMO7ION_CACHE_DIR"]) / "models" / model_only_in_storage.sha256
        assert (cached / settings.EMO7ION_DEFAULT_MODEL.rsplit("/", 1)[-1]).is_file(), f"{cached} was not filled"

    # One process alone (this one, with its own empty cache) gives exactly the same result.
    settings.EMO7ION_CACHE_DIR = tmp_path / "single-cache"
    alone = services.analysis_run_inline(analysis=services.analysis_create(
        footage=webcam_in_s3, created_by=webcam_in_s3.uploaded_by, model_version=model_only_in_storage,
        detector="haar", sample_fps=5, enqueue=False))
    assert alone.status == "succeeded", alone.error
    assert set(AnalysisSegment.objects.filter(analysis=alone).values_list("worker", flat=True)) == {""}
    assert analysis_results(analysis) == analysis_results(alone)
    assert analysis_results(analysis)[0], "no faces were found, so the comparison says nothing"
