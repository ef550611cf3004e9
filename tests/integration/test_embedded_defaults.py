"""The same acceptance path on the embedded defaults: SQLite, the filesystem Celery broker and
local file storage, with nothing else running. `make test` points this process at PostgreSQL
and Redis, so the site and the worker run here as subprocesses with a cleaned environment, and
the test drives the site with `requests` like a browser would."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.conftest import ROOT, free_port, wait_for_port, wait_until

from .conftest import clip, timeline_bars

pytestmark = pytest.mark.slow

# Everything that would point the subprocesses at a real service is removed.
SERVICE_VARS = ("DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL",
                "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MEDIA_ROOT", "EMO7ION_CACHE_DIR", "CI_DATABASE_URL")

SETUP = """
from django.contrib.auth import get_user_model
from accounts.services import organisation_create
from analysis.services import project_create
user = get_user_model().objects.create_user("emma", password="embedded-defaults-1")
org = organisation_create(name="Embedded", owner=user)
print(project_create(organisation=org, name="Local only", created_by=user).pk)
"""


@pytest.fixture
def embedded_site(tmp_path, tiny_model_path):
    tag = f"embedded-{uuid.uuid4().hex[:8]}"
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS and not k.startswith("AWS_")}
    env.update({
        # The test settings module gives this run its own filesystem queue folder (TEST_TAG);
        # SQLite in a temporary folder, never the developer's var/db.sqlite3.
        "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test", "TEST_TAG": tag,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "MEDIA_ROOT": str(tmp_path / "media"),
        "EMO7ION_CACHE_DIR": str(tmp_path / "cache"),
        # A fresh install registers its shipped default model on first use: here, the tiny one.
        "EMO7ION_DEFAULT_MODEL": str(tiny_model_path), "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1",
    })
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=300)
    project_id = int(subprocess.run([*manage, "shell", "-c", SETUP], cwd=ROOT, env=env, check=True, timeout=120,
                                    capture_output=True, text=True).stdout.strip().splitlines()[-1])
    port = free_port()
    logs = open(tmp_path / "processes.log", "w")
    worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "emo7ion_site", "worker", "-Q", "ml,default",
                               "--pool=solo", "--concurrency=1", "--without-gossip", "--without-mingle",
                               "--loglevel=INFO", "-n", f"{tag}@%h"], cwd=ROOT, env=env, stdout=logs,
                              stderr=subprocess.STDOUT)
    server = subprocess.Popen([*manage, "runserver", f"127.0.0.1:{port}", "--noreload"], cwd=ROOT, env=env,
                              stdout=logs, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=60)
        yield {"url": f"http://127.0.0.1:{port}", "project_id": project_id, "worker": worker, "server": server,
               "log": tmp_path / "processes.log"}
    finally:
        for proc in (server, worker):
            proc.terminate()
        for proc in (server, worker):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        logs.close()
        shutil.rmtree(ROOT / "var" / f"celery-test-{tag}", ignore_errors=True)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)


def test_web_upload_is_analysed_with_the_embedded_defaults(embedded_site):
    site, http = embedded_site["url"], requests.Session()
    login_page = http.get(f"{site}/accounts/login/", timeout=30)
    response = http.post(f"{site}/accounts/login/", data={
        "username": "emma", "password": "embedded-defaults-1", "csrfmiddlewaretoken": csrf_of(login_page.text)},
        headers={"Referer": f"{site}/accounts/login/"}, timeout=30)
    assert response.url.rstrip("/") == site, "sign-in should land on the dashboard"
    assert "Local only" in response.text

    project_url = f"{site}/projects/{embedded_site['project_id']}/"
    page = http.get(project_url, timeout=30).text
    path = clip("07_*")
    with open(path, "rb") as fh:
        response = http.post(f"{project_url}upload/", data={"csrfmiddlewaretoken": csrf_of(page)},
                             files={"file": (path.name, fh, "video/mp4")}, headers={"Referer": project_url},
                             timeout=120)
    assert response.status_code == 200 and response.url == project_url
    assert f"{path.name} uploaded and ready to analyse." in response.text
    footage_id = re.search(r'action="/footage/(\d+)/analyse/"', response.text).group(1)

    response = http.post(f"{site}/footage/{footage_id}/analyse/", headers={"Referer": project_url}, timeout=30,
                         data={"csrfmiddlewaretoken": csrf_of(response.text), "detector": "haar", "sample_fps": "4"})
    match = re.fullmatch(rf"{site}/analyses/(\d+)/", response.url)
    assert match, response.url
    status_url = f"{site}/analyses/{match.group(1)}/status/"

    def finished():
        assert embedded_site["worker"].poll() is None, embedded_site["log"].read_text()[-3000:]
        status = http.get(status_url, timeout=30).json()
        return status if status["finished"] else None

    status = wait_until(finished, timeout=300, interval=1.0, what="the worker to finish the analysis")
    assert status["status"] == "succeeded", status["error"]
    assert status["progress"] == 1.0

    html = http.get(response.url, timeout=30).text
    bars = timeline_bars(html)
    assert bars and sum(bars) > 0
    assert http.get(f"{site}/static/plotly/plotly.min.js", timeout=30).status_code == 200
