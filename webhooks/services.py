"""Webhook writes: endpoints, events and delivery attempts.

An event makes one WebhookDelivery row per subscribed endpoint (the log admins read) and one
Celery task per row, so a slow or dead receiver never delays the analysis that caused it.
"""
from __future__ import annotations

import ipaddress
import json
import logging
import socket
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from emo7ion_site.core.jobs import enqueue_on_commit, task_id

from . import transport
from .models import Event, WebhookDelivery, WebhookEndpoint, new_secret
from .signing import DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, sign

logger = logging.getLogger(__name__)

EVENTS = tuple(Event.values)
RESPONSE_EXCERPT_CHARS = 1000


def max_attempts() -> int:
    return settings.EMO7ION_WEBHOOK_MAX_ATTEMPTS


def backoff_seconds(failed_attempts: int) -> float:
    """Wait before the next attempt after `failed_attempts` failures: base, 2×base, 4×base, …
    capped at one hour."""
    base = settings.EMO7ION_WEBHOOK_BACKOFF_S
    return min(base * (2 ** max(failed_attempts - 1, 0)), 3600.0)


def _clean_events(events) -> list[str]:
    if not isinstance(events, (list, tuple)) or not events:
        raise ValidationError({"events": [f"Choose at least one event from: {', '.join(EVENTS)}."]})
    unknown = sorted({str(e) for e in events} - set(EVENTS))
    if unknown:
        raise ValidationError({"events": [f"Unknown event(s) {', '.join(unknown)}; known: {', '.join(EVENTS)}."]})
    return sorted(set(events))


def _clean_url(url: str) -> str:
    if not isinstance(url, str) or not url.lower().startswith(("http://", "https://")):
        raise ValidationError({"url": ["The URL must start with http:// or https://."]})
    problem = private_address_problem(url)
    if problem:
        raise ValidationError({"url": [problem]})
    return url


def private_address_problem(url: str) -> str | None:
    """Why `url` must not be called (it resolves to a private, loopback, link-local or otherwise
    internal address), or None. Checked when an endpoint is saved and again before every attempt,
    since DNS answers change. A name that does not resolve is left to fail at delivery."""
    if settings.EMO7ION_WEBHOOK_ALLOW_PRIVATE:
        return None
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, ValueError):
        return None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if not address.is_global:
            return (f"{parts.hostname} resolves to {address}, which is not a public address; webhooks are "
                    "only sent to public addresses (EMO7ION_WEBHOOK_ALLOW_PRIVATE).")
    return None


def webhook_endpoint_create(*, organisation, url: str, events, description: str = "",
                            is_active: bool = True, created_by=None) -> WebhookEndpoint:
    endpoint = WebhookEndpoint(organisation=organisation, url=_clean_url(url), events=_clean_events(events),
                               description=description, is_active=is_active, created_by=created_by)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    allowed = {"url", "events", "description", "is_active"}
    unknown = set(fields) - allowed
    if unknown:
        raise ValueError(f"Cannot update {', '.join(sorted(unknown))} of a webhook endpoint")
    if "url" in fields:
        fields["url"] = _clean_url(fields["url"])
    if "events" in fields:
        fields["events"] = _clean_events(fields["events"])
    for name, value in fields.items():
        setattr(endpoint, name, value)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.secret = new_secret()
    endpoint.save(update_fields=["secret", "updated_at"])
    return endpoint


def webhook_event_emit(*, organisation, event: str, subject: str, data: dict) -> list[WebhookDelivery]:
    """Record one delivery per active endpoint of `organisation` subscribed to `event`, and queue
    them once the surrounding transaction commits. Emitting the same (event, subject) twice is a no-op."""
    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}")
    deliveries = []
    for endpoint in WebhookEndpoint.objects.filter(organisation=organisation, is_active=True):
        if event not in endpoint.events:
            continue
        delivery_uuid = uuid.uuid4()
        payload = {"id": str(delivery_uuid), "event": event, "created_at": timezone.now(),
                   "organisation": organisation.slug, "data": data}
        body = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"), sort_keys=True)
        delivery, created = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint, event=event, subject=subject, defaults={"uuid": delivery_uuid, "body": body})
        if created:
            _enqueue(delivery)
            deliveries.append(delivery)
    return deliveries


def _enqueue(delivery: WebhookDelivery) -> None:
    enqueue_on_commit("webhooks.tasks.deliver_webhook", args=[delivery.pk],
                      task_id=task_id("webhook", delivery.pk, "delivery"))


def analysis_event_data(analysis) -> dict:
    footage = analysis.footage
    return {"analysis": {
        "id": analysis.pk, "status": analysis.status, "error": analysis.error, "progress": analysis.progress,
        "footage": footage.pk, "footage_name": footage.original_name, "project": footage.project_id,
        "model_version": analysis.model_version_id, "detector": analysis.detector,
        "sample_fps": analysis.sample_fps, "summary": analysis.summary,
        "created_at": analysis.created_at, "started_at": analysis.started_at, "finished_at": analysis.finished_at,
        "url": f"/api/v1/analyses/{analysis.pk}/",
    }}


ANALYSIS_EVENTS = {"succeeded": Event.ANALYSIS_SUCCEEDED, "failed": Event.ANALYSIS_FAILED}


def webhook_events_for_analysis(*, analysis) -> list[WebhookDelivery]:
    """analysis.succeeded / analysis.failed for a finished analysis; cancelled ones send nothing."""
    event = ANALYSIS_EVENTS.get(analysis.status)
    if event is None:
        return []
    organisation = analysis.footage.project.organisation
    return webhook_event_emit(organisation=organisation, event=event, subject=f"analysis:{analysis.pk}",
                              data=analysis_event_data(analysis))


@dataclass(frozen=True)
class AttemptOutcome:
    delivered: bool
    retry_in_s: float | None = None   # a transient failure: try again after this backoff


def _retryable(status_code: int | None) -> bool:
    # No answer, a server error, a timeout or rate limit may pass; other 4xx are the receiver's "no".
    return status_code is None or status_code >= 500 or status_code in (408, 425, 429)


def webhook_delivery_attempt(*, delivery: WebhookDelivery) -> AttemptOutcome:
    """POST the stored body once, record the answer on the delivery row, and say whether to retry."""
    endpoint = delivery.endpoint
    now = timezone.now()
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.next_attempt_at = None
    refusal = ("Not sent: the endpoint was deactivated before this delivery." if not endpoint.is_active
               else private_address_problem(endpoint.url))
    if refusal:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.error = refusal if refusal.startswith("Not sent") else f"Not sent: {refusal}"
        delivery.save()
        return AttemptOutcome(delivered=False)

    body = delivery.body.encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Emo7ion-Webhooks/1",
               SIGNATURE_HEADER: sign(endpoint.secret, body), EVENT_HEADER: delivery.event,
               DELIVERY_HEADER: str(delivery.uuid)}
    status_code, excerpt, error = None, "", ""
    try:
        # The name was checked above; the connection's own peer address is checked too (DNS answers
        # can change in between). Redirects are not followed: a receiver that moved must be updated.
        with transport.session(public_only=not settings.EMO7ION_WEBHOOK_ALLOW_PRIVATE) as http, \
                http.post(endpoint.url, data=body, headers=headers, stream=True, allow_redirects=False,
                          timeout=settings.EMO7ION_WEBHOOK_TIMEOUT) as response:
            status_code = response.status_code
            # Read only an excerpt: a receiver's answer is logged, never trusted to be small.
            excerpt = response.raw.read(RESPONSE_EXCERPT_CHARS, decode_content=True).decode("utf-8", "replace")
    except transport.PrivateAddressRefused as exc:
        delivery.status = WebhookDelivery.Status.FAILED
        delivery.error = f"Not sent: {exc}"
        delivery.save()
        return AttemptOutcome(delivered=False)
    except requests.RequestException as exc:
        error = f"Could not deliver to {endpoint.url}: {type(exc).__name__}: {exc}"

    delivery.response_status_code = status_code
    delivery.response_body = excerpt
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = WebhookDelivery.Status.SUCCEEDED
        delivery.delivered_at = now
        delivery.error = ""
        outcome = AttemptOutcome(delivered=True)
    else:
        delivery.error = error or f"The receiver answered HTTP {status_code}."
        if _retryable(status_code) and delivery.attempts < max_attempts():
            wait = backoff_seconds(delivery.attempts)
            delivery.status = WebhookDelivery.Status.PENDING
            delivery.next_attempt_at = now + timedelta(seconds=wait)
            delivery.error += f" Attempt {delivery.attempts} of {max_attempts()}; next in {wait:g} s."
            outcome = AttemptOutcome(delivered=False, retry_in_s=wait)
        else:
            delivery.status = WebhookDelivery.Status.FAILED
            outcome = AttemptOutcome(delivered=False)
    delivery.save()
    logger.info("webhook %s %s to %s: attempt %s, HTTP %s", delivery.event, delivery.subject, endpoint.url,
                delivery.attempts, status_code)
    return outcome


def webhook_delivery_redeliver(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a logged delivery again (same body, same signature), e.g. after fixing the receiver."""
    delivery.status = WebhookDelivery.Status.PENDING
    delivery.attempts = 0
    delivery.next_attempt_at = None
    delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
    _enqueue(delivery)
    return delivery
