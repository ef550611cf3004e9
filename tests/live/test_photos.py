"""Photo scoring refuses URLs that point inside the network, and says so when no live worker runs.
(A real upload scored by a real worker is in test_websocket, on a real ASGI server.)"""
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Role
from live.messaging import HEARTBEAT_KEY
from tests.factories import member_of

from .conftest import photo_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(analyst_a):
    cache.delete(HEARTBEAT_KEY)
    client = APIClient()
    client.force_authenticate(analyst_a)
    return client


@pytest.mark.parametrize("url", ["https://127.0.0.1/photo.jpg", "https://10.20.30.40/photo.jpg",
                                 "https://169.254.169.254/latest/meta-data/", "https://localhost:8443/photo.jpg",
                                 "https://[::1]/photo.jpg"])
def test_a_photo_url_inside_the_network_is_refused(api, shipped_model, url):
    answer = api.post("/api/v1/images/", {"url": url}, format="json")
    assert answer.status_code == 400, answer.content
    assert "not a public address" in answer.json()["detail"]


def test_only_https_urls_are_fetched(api, shipped_model):
    answer = api.post("/api/v1/images/", {"url": "http://example.com/photo.jpg"}, format="json")
    assert answer.status_code == 400 and "https://" in answer.json()["detail"]


def test_with_no_live_worker_the_answer_says_so(api, shipped_model):
    from django.core.files.uploadedfile import SimpleUploadedFile
    photo = SimpleUploadedFile("crowd.jpg", photo_bytes(), content_type="image/jpeg")
    answer = api.post("/api/v1/images/", {"file": photo}, format="multipart")
    assert answer.status_code == 503
    assert "live worker is not running" in answer.json()["detail"]


def test_viewers_cannot_score_photos(org_a, shipped_model):
    client = APIClient()
    client.force_authenticate(member_of(org_a, Role.VIEWER, username="vera"))
    assert client.post("/api/v1/images/", {"url": "https://example.com/a.jpg"}, format="json").status_code == 403
