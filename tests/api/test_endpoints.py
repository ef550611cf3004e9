"""What the endpoints answer: tokens and sessions, throttling, JSON errors, paging and filters,
analyses (create, cancel, timeline, observations and their CSV), model versions, datasets."""
import csv
import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from analysis.models import Analysis
from ml.models import ModelActivation, ModelVersion
from tests.factories import DEFAULT_PASSWORD

from .cases import fer_csv
from .conftest import add_results, client_for, png_bytes


@pytest.fixture
def tight_throttles(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"token": "3/min", "upload": "2/hour"}}


# --- Tokens, sessions, throttles ---------------------------------------------------------------------


def test_token_for_username_and_password(world):
    client = APIClient()
    user = world.users["viewer"]
    first = client.post("/api/v1/auth/token/", {"username": user.username, "password": DEFAULT_PASSWORD}, format="json")
    assert first.status_code == 200
    token = first.json()["token"]
    again = client.post("/api/v1/auth/token/", {"username": user.username, "password": DEFAULT_PASSWORD})
    # Form-encoded works too. Tokens are stored hashed (issue 15), so each request issues a new one,
    # with its expiry, and both work until they expire or are revoked (tests/api/test_tokens.py).
    assert again.status_code == 200 and set(again.json()) == {"token", "expiry"}
    assert again.json()["token"] != token
    for each in (token, again.json()["token"]):
        client.credentials(HTTP_AUTHORIZATION=f"Token {each}")
        assert [o["slug"] for o in client.get("/api/v1/organisations/").json()["results"]] == [world.a.org.slug]


def test_wrong_credentials_and_missing_fields(world):
    client = APIClient()
    wrong = client.post("/api/v1/auth/token/", {"username": world.users["viewer"].username, "password": "nope"},
                        format="json")
    assert wrong.status_code == 400
    assert wrong.json()["non_field_errors"] == ["Unable to log in with provided credentials."]
    missing = client.post("/api/v1/auth/token/", {}, format="json")
    assert missing.status_code == 400 and set(missing.json()) == {"username", "password"}
    bad_token = APIClient()
    bad_token.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert bad_token.get("/api/v1/projects/").status_code == 401


def test_sessions_work_too(world):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username=world.users["analyst"].username, password=DEFAULT_PASSWORD)
    assert client.get("/api/v1/projects/").status_code == 200
    refused = client.post("/api/v1/projects/", {"organisation": world.a.org.slug, "name": "x"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]


def test_token_requests_are_throttled_in_the_cache(world, tight_throttles):
    client = APIClient()
    body = {"username": world.users["viewer"].username, "password": "wrong"}
    assert [client.post("/api/v1/auth/token/", body, format="json").status_code for _ in range(3)] == [400] * 3
    throttled = client.post("/api/v1/auth/token/", body, format="json")
    assert throttled.status_code == 429
    assert "throttled" in throttled.json()["detail"]
    assert int(throttled["Retry-After"]) > 0
    assert len(cache.get("throttle_token_127.0.0.1")) == 3


def test_uploads_are_throttled_per_user_but_reads_are_not(world, tight_throttles):
    analyst = client_for(world.users["analyst"])
    url = f"/api/v1/projects/{world.a.project.pk}/footage/uploads/"
    codes = [analyst.post(url, {"filename": "a.mp4", "size_bytes": 10}, format="json").status_code for _ in range(3)]
    assert codes == [201, 201, 429]
    assert analyst.get(f"/api/v1/projects/{world.a.project.pk}/footage/").status_code == 200
    other = client_for(world.users["admin"])
    assert other.post(url, {"filename": "a.mp4", "size_bytes": 10}, format="json").status_code == 201


# --- Errors -------------------------------------------------------------------------------------------


def test_errors_are_json_with_field_messages(world):
    owner = client_for(world.users["owner"])
    response = owner.post("/api/v1/projects/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"organisation", "name"}
    assert response.json()["name"] == ["This field is required."]
    blank = owner.post("/api/v1/projects/", {"organisation": world.a.org.slug, "name": "   "}, format="json")
    assert blank.status_code == 400 and blank.json()["name"]


def test_unknown_api_paths_answer_json(world):
    response = client_for(world.users["viewer"]).get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert "no API endpoint at /api/v1/no-such-thing/" in response.json()["detail"]
    response = client_for(world.users["viewer"]).get("/api/v1/projects")
    assert response.status_code == 404
    assert response.json()["detail"].endswith("API paths end with a slash: /api/v1/projects/")


def test_service_rules_come_back_as_readable_messages(world):
    owner = client_for(world.users["owner"])
    rejected = world.a.uploading_footage
    rejected.status, rejected.rejection_reason = "rejected", "The file is empty (0 bytes)."
    rejected.save()
    response = owner.post("/api/v1/analyses/", {"footage": rejected.pk}, format="json")
    assert response.status_code == 400
    assert "Only footage that is ready can be analysed" in response.json()["detail"]
    response = owner.post("/api/v1/analyses/", {"footage": world.a.footage.pk, "detector": "sonar"}, format="json")
    assert response.status_code == 400 and "Unknown face detector" in response.json()["detector"][0]
    response = owner.post("/api/v1/analyses/", {"footage": world.a.footage.pk, "sample_fps": 500}, format="json")
    assert response.status_code == 400 and "sample_fps" in response.json()
    last_owner = owner.patch(f"/api/v1/organisations/{world.a.org.slug}/members/"
                             f"{world.users['owner'].memberships.get().pk}/", {"role": "viewer"}, format="json")
    assert last_owner.status_code == 400 and "last owner" in last_owner.json()["detail"]


# --- Projects, paging, filters -------------------------------------------------------------------------


def test_projects_create_filter_order_and_page(world):
    analyst = client_for(world.users["analyst"])
    for name in ("Zeta night", "Alpha morning", "Midday"):
        created = analyst.post("/api/v1/projects/", {"organisation": world.a.org.slug, "name": name,
                                                     "description": "d"}, format="json")
        assert created.status_code == 201
        assert created.json()["organisation"] == world.a.org.slug and created.json()["footage_count"] == 0
    listing = analyst.get("/api/v1/projects/?ordering=name&page_size=2").json()
    assert listing["count"] == 4
    assert [p["name"] for p in listing["results"]] == ["Alpha morning", "Midday"]
    assert listing["next"].endswith("page=2&page_size=2") or "page=2" in listing["next"]
    assert [p["name"] for p in analyst.get("/api/v1/projects/?name=night").json()["results"]] == ["Zeta night"]
    assert analyst.get(f"/api/v1/projects/?organisation={world.b.org.slug}").json()["count"] == 0


def test_project_delete_removes_its_stored_footage(world, media_root, django_capture_on_commit_callbacks):
    analyst = client_for(world.users["analyst"])
    uploaded = analyst.post(f"/api/v1/projects/{world.a.project.pk}/footage/",
                            {"file": SimpleUploadedFile("still.png", png_bytes())}, format="multipart").json()
    stored = list(media_root.rglob("*still.png"))
    assert len(stored) == 1 and uploaded["status"] == "ready"
    with django_capture_on_commit_callbacks(execute=True):
        assert analyst.delete(f"/api/v1/projects/{world.a.project.pk}/").status_code == 204
    assert not stored[0].exists()
    assert analyst.get(f"/api/v1/footage/{uploaded['id']}/").status_code == 404


def test_footage_and_analysis_lists_filter(world):
    viewer = client_for(world.users["viewer"])
    assert {f["status"] for f in viewer.get("/api/v1/footage/?status=uploading").json()["results"]} == {"uploading"}
    # the uploaded file, the one still uploading, and the live session's source record
    assert viewer.get(f"/api/v1/footage/?project={world.a.project.pk}").json()["count"] == 3
    succeeded = viewer.get("/api/v1/analyses/?status=succeeded").json()["results"]
    assert [a["id"] for a in succeeded] == [world.a.analysis.pk]
    assert viewer.get(f"/api/v1/analyses/?footage={world.a.footage.pk}").json()["count"] == 2
    invalid = viewer.get("/api/v1/analyses/?status=exploded")
    assert invalid.status_code == 400 and "status" in invalid.json()


# --- Analyses -----------------------------------------------------------------------------------------------


def test_create_an_analysis_with_defaults_and_read_its_status(world, django_capture_on_commit_callbacks):
    analyst = client_for(world.users["analyst"])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = analyst.post("/api/v1/analyses/", {"footage": world.a.footage.pk, "sample_fps": 4},
                                format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["progress"], body["sample_fps"]) == ("queued", 0.0, 4.0)
    assert body["model_version"] == world.model_version.pk and body["detector"] in ("yunet", "haar")
    assert body["project"] == world.a.project.pk
    assert len(queued) == 1   # handed to a worker once the transaction commits
    detail = analyst.get(f"/api/v1/analyses/{body['id']}/").json()
    assert detail["status"] == "queued" and detail["summary"] == {}


def test_cancel_a_queued_analysis_but_not_a_finished_one(world):
    analyst = client_for(world.users["analyst"])
    cancelled = analyst.post(f"/api/v1/analyses/{world.a.queued_analysis.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert "Cancelled by a-analyst" in cancelled.json()["error"]
    assert analyst.post(f"/api/v1/analyses/{world.a.queued_analysis.pk}/cancel/").status_code == 200
    finished = analyst.post(f"/api/v1/analyses/{world.a.analysis.pk}/cancel/")
    assert finished.status_code == 409 and "already succeeded" in finished.json()["detail"]


def test_timeline_of_a_succeeded_analysis_and_of_an_unfinished_one(world):
    viewer = client_for(world.users["viewer"])
    timeline = viewer.get(f"/api/v1/analyses/{world.a.analysis.pk}/timeline/").json()
    assert timeline["status"] == "succeeded"
    assert timeline["labels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert [(b["index"], b["t_start"], b["t_end"]) for b in timeline["buckets"]] == [(0, 0.0, 2.5), (1, 2.5, 5.0)]
    assert timeline["buckets"][0]["faces"] == 15
    unfinished = viewer.get(f"/api/v1/analyses/{world.a.queued_analysis.pk}/timeline/").json()
    assert unfinished["status"] == "queued" and unfinished["buckets"] == []


def test_observations_page_and_filter(world):
    viewer = client_for(world.users["viewer"])
    url = f"/api/v1/analyses/{world.a.analysis.pk}/observations/"
    page = viewer.get(url + "?page_size=7").json()
    assert page["count"] == 30 and len(page["results"]) == 7
    first = page["results"][0]
    assert (first["t"], first["track_id"], first["top_emotion"]) == (0.0, 0, "angry")
    assert set(first["probabilities"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert first["probabilities"]["angry"] == pytest.approx(0.7)
    # add_results: frame f at t = f/2 s, tracks 0..2, top emotion EMOTIONS[(f + track) % 7]
    assert viewer.get(url + "?t_min=1&t_max=2").json()["count"] == 6            # frames 2, 3
    assert viewer.get(url + "?track=2").json()["count"] == 10
    happy = viewer.get(url + "?emotion=happy").json()["results"]
    assert {(o["t"], o["track_id"]) for o in happy} == {(1.5, 0), (1.0, 1), (4.5, 1), (0.5, 2), (4.0, 2)}
    assert viewer.get(url + "?emotion=happy&track=1").json()["count"] == 2
    assert viewer.get(url + "?emotion=joy").status_code == 400


def test_observations_stream_as_csv(world):
    viewer = client_for(world.users["viewer"])
    response = viewer.get(f"/api/v1/analyses/{world.a.analysis.pk}/observations/?format=csv&track=1")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="analysis-{world.a.analysis.pk}-observations.csv"'
    assert response.streaming
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 10
    assert list(rows[0]) == ["t", "frame_index", "track_id", "x", "y", "w", "h", "detector_score", "top_emotion",
                             "p_angry", "p_disgust", "p_fear", "p_happy", "p_sad", "p_surprise", "p_neutral",
                             "yaw", "pitch"]
    assert {r["track_id"] for r in rows} == {"1"}
    assert [float(r["t"]) for r in rows] == [f * 0.5 for f in range(10)]


def test_observations_of_a_big_analysis_stream_without_paging(world):
    big = Analysis.objects.create(footage=world.a.footage, model_version=world.model_version, status="succeeded")
    add_results(big, n_frames=400, tracks=10)
    response = client_for(world.users["viewer"]).get(f"/api/v1/analyses/{big.pk}/observations/",
                                                     HTTP_ACCEPT="text/csv")
    lines = b"".join(response.streaming_content).decode().strip().splitlines()
    assert len(lines) == 1 + 4000


# --- Model versions, datasets ---------------------------------------------------------------------------------


def test_model_version_detail_has_metrics_evaluations_and_activations(world):
    viewer = client_for(world.users["viewer"])
    listing = viewer.get("/api/v1/model-versions/?is_active=true").json()
    assert [v["id"] for v in listing["results"]] == [world.model_version.pk]
    detail = viewer.get(f"/api/v1/model-versions/{world.candidate_version.pk}/").json()
    assert (detail["n_evaluations"], detail["n_audits"]) == (1, 1)
    assert detail["evaluations"][0]["metrics"] == {"accuracy": 0.7}
    assert detail["bias_audits"][0]["verdict"] == "pass"
    assert "file" not in detail
    current = viewer.get(f"/api/v1/model-versions/{world.model_version.pk}/").json()
    assert current["activations"][0]["previous"] == world.previous_version.pk


def test_platform_admins_activate_and_roll_back(world):
    staff = client_for(world.users["staff"])
    refused = staff.post(f"/api/v1/model-versions/{world.previous_version.pk}/activate/", {}, format="json")
    assert refused.status_code == 400
    assert "cannot be activated" in refused.json()["detail"]
    activated = staff.post(f"/api/v1/model-versions/{world.candidate_version.pk}/activate/", {"note": "better"},
                           format="json")
    assert activated.status_code == 200 and activated.json()["is_active"] is True
    log = ModelActivation.objects.filter(model_version=world.candidate_version).get()
    assert (log.activated_by, log.note) == (world.users["staff"], "better")
    rolled = staff.post("/api/v1/model-versions/rollback/")
    assert rolled.status_code == 200 and rolled.json()["id"] == world.model_version.pk
    assert ModelVersion.objects.get(is_active=True) == world.model_version


def test_platform_admins_import_datasets_by_content(world):
    staff = client_for(world.users["staff"])
    created = staff.post("/api/v1/datasets/", {"name": "tiny-fer", "file": fer_csv()}, format="multipart")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["n_images"], body["kind"], body["labelled"]) == (14, "training", True)
    assert body["class_counts"]["fear"] == 2
    refused = staff.post("/api/v1/datasets/", {"name": "junk",
                                               "file": SimpleUploadedFile("junk.csv", b"hello,world\n1,2\n")},
                         format="multipart")
    assert refused.status_code == 400
    assert refused.json()["detail"]
    assert client_for(world.users["viewer"]).get("/api/v1/datasets/?kind=training").json()["count"] == 2
