"""An integrator's whole journey with a real HTTP client (`requests`) against a live server:
token, project, a real clip sent straight to S3 (moto's server) with the presigned POST, complete,
analysis by a real Celery worker over Redis on PostgreSQL, timeline, observations (JSON and CSV),
and the signed webhook received on a local HTTP receiver."""
import csv
import hashlib
import hmac
import io
import json

import pytest
import requests

from accounts.models import Role
from tests.conftest import require_services, shared_path, wait_until
from tests.factories import DEFAULT_PASSWORD, OrganisationFactory, member_of

CLIP = ("media", "videos", "07_webcam_neutral_to_smile_pyfeat.mp4")   # a face, neutral then smiling


@pytest.mark.services
@pytest.mark.slow
def test_integrator_walkthrough(live_server, s3_storage, start_worker, model_version, receiver):
    require_services()
    clip = shared_path(*CLIP)
    organisation = OrganisationFactory(name="Harbour Festival")
    user = member_of(organisation, Role.ADMIN, username="integrator")
    start_worker({**s3_storage, "EMO7ION_WEBHOOK_ALLOW_PRIVATE": "1"})   # the receiver is on 127.0.0.1
    api = live_server.url + "/api/v1"
    http = requests.Session()

    # 1. A token for username + password.
    answer = http.post(f"{api}/auth/token/", json={"username": user.username, "password": DEFAULT_PASSWORD}, timeout=30)
    assert answer.status_code == 200, answer.text
    http.headers["Authorization"] = f"Token {answer.json()['token']}"
    [org] = http.get(f"{api}/organisations/", timeout=30).json()["results"]
    assert (org["slug"], org["role"]) == (organisation.slug, "admin")

    # The webhook receiver, registered first so it hears about the analysis.
    rx = receiver()
    hook = http.post(f"{api}/webhooks/", json={"organisation": org["slug"], "url": rx.url,
                                               "events": ["analysis.succeeded", "analysis.failed"]}, timeout=30)
    assert hook.status_code == 201, hook.text
    secret = hook.json()["secret"]

    # 2. A project.
    project = http.post(f"{api}/projects/", json={"organisation": org["slug"], "name": "Main stage"}, timeout=30)
    assert project.status_code == 201, project.text
    project = project.json()

    # 3. The clip goes straight to S3 with the presigned POST: our server never sees its bytes.
    data = clip.read_bytes()
    plan = http.post(f"{api}/projects/{project['id']}/footage/uploads/",
                     json={"filename": clip.name, "size_bytes": len(data), "content_type": "video/mp4"}, timeout=30)
    assert plan.status_code == 201, plan.text
    plan = plan.json()
    assert plan["strategy"] == "s3_post" and plan["url"].startswith(s3_storage["endpoint"])
    sent = requests.post(plan["url"], data=plan["fields"], files={"file": (clip.name, data, "video/mp4")}, timeout=60)
    assert sent.status_code in (200, 201, 204), sent.text

    # 4. Complete: the server reads what arrived and probes it.
    footage = http.post(plan["complete_url"], json={}, timeout=120)
    assert footage.status_code == 200, footage.text
    footage = footage.json()
    assert footage["status"] == "ready", footage
    assert footage["sha256"] == hashlib.sha256(data).hexdigest() and footage["frame_count"] == 72

    # 5. An analysis, 6. polled until the worker is done.
    analysis = http.post(f"{api}/analyses/", json={"footage": footage["id"], "sample_fps": 10}, timeout=30)
    assert analysis.status_code == 201, analysis.text
    url = f"{api}/analyses/{analysis.json()['id']}/"
    done = wait_until(lambda: (lambda a: a if a["status"] in ("succeeded", "failed", "cancelled") else None)(
        http.get(url, timeout=30).json()), timeout=300, interval=1.0, what="the analysis to finish")
    assert done["status"] == "succeeded", done
    assert done["progress"] == 1.0
    assert done["summary"]["faces_detected"] > 0 and done["summary"]["frames_analysed"] > 0

    # 7. The timeline and the observations.
    timeline = http.get(f"{url}timeline/", timeout=30).json()
    assert timeline["buckets"] and sum(b["faces"] for b in timeline["buckets"]) == done["summary"]["faces_detected"]
    page = http.get(f"{url}observations/", params={"page_size": 5}, timeout=30).json()
    assert page["count"] == done["summary"]["faces_detected"]
    first = page["results"][0]
    assert sum(first["probabilities"].values()) == pytest.approx(1.0, abs=1e-3)
    assert first["top_emotion"] == max(first["probabilities"], key=first["probabilities"].get)
    rows = list(csv.DictReader(io.StringIO(http.get(f"{url}observations/", params={"format": "csv"},
                                                    timeout=30).text)))
    assert len(rows) == page["count"]

    # 8. The webhook, signed with the endpoint's secret.
    assert rx.received.wait(60), "no webhook arrived"
    [sent] = rx.requests
    expected = "sha256=" + hmac.new(secret.encode(), sent["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(sent["headers"]["X-Emo7ion-Signature"], expected)
    payload = json.loads(sent["body"])
    assert payload["event"] == "analysis.succeeded"
    assert payload["data"]["analysis"]["id"] == done["id"]
    assert payload["data"]["analysis"]["summary"]["faces_detected"] == done["summary"]["faces_detected"]
    log = http.get(f"{api}/webhooks/{hook.json()['id']}/deliveries/", timeout=30).json()["results"]
    assert [(d["event"], d["status"], d["response_status_code"]) for d in log] == [("analysis.succeeded", "succeeded", 200)]
