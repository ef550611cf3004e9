"""The acceptance path on real services: sign in, upload a real clip through the project page's
form, a real Celery worker over Redis analyses it from the moto S3 server with the database on
PostgreSQL, and the analysis page shows a non-empty timeline."""
from __future__ import annotations

import boto3
import pytest
from django.urls import reverse

from accounts.models import Role
from analysis.models import Analysis, Footage
from ml.runtime import default_detector_name
from tests.conftest import require_services, wait_until
from tests.factories import DEFAULT_PASSWORD, OrganisationFactory, ProjectFactory, member_of

from .conftest import clip, timeline_bars

pytestmark = [pytest.mark.services, pytest.mark.slow]


def test_web_upload_is_analysed_by_a_worker_over_redis_from_s3(client, transactional_db, s3_storage, start_worker,
                                                                model_version, settings, tmp_path):
    require_services()
    settings.EMO7ION_CACHE_DIR = str(tmp_path / "web-cache")
    # Its own cache: the worker must fetch the footage from S3 itself, not find the web's copy.
    worker_cache = tmp_path / "worker-cache"
    worker = start_worker({**s3_storage, "EMO7ION_CACHE_DIR": str(worker_cache)})

    org = OrganisationFactory(name="Venue")
    user = member_of(org, Role.ANALYST, username="ana")
    project = ProjectFactory(organisation=org, name="Opening night")
    response = client.post(reverse("login"), {"username": "ana", "password": DEFAULT_PASSWORD})
    assert response.status_code == 302, "sign-in failed"

    path = clip("07_*")
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    assert 'id="upload-form"' in page
    with open(path, "rb") as fh:
        response = client.post(reverse("footage-upload", args=[project.pk]), {"file": fh})
    assert response.status_code == 302
    footage = Footage.objects.get(project=project)
    assert footage.status == "ready", footage.rejection_reason
    # The object is in the bucket, under the organisation's prefix, private.
    s3 = boto3.client("s3", endpoint_url=s3_storage["endpoint"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    head = s3.head_object(Bucket=s3_storage["bucket"], Key=footage.file.name)
    assert footage.file.name.startswith(f"org-{org.pk}/") and head["ContentLength"] == path.stat().st_size

    response = client.post(reverse("analysis-start", args=[footage.pk]),
                           {"detector": default_detector_name(), "sample_fps": "4"})
    analysis = Analysis.objects.get(footage=footage)
    assert response.url == reverse("analysis-detail", args=[analysis.pk])

    wait_until(lambda: Analysis.objects.get(pk=analysis.pk).is_finished, timeout=300,
               what="the worker to finish the analysis (see var/worker-0.log)")
    analysis.refresh_from_db()
    assert analysis.status == "succeeded", analysis.error
    assert analysis.summary["faces_detected"] > 0 and analysis.summary["frames_analysed"] == 10
    assert (worker_cache / "footage" / f"{footage.sha256}.mp4").is_file()  # downloaded once, by sha256

    html = client.get(reverse("analysis-detail", args=[analysis.pk])).content.decode()
    assert "Succeeded" in html
    bars = timeline_bars(html)
    assert bars and sum(bars) > 0
    assert client.get(reverse("analysis-status", args=[analysis.pk])).json()["progress"] == 1.0
    assert worker.poll() is None, "the worker is still running"
