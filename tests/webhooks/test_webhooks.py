"""Webhooks: finished analyses become signed deliveries, sent to a real HTTP receiver on
127.0.0.1 by the Celery task (run eagerly here; the live-server test runs it on a real worker),
retried with backoff, logged, and managed through the API."""
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from analysis.models import Analysis
from analysis.signals import analysis_finished
from emo7ion_site.celery import app as celery_app
from webhooks import services
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.signing import sign, verify
from webhooks.tasks import deliver_webhook

from tests.api.conftest import client_for


@pytest.fixture
def eager_celery():
    """Tasks run in-process when queued (retries included, at once): the HTTP delivery itself is real."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def expected_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def finish(analysis, status, capture, error=""):
    Analysis.objects.filter(pk=analysis.pk).update(status=status, error=error, finished_at=timezone.now())
    analysis.refresh_from_db()
    with capture(execute=True):
        analysis_finished.send(sender=Analysis, analysis=analysis)


def test_signature_helpers_match_a_plain_hmac():
    body = b'{"event":"analysis.succeeded"}'
    assert sign("s3cret", body) == expected_signature("s3cret", body)
    assert verify("s3cret", body, sign("s3cret", body))
    assert not verify("s3cret", body + b" ", sign("s3cret", body))
    assert not verify("other", body, sign("s3cret", body))
    assert not verify("s3cret", body, None)


def test_a_succeeded_analysis_is_delivered_signed(world, receiver, eager_celery, django_capture_on_commit_callbacks):
    rx = receiver()
    endpoint = services.webhook_endpoint_create(organisation=world.a.org, url=rx.url,
                                                events=["analysis.succeeded", "analysis.failed"])
    finish(world.a.queued_analysis, "succeeded", django_capture_on_commit_callbacks)

    assert len(rx.requests) == 1
    sent = rx.requests[0]
    assert sent["path"] == "/emo7ion-hook"
    assert sent["headers"]["X-Emo7ion-Signature"] == expected_signature(endpoint.secret, sent["body"])
    assert sent["headers"]["X-Emo7ion-Event"] == "analysis.succeeded"
    assert sent["headers"]["Content-Type"] == "application/json"
    payload = json.loads(sent["body"])
    assert payload["event"] == "analysis.succeeded"
    assert payload["organisation"] == world.a.org.slug
    assert payload["data"]["analysis"]["id"] == world.a.queued_analysis.pk
    assert payload["data"]["analysis"]["status"] == "succeeded"
    assert payload["data"]["analysis"]["url"] == f"/api/v1/analyses/{world.a.queued_analysis.pk}/"
    assert sent["headers"]["X-Emo7ion-Delivery"] == payload["id"]

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == ("succeeded", 1, 200)
    assert delivery.response_body == "answered 200"
    assert delivery.delivered_at is not None and delivery.error == ""


def test_a_failed_analysis_goes_only_to_endpoints_subscribed_to_failures(world, receiver, eager_celery,
                                                                          django_capture_on_commit_callbacks):
    only_success, failures = receiver(), receiver()
    services.webhook_endpoint_create(organisation=world.a.org, url=only_success.url, events=["analysis.succeeded"])
    services.webhook_endpoint_create(organisation=world.a.org, url=failures.url, events=["analysis.failed"])
    finish(world.a.queued_analysis, "failed", django_capture_on_commit_callbacks, error="Segment 1: not a video")

    assert only_success.requests == []
    [sent] = failures.requests
    payload = json.loads(sent["body"])
    assert payload["event"] == "analysis.failed"
    assert payload["data"]["analysis"]["error"] == "Segment 1: not a video"


def test_cancelled_analyses_other_organisations_and_inactive_endpoints_get_nothing(
        world, receiver, eager_celery, django_capture_on_commit_callbacks):
    rx_b, rx_inactive = receiver(), receiver()
    services.webhook_endpoint_create(organisation=world.b.org, url=rx_b.url, events=["analysis.succeeded"])
    services.webhook_endpoint_create(organisation=world.a.org, url=rx_inactive.url, events=["analysis.succeeded"],
                                     is_active=False)
    finish(world.a.queued_analysis, "succeeded", django_capture_on_commit_callbacks)
    other = world.a.analysis
    finish(other, "cancelled", django_capture_on_commit_callbacks)
    assert rx_b.requests == [] and rx_inactive.requests == []
    assert not WebhookDelivery.objects.filter(endpoint__url__in=[rx_b.url, rx_inactive.url]).exists()


def test_the_same_event_twice_makes_one_delivery(world, receiver, eager_celery, django_capture_on_commit_callbacks):
    rx = receiver()
    services.webhook_endpoint_create(organisation=world.a.org, url=rx.url, events=["analysis.succeeded"])
    finish(world.a.queued_analysis, "succeeded", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        analysis_finished.send(sender=Analysis, analysis=world.a.queued_analysis)
    assert len(rx.requests) == 1
    assert WebhookDelivery.objects.filter(subject=f"analysis:{world.a.queued_analysis.pk}",
                                          endpoint__url=rx.url).count() == 1


def test_server_errors_are_retried_with_the_same_signed_body(world, receiver, eager_celery,
                                                             django_capture_on_commit_callbacks):
    rx = receiver(answers=[500, 503])
    endpoint = services.webhook_endpoint_create(organisation=world.a.org, url=rx.url, events=["analysis.succeeded"])
    finish(world.a.queued_analysis, "succeeded", django_capture_on_commit_callbacks)

    assert len(rx.requests) == 3
    assert len({r["body"] for r in rx.requests}) == 1
    assert {r["headers"]["X-Emo7ion-Signature"] for r in rx.requests} == \
        {expected_signature(endpoint.secret, rx.requests[0]["body"])}
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == ("succeeded", 3, 200)


def test_a_refusal_is_not_retried(world, receiver, eager_celery, django_capture_on_commit_callbacks):
    rx = receiver(answers=[410])
    endpoint = services.webhook_endpoint_create(organisation=world.a.org, url=rx.url, events=["analysis.succeeded"])
    finish(world.a.queued_analysis, "succeeded", django_capture_on_commit_callbacks)
    assert len(rx.requests) == 1
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == ("failed", 1, 410)
    assert "HTTP 410" in delivery.error


def test_an_unreachable_receiver_is_retried_until_the_budget_is_spent(world, settings, eager_celery,
                                                                      django_capture_on_commit_callbacks):
    settings.EMO7ION_WEBHOOK_MAX_ATTEMPTS = 3
    settings.EMO7ION_WEBHOOK_TIMEOUT = 2.0
    endpoint = services.webhook_endpoint_create(organisation=world.a.org, url="http://127.0.0.1:9/closed",
                                                events=["analysis.succeeded"])
    finish(world.a.queued_analysis, "succeeded", django_capture_on_commit_callbacks)
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert (delivery.status, delivery.attempts, delivery.response_status_code) == ("failed", 3, None)
    assert delivery.error.startswith("Could not deliver to http://127.0.0.1:9/closed")


def test_backoff_doubles_and_the_next_attempt_is_logged(world, receiver, settings):
    settings.EMO7ION_WEBHOOK_BACKOFF_S = 30.0
    assert [services.backoff_seconds(n) for n in (1, 2, 3, 4)] == [30.0, 60.0, 120.0, 240.0]
    assert services.backoff_seconds(20) == 3600.0
    rx = receiver(answers=[502, 502])
    endpoint = services.webhook_endpoint_create(organisation=world.a.org, url=rx.url, events=["analysis.succeeded"])
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="analysis.succeeded", subject="analysis:1",
                                              body='{"hello": "world"}')
    before = timezone.now()
    first = services.webhook_delivery_attempt(delivery=delivery)
    assert first.retry_in_s == 30.0
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.response_status_code == 502
    assert before + timedelta(seconds=29) < delivery.next_attempt_at < timezone.now() + timedelta(seconds=31)
    assert services.webhook_delivery_attempt(delivery=delivery).retry_in_s == 60.0


def test_the_task_ignores_deliveries_that_are_gone_or_done(world):
    assert deliver_webhook.apply(args=[987654]).get() == "nothing to do"
    assert deliver_webhook.apply(args=[world.a.delivery.pk]).get() == "nothing to do"  # already failed


def test_private_addresses_are_refused_unless_allowed(world, receiver, settings):
    """A tenant must not make the workers call internal services (and read the answer in the log)."""
    rx = receiver()
    allowed = services.webhook_endpoint_create(organisation=world.a.org, url=rx.url, events=["analysis.succeeded"])
    settings.EMO7ION_WEBHOOK_ALLOW_PRIVATE = False
    admin = client_for(world.users["admin"])
    for url in (rx.url, "http://169.254.169.254/latest/meta-data/", "http://10.1.2.3/hook", "http://[::1]:8080/"):
        response = admin.post("/api/v1/webhooks/", {"organisation": world.a.org.slug, "url": url,
                                                    "events": ["analysis.succeeded"]}, format="json")
        assert response.status_code == 400, url
        assert "not a public address" in response.json()["url"][0]
    # An endpoint saved while allowed (or whose name now resolves privately) is refused at delivery.
    delivery = WebhookDelivery.objects.create(endpoint=allowed, event="analysis.succeeded", subject="analysis:7",
                                              body="{}")
    assert services.webhook_delivery_attempt(delivery=delivery).retry_in_s is None
    delivery.refresh_from_db()
    assert delivery.status == "failed" and "not a public address" in delivery.error
    assert rx.requests == []


# --- Through the API ---------------------------------------------------------------------------


def test_the_secret_is_shown_once_and_can_be_rotated(world, receiver):
    admin = client_for(world.users["admin"])
    created = admin.post("/api/v1/webhooks/", {"organisation": world.a.org.slug, "url": receiver().url,
                                               "events": ["analysis.succeeded"]}, format="json")
    assert created.status_code == 201
    body = created.json()
    endpoint = WebhookEndpoint.objects.get(pk=body["id"])
    assert body["secret"] == endpoint.secret and len(endpoint.secret) == 64
    assert body["organisation"] == world.a.org.slug
    shown = admin.get(f"/api/v1/webhooks/{endpoint.pk}/").json()
    assert "secret" not in shown and shown["secret_hint"] == "…" + endpoint.secret[-4:]
    rotated = admin.post(f"/api/v1/webhooks/{endpoint.pk}/rotate-secret/").json()
    endpoint.refresh_from_db()
    assert rotated["secret"] == endpoint.secret != body["secret"]


def test_bad_webhook_input_gets_field_level_messages(world):
    admin = client_for(world.users["admin"])
    response = admin.post("/api/v1/webhooks/", {"organisation": world.a.org.slug, "url": "ftp://example.com/x",
                                                "events": ["analysis.exploded"]}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"url", "events"}
    response = admin.post("/api/v1/webhooks/", {"organisation": world.a.org.slug, "url": "https://example.com",
                                                "events": []}, format="json")
    assert response.status_code == 400 and "events" in response.json()


def test_admins_read_the_delivery_log_and_can_redeliver(world, receiver, eager_celery,
                                                        django_capture_on_commit_callbacks):
    rx = receiver(answers=[404])
    admin = client_for(world.users["admin"])
    endpoint = services.webhook_endpoint_create(organisation=world.a.org, url=rx.url, events=["analysis.succeeded"])
    finish(world.a.queued_analysis, "succeeded", django_capture_on_commit_callbacks)

    log = admin.get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").json()
    assert log["count"] == 1
    [row] = log["results"]
    assert (row["status"], row["attempts"], row["response_status_code"]) == ("failed", 1, 404)
    assert row["payload"]["data"]["analysis"]["id"] == world.a.queued_analysis.pk

    with django_capture_on_commit_callbacks(execute=True):
        response = admin.post(f"/api/v1/webhooks/{endpoint.pk}/deliveries/{row['id']}/redeliver/")
    assert response.status_code == 200
    assert len(rx.requests) == 2 and rx.requests[0]["body"] == rx.requests[1]["body"]
    assert WebhookDelivery.objects.get(pk=row["id"]).status == "succeeded"
    assert client_for(world.users["viewer"]).get(f"/api/v1/webhooks/{endpoint.pk}/deliveries/").status_code == 403


def test_the_delivery_log_in_the_django_admin(world, client):
    from tests.factories import UserFactory
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    listing = client.get("/admin/webhooks/webhookdelivery/?status__exact=failed")
    assert listing.status_code == 200
    assert f"analysis:{world.a.analysis.pk}" in listing.content.decode()
    endpoint_page = client.get(f"/admin/webhooks/webhookendpoint/{world.a.endpoint.pk}/change/")
    assert endpoint_page.status_code == 200 and world.a.endpoint.url in endpoint_page.content.decode()
    assert client.get("/admin/webhooks/webhookdelivery/add/").status_code == 403


def test_a_name_that_turns_private_after_the_check_is_refused_at_connection(world, receiver, settings,
                                                                            monkeypatch):
    """DNS rebinding: the name's answer passed the check, then the connection reached a private
    address. The DNS answer is the one thing simulated here; the connection is real."""
    rx = receiver()
    endpoint = services.webhook_endpoint_create(organisation=world.a.org, url=rx.url, events=["analysis.succeeded"])
    settings.EMO7ION_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(services, "private_address_problem", lambda url: None)  # "it resolved publicly"
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="analysis.succeeded", subject="analysis:8",
                                              body="{}")
    outcome = services.webhook_delivery_attempt(delivery=delivery)
    assert not outcome.delivered and outcome.retry_in_s is None
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    assert "connected to 127.0.0.1, which is not a public address" in delivery.error
    assert rx.requests == []  # refused before a byte of the request was sent


def test_the_public_only_transport_still_reaches_receivers_when_private_ones_are_allowed(world, receiver, settings):
    from webhooks import transport
    rx = receiver()
    with transport.session(public_only=False) as http:
        assert http.post(rx.url, data=b"{}", timeout=5).status_code == 200
    with transport.session(public_only=True) as http, pytest.raises(transport.PrivateAddressRefused):
        http.post(rx.url, data=b"{}", timeout=5)
    assert len(rx.requests) == 1
