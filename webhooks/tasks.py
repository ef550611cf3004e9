"""Celery task that delivers one logged webhook, retrying transient failures with backoff."""
from celery import shared_task

from . import services
from .models import WebhookDelivery


@shared_task(bind=True, max_retries=None, acks_late=True, ignore_result=True)
def deliver_webhook(self, delivery_id: int) -> str:
    # max_retries=None: the attempt budget lives on the delivery row (EMO7ION_WEBHOOK_MAX_ATTEMPTS),
    # so a redelivery an admin starts gets its full budget again.
    delivery = WebhookDelivery.objects.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return "nothing to do"
    outcome = services.webhook_delivery_attempt(delivery=delivery)
    if outcome.retry_in_s is not None:
        raise self.retry(countdown=outcome.retry_in_s)
    return "delivered" if outcome.delivered else "failed"
