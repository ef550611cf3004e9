"""Webhook endpoints an organisation registers, and the log of every delivery to them."""
import secrets
import uuid

from django.conf import settings
from django.db import models

from accounts.models import Organisation


class Event(models.TextChoices):
    ANALYSIS_SUCCEEDED = "analysis.succeeded", "An analysis succeeded"
    ANALYSIS_FAILED = "analysis.failed", "An analysis failed"


def new_secret() -> str:
    return secrets.token_hex(32)


class WebhookEndpoint(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.URLField(max_length=500)
    # Per-endpoint: a leaked secret only lets someone forge deliveries to that one receiver.
    secret = models.CharField(max_length=128, default=new_secret)
    events = models.JSONField(default=list, help_text="Event names this endpoint receives")
    description = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.url} ({self.organisation})"


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"          # queued, or waiting for its next retry
        SUCCEEDED = "succeeded", "Succeeded"    # the receiver answered 2xx
        FAILED = "failed", "Failed"             # gave up: retries exhausted or a permanent refusal

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=40, choices=Event.choices)
    # What the event is about, e.g. "analysis:42": with the unique constraint, a signal sent
    # twice for one analysis still makes one delivery per endpoint.
    subject = models.CharField(max_length=80)
    body = models.TextField(help_text="The exact JSON sent and signed; every retry sends these same bytes")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    response_status_code = models.PositiveIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, help_text="The first 1,000 characters of the last answer")
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"
        constraints = [models.UniqueConstraint(fields=["endpoint", "event", "subject"],
                                               name="one_delivery_per_endpoint_event_subject")]

    def __str__(self) -> str:
        return f"{self.event} {self.subject} -> {self.endpoint.url}"
