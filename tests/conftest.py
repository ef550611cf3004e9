"""Shared fixtures: ../shared material, a tiny trained model, the moto S3 server and real
Celery worker processes.

Material from ../shared and real services are skipped with a clear reason when absent on a
developer's machine, and fail the run instead when CI is set.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CI = bool(os.environ.get("CI"))
PY = sys.executable


def missing(reason: str):
    """Skip on a developer's machine; fail under CI, where everything must be present."""
    if CI:
        pytest.fail(f"CI requires this, but: {reason}")
    pytest.skip(reason)


def shared_path(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        missing(f"{path} is not available (../shared holds test media, datasets and detector weights)")
    return path


def shared_glob(folder: str, pattern: str) -> Path:
    matches = sorted(shared_path(*folder.split("/")).glob(pattern))
    if not matches:
        missing(f"nothing matches ../shared/{folder}/{pattern}")
    return matches[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answered on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture(scope="session")
def yunet_model_path() -> Path:
    return shared_path("models", "yunet", "yunet_n_640_640.onnx")


@pytest.fixture(scope="session")
def fer_sample_dir() -> Path:
    return shared_path("datasets", "fer2013")


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory, fer_sample_dir) -> Path:
    """A tiny CNN trained for two epochs on a few hundred FER2013 faces by the project's own training
    code. The pipeline must work with any model file; this one is fast and says nothing about accuracy."""
    from ml.engine.training import TrainingConfig, train

    out = tmp_path_factory.mktemp("tiny-model")
    result = train(TrainingConfig(
        train_data=str(fer_sample_dir), output_dir=str(out), preset="tiny", epochs=2, batch_size=64,
        learning_rate=0.02, warmup_epochs=0, limit_per_class=40, augmentation="light",
        mixed_precision=False, version="tiny-test", dataset_name="fer2013-sample",
    ))
    return Path(result.model_path)


@pytest.fixture
def model_version(db, tiny_model_path):
    """An active ModelVersion backed by the tiny model."""
    from ml import registry

    return registry.register_model_file(tiny_model_path, name="tiny-test", activate=True)


def require_services():
    """PostgreSQL + Redis, as configured by `make test` (scripts/test_env.py)."""
    from django.conf import settings
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        missing("PostgreSQL is not configured (DATABASE_URL); run through `make test` with the service up")
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        missing("Redis is not configured (CELERY_BROKER_URL); run through `make test` with the service up")


@pytest.fixture(scope="session")
def moto_server():
    """moto's S3 server in its own process, on a free port. Yields the endpoint URL."""
    exe = shutil.which("moto_server", path=str(Path(PY).parent))
    if not exe:
        missing("moto[server] is not installed")
    port = free_port()
    log = open(ROOT / "var" / "moto.log", "w") if (ROOT / "var").is_dir() else subprocess.DEVNULL
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_storage(moto_server, settings):
    """Point default storage at a fresh bucket on the moto server (settings are restored afterwards).
    Yields the environment a worker process needs to use the same bucket."""
    import uuid

    import boto3

    bucket = f"emo7ion-test-{uuid.uuid4().hex[:8]}"
    creds = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    boto3.client("s3", endpoint_url=moto_server, **creds).create_bucket(Bucket=bucket)
    settings.AWS_STORAGE_BUCKET_NAME = bucket
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
            "bucket_name": bucket, "endpoint_url": moto_server, "region_name": "us-east-1",
            "access_key": "testing", "secret_key": "testing", "default_acl": "private",
            "querystring_auth": True, "file_overwrite": False, "signature_version": "s3v4",
            "addressing_style": "path"}},
    }
    yield {"AWS_STORAGE_BUCKET_NAME": bucket, "AWS_S3_ENDPOINT_URL": moto_server,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_S3_REGION_NAME": "us-east-1",
           "endpoint": moto_server, "bucket": bucket}


def _database_url_of_test_db() -> str:
    from django.db import connection
    s = connection.settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    host, port = s.get("HOST") or "127.0.0.1", s.get("PORT") or 5432
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "") + "@" if s.get("USER") else ""
    return f"postgres://{auth}{host}:{port}/{s['NAME']}"


@pytest.fixture
def start_worker(transactional_db, settings):
    """Factory: start a real Celery worker process on the test database (and optional extra env,
    e.g. the S3 settings from `s3_storage`). The worker is stopped when the test ends."""
    procs = []

    def _start(extra_env: dict | None = None, queues: str | None = None) -> subprocess.Popen:
        if queues is None:  # every queue a task is routed to, as `serve` and `demo` start it
            from analysis.management.processes import worker_queues
            queues = ",".join(worker_queues())
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test",
               "DATABASE_URL": _database_url_of_test_db(), "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
               "TEST_TAG": settings.TEST_TAG,
               "MEDIA_ROOT": str(settings.MEDIA_ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
        env.update({k: v for k, v in (extra_env or {}).items() if k.isupper()})
        log = open(ROOT / "var" / f"worker-{settings.TEST_TAG}-{len(procs)}.log", "w")
        proc = subprocess.Popen(
            [PY, "-m", "celery", "-A", "emo7ion_site", "worker", "-Q", queues, "--pool=solo",
             "--concurrency=1", "--without-gossip", "--without-mingle", "--loglevel=INFO",
             "-n", f"test-{os.getpid()}-{len(procs)}@%h"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def wait_until(predicate, timeout: float = 180.0, interval: float = 0.5, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# Two organisations, each with an analyst and a project: the tenancy every app's tests check against.


@pytest.fixture
def org_a(db):
    from tests.factories import OrganisationFactory
    return OrganisationFactory(name="Org A")


@pytest.fixture
def org_b(db):
    from tests.factories import OrganisationFactory
    return OrganisationFactory(name="Org B")


@pytest.fixture
def alice(org_a):
    """An analyst of organisation A."""
    from accounts.models import Role
    from tests.factories import member_of
    return member_of(org_a, Role.ANALYST, username="alice")


@pytest.fixture
def bob(org_b):
    """An analyst of organisation B."""
    from accounts.models import Role
    from tests.factories import member_of
    return member_of(org_b, Role.ANALYST, username="bob")


@pytest.fixture
def project_a(org_a, alice):
    from tests.factories import ProjectFactory
    return ProjectFactory(organisation=org_a, name="Festival A", created_by=alice)


@pytest.fixture
def project_b(org_b, bob):
    from tests.factories import ProjectFactory
    return ProjectFactory(organisation=org_b, name="Secret B", created_by=bob)


def pytest_collection_modifyitems(items):
    """Browser tests run last. Playwright's sync API keeps an event loop running in the main thread for
    the rest of the session (its browser is session-scoped), and Django's async_to_sync — which the live
    app's channel-layer sends use — refuses to run in a thread with a running loop."""
    items.sort(key=lambda item: item.get_closest_marker("browser") is not None)


# A finalized crowd with known answers (tests/reports/conftest.py): 0-10 s ten sad/neutral people,
# 10-18 s ten happy ones; moments, comparisons and exports are checked against it.
@pytest.fixture
def crowd(db):
    from tests.reports.conftest import make_crowd_analysis
    return make_crowd_analysis()


@pytest.fixture
def crowd_analyst(crowd):
    from accounts.models import Role
    from tests.factories import member_of
    return member_of(crowd.footage.project.organisation, Role.ANALYST)
