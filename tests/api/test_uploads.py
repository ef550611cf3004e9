"""Uploads through the API: multipart to the server, the direct-upload flow to S3 (presigned POST
and multipart, on the moto S3 server) and its local-storage fallback (chunks to the server), and
the size limit. Real clips from ../shared; the server validates what actually arrived."""
import base64
import hashlib
import json
import os

import boto3
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.models import Footage
from tests.conftest import shared_path

from .conftest import client_for

CLIP = ("media", "videos", "07_webcam_neutral_to_smile_pyfeat.mp4")   # 2.4 s, 640×360, 30 fps, 72 frames


def start(client, project, name, size, content_type="video/mp4"):
    return client.post(f"/api/v1/projects/{project.pk}/footage/uploads/",
                       {"filename": name, "size_bytes": size, "content_type": content_type}, format="json")


def put_chunk(client, url, data, first, total):
    return client.generic("PUT", url, data, content_type="application/octet-stream",
                          HTTP_CONTENT_RANGE=f"bytes {first}-{first + len(data) - 1}/{total}")


def assert_ready_clip(body, data):
    assert body["status"] == "ready", body
    assert body["kind"] == "video"
    assert (body["frame_count"], body["width"], body["height"]) == (72, 640, 360)
    assert body["fps"] == pytest.approx(30.0)
    assert body["size_bytes"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()


# --- Through the server --------------------------------------------------------------------------


def test_multipart_upload_of_a_real_clip(world):
    data = shared_path(*CLIP).read_bytes()
    response = client_for(world.users["analyst"]).post(
        f"/api/v1/projects/{world.a.project.pk}/footage/",
        {"file": SimpleUploadedFile("smile.mp4", data, content_type="video/mp4")}, format="multipart")
    assert response.status_code == 201, response.content
    assert_ready_clip(response.json(), data)
    assert response.json()["project"] == world.a.project.pk


def test_a_text_file_named_mp4_is_rejected_with_a_reason(world):
    response = client_for(world.users["analyst"]).post(
        f"/api/v1/projects/{world.a.project.pk}/footage/",
        {"file": SimpleUploadedFile("notes.mp4", b"these are meeting notes, not a video\n" * 20)}, format="multipart")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "rejected"
    assert "notes.mp4" in body["rejection_reason"]


def test_files_over_the_size_limit_are_refused_by_field(world, settings):
    settings.EMO7ION_MAX_UPLOAD_BYTES = 1000
    client = client_for(world.users["analyst"])
    response = client.post(f"/api/v1/projects/{world.a.project.pk}/footage/",
                           {"file": SimpleUploadedFile("big.mp4", b"x" * 2000)}, format="multipart")
    assert response.status_code == 400
    assert "limit is 1,000 bytes" in response.json()["file"][0]
    response = start(client, world.a.project, "big.mp4", 5000)
    assert response.status_code == 400
    assert "limit is 1,000 bytes" in response.json()["size_bytes"][0]
    assert not Footage.objects.filter(original_name="big.mp4", status="uploading").exists()


def test_bad_upload_requests_get_field_level_messages(world):
    client = client_for(world.users["analyst"])
    response = client.post(f"/api/v1/projects/{world.a.project.pk}/footage/", {}, format="multipart")
    assert response.status_code == 400 and "file" in response.json()
    response = client.post(f"/api/v1/projects/{world.a.project.pk}/footage/uploads/", {"size_bytes": -3},
                           format="json")
    assert response.status_code == 400 and set(response.json()) == {"filename", "size_bytes"}


# --- Direct upload, local storage: the fallback explains itself ---------------------------------------


def test_local_storage_falls_back_to_chunks_sent_to_the_server(world, settings):
    settings.EMO7ION_UPLOAD_CHUNK_BYTES = 64 * 1024
    data = shared_path(*CLIP).read_bytes()
    client = client_for(world.users["analyst"])
    plan = start(client, world.a.project, "smile.mp4", len(data))
    assert plan.status_code == 201
    plan = plan.json()
    assert plan["strategy"] == "server"
    assert "Storage is local" in plan["detail"] and "Content-Range" in plan["detail"]
    assert plan["chunk_size"] == 64 * 1024
    footage_id = plan["footage"]["id"]
    assert plan["footage"]["status"] == "uploading"
    assert plan["url"].endswith(f"/api/v1/footage/{footage_id}/content/")
    assert plan["complete_url"].endswith(f"/api/v1/footage/{footage_id}/complete/")

    # A chunk that skips ahead is refused, and the answer says where to resume.
    skipped = put_chunk(client, plan["url"], data[65536:131072], 65536, len(data))
    assert skipped.status_code == 400
    assert "starts at byte 0" in skipped.json()["Content-Range"][0]
    # Completing early says how much is missing.
    put_chunk(client, plan["url"], data[:65536], 0, len(data))
    early = client.post(plan["complete_url"], {}, format="json")
    assert early.status_code == 400 and "65,536 of" in early.json()["detail"]

    for first in range(65536, len(data), 65536):
        chunk = data[first:first + 65536]
        response = put_chunk(client, plan["url"], chunk, first, len(data))
        assert response.status_code == 200, response.content
        assert response.json()["received_bytes"] == first + len(chunk)

    done = client.post(plan["complete_url"], {}, format="json")
    assert done.status_code == 200
    assert_ready_clip(done.json(), data)
    again = client.post(plan["complete_url"], {}, format="json")   # a retried complete is harmless
    assert again.status_code == 200 and again.json() == done.json()
    refused = put_chunk(client, plan["url"], b"more", len(data), len(data) + 4)
    assert refused.status_code == 400 and "already ready" in refused.json()["detail"]


# --- Direct upload to S3 (moto's server) ------------------------------------------------------------


@pytest.mark.services
def test_presigned_post_sends_the_clip_straight_to_s3(world, s3_storage):
    data = shared_path(*CLIP).read_bytes()
    client = client_for(world.users["analyst"])
    plan = start(client, world.a.project, "smile.mp4", len(data)).json()
    assert plan["strategy"] == "s3_post"
    assert plan["url"].startswith(s3_storage["endpoint"])

    early = client.post(plan["complete_url"], {}, format="json")
    assert early.status_code == 400 and "has not arrived" in early.json()["detail"]

    sent = requests.post(plan["url"], data=plan["fields"], files={"file": ("smile.mp4", data, "video/mp4")},
                         timeout=30)
    assert sent.status_code in (200, 201, 204), sent.text
    done = client.post(plan["complete_url"], {}, format="json")
    assert done.status_code == 200, done.content
    assert_ready_clip(done.json(), data)

    key = plan["fields"]["key"]
    assert key.startswith(f"org-{world.a.org.pk}/project-{world.a.project.pk}/footage/")
    s3 = boto3.client("s3", endpoint_url=s3_storage["endpoint"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    assert s3.head_object(Bucket=s3_storage["bucket"], Key=key)["ContentLength"] == len(data)


@pytest.mark.services
def test_a_file_bigger_than_the_limit_is_refused_even_if_storage_took_it(world, s3_storage, settings):
    """The presigned policy limits the size (S3 enforces it; moto does not), and complete checks
    the stored size again, so an oversized object is deleted and the footage rejected."""
    settings.EMO7ION_MAX_UPLOAD_BYTES = 100_000
    client = client_for(world.users["analyst"])
    plan = start(client, world.a.project, "small.mp4", 50_000).json()
    policy = json.loads(base64.b64decode(plan["fields"]["policy"]))
    assert ["content-length-range", 1, 100_000] in policy["conditions"]
    sent = requests.post(plan["url"], data=plan["fields"], files={"file": ("small.mp4", b"x" * 150_000)}, timeout=30)
    assert sent.status_code in (200, 201, 204)
    done = client.post(plan["complete_url"], {}, format="json")
    assert done.status_code == 200
    assert done.json()["status"] == "rejected"
    assert "150,000 bytes; the limit is 100,000 bytes" in done.json()["rejection_reason"]
    s3 = boto3.client("s3", endpoint_url=s3_storage["endpoint"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    assert s3.list_objects_v2(Bucket=s3_storage["bucket"]).get("KeyCount", 0) == 0


@pytest.mark.services
def test_multipart_upload_in_parts_then_complete(world, s3_storage, settings):
    """Big files: presigned part URLs. 11 MiB of random bytes in three parts (S3's minimum part is
    5 MiB); complete lists the parts itself; the content is then refused as not a video."""
    settings.EMO7ION_MULTIPART_THRESHOLD = 1024 ** 2
    settings.EMO7ION_MULTIPART_PART_BYTES = 5 * 1024 ** 2
    data = os.urandom(11 * 1024 ** 2)
    client = client_for(world.users["analyst"])
    plan = start(client, world.a.project, "huge.mp4", len(data)).json()
    assert plan["strategy"] == "s3_multipart" and plan["upload_id"]
    assert [p["size"] for p in plan["parts"]] == [5 * 1024 ** 2, 5 * 1024 ** 2, 1024 ** 2]
    offset = 0
    for part in plan["parts"]:
        answer = requests.put(part["url"], data=data[offset:offset + part["size"]], timeout=60)
        assert answer.status_code == 200 and answer.headers["ETag"]
        offset += part["size"]
    done = client.post(plan["complete_url"], {"upload_id": plan["upload_id"]}, format="json")
    assert done.status_code == 200, done.content
    body = done.json()
    assert body["size_bytes"] == len(data)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["status"] == "rejected" and body["rejection_reason"]


@pytest.mark.services
def test_multipart_upload_of_a_real_clip_with_the_clients_etags(world, s3_storage, settings):
    settings.EMO7ION_MULTIPART_THRESHOLD = 1024
    data = shared_path(*CLIP).read_bytes()
    client = client_for(world.users["analyst"])
    plan = start(client, world.a.project, "smile.mp4", len(data)).json()
    assert plan["strategy"] == "s3_multipart" and len(plan["parts"]) == 1
    answer = requests.put(plan["parts"][0]["url"], data=data, timeout=60)
    etags = [{"part_number": 1, "etag": answer.headers["ETag"]}]
    wrong = client.post(plan["complete_url"], {"upload_id": "not-the-upload", "parts": etags}, format="json")
    assert wrong.status_code == 400 and "upload_id" in wrong.json()
    done = client.post(plan["complete_url"], {"upload_id": plan["upload_id"], "parts": etags}, format="json")
    assert done.status_code == 200, done.content
    assert_ready_clip(done.json(), data)
