"""Storage and database faults are retried (issue 15): every S3 call retries with backoff (botocore's
retry modes, from settings), and a database connection the server dropped is opened again before the
next request or task uses it (CONN_HEALTH_CHECKS)."""
import json
import os
import subprocess
import sys

import pytest
from botocore.awsrequest import AWSResponse
from django.db import DatabaseError, close_old_connections, connection, connections
from storages.backends.s3 import S3Storage

from emo7ion_site.settings.storage import s3_client_config
from tests.conftest import ROOT


class _Body:
    def stream(self, **kwargs):
        yield b""


def s3_storage(**config) -> S3Storage:
    """An S3 storage whose endpoint nothing listens on: every answer below comes from the test."""
    return S3Storage(bucket_name="footage", endpoint_url="http://127.0.0.1:9", region_name="us-east-1",
                     access_key="testing", secret_key="testing", client_config=s3_client_config(
                         signature_version="s3v4", addressing_style="path", connect_timeout=1, read_timeout=1,
                         **config))


def answer_with(storage: S3Storage, statuses: list[int]) -> list[str]:
    """S3 answers the storage's requests with `statuses`, one per attempt; returns the attempts made."""
    attempts = []

    def respond(request, **kwargs):
        attempts.append(request.method)
        status = statuses[min(len(attempts), len(statuses)) - 1]
        return AWSResponse(request.url, status, {"Content-Length": "0", "ETag": '"x"'}, _Body())

    storage.connection.meta.client.meta.events.register("before-send.s3", respond)
    return attempts


def test_an_s3_call_is_retried_with_backoff_until_s3_answers(monkeypatch):
    slept = []
    monkeypatch.setattr("botocore.endpoint.time.sleep", slept.append)
    storage = s3_storage(retry_mode="standard", max_attempts=6)
    attempts = answer_with(storage, [503, 500, 503, 200])  # three failures (an outage), then S3 is back

    assert storage.exists("org-1/project-1/footage/clip.mp4")
    assert attempts == ["HEAD"] * 4
    assert len(slept) == 3 and all(0 <= delay <= 20 for delay in slept)  # jittered exponential backoff


def test_an_s3_outage_longer_than_the_attempts_is_an_error(monkeypatch):
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda delay: None)
    storage = s3_storage(retry_mode="standard", max_attempts=3)
    attempts = answer_with(storage, [503])
    with pytest.raises(Exception, match="503|Service Unavailable|HeadObject"):
        storage.connection.meta.client.head_object(Bucket="footage", Key="clip.mp4")
    assert len(attempts) == 3  # max_attempts counts the first try


def test_s3_retry_settings_come_from_the_environment():
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "c = settings.STORAGES['default']['OPTIONS']['client_config']; "
            "print(json.dumps({'retries': c.retries, 'connect': c.connect_timeout, 'read': c.read_timeout, "
            "'s3': c.s3, 'signature': c.signature_version}))")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test", "AWS_STORAGE_BUCKET_NAME": "b",
           "AWS_S3_RETRY_MODE": "adaptive", "AWS_S3_MAX_ATTEMPTS": "9", "AWS_S3_READ_TIMEOUT": "30"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {
        "retries": {"mode": "adaptive", "total_max_attempts": 9}, "connect": 5.0, "read": 30.0,
        "s3": {"addressing_style": "path"}, "signature": "s3v4"}


def test_an_unknown_retry_mode_is_refused():
    with pytest.raises(ValueError, match="AWS_S3_RETRY_MODE must be one of standard, adaptive, legacy"):
        s3_storage(retry_mode="eventually", max_attempts=3)


@pytest.mark.django_db(transaction=True)
def test_a_database_connection_the_server_dropped_is_opened_again():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (pg_terminate_backend), as `make test` runs it")
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True

    def persistent_connection_then_dropped(health_checks: bool):
        connection.close()
        connection.settings_dict["CONN_MAX_AGE"] = 60  # kept between requests, as in production
        connection.settings_dict["CONN_HEALTH_CHECKS"] = health_checks  # read when the connection opens
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        finally:
            other.close()
        close_old_connections()  # what Django does when a request starts (Celery: when a task starts)

    max_age = connection.settings_dict["CONN_MAX_AGE"]
    try:
        # Without the health check, the next query fails on the dead connection...
        persistent_connection_then_dropped(health_checks=False)
        with pytest.raises(DatabaseError):
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        # ... with it (the setting), the connection is tested first and opened again.
        persistent_connection_then_dropped(health_checks=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = max_age
        connection.settings_dict["CONN_HEALTH_CHECKS"] = True
        connection.close()
