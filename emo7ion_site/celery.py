"""The Celery app. Configuration comes from Django settings (CELERY_* names): queues, routes, the
broker's visibility timeout and the beat schedule (the watchdog, retention) are in settings/base.py.

`broker_tasks_in_flight` lets the watchdog tell a lost message from one that is waiting or running.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Iterable

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "emo7ion_site.settings.local")

app = Celery("emo7ion_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)


def queue_of(task_name: str) -> str:
    """The queue a task is routed to (CELERY_TASK_ROUTES, else the default queue)."""
    route = app.amqp.router.route({}, task_name, args=(), kwargs={})
    return route["queue"].name


def _message_task_id(raw: bytes | str) -> str | None:
    try:
        message = json.loads(raw)
        if isinstance(message, list):  # an unacknowledged entry: [message, exchange, routing key]
            message = message[0]
        return message.get("headers", {}).get("id") or message.get("properties", {}).get("correlation_id")
    except (ValueError, TypeError, AttributeError, IndexError):
        return None


def broker_tasks_in_flight(queues: Iterable[str]) -> set[str] | None:
    """Ids of the tasks the broker holds for `queues`: waiting in them, or delivered to a worker and not yet
    acknowledged. None when the broker cannot be read this way (only Redis can): then nothing is known lost.

    It also declares the queues again: a Redis that restarted without its data (no AOF) has lost their
    bindings as well, and a message sent to an unbound queue would vanish the same way."""
    with app.connection_for_write() as conn:
        if conn.transport.driver_type != "redis":
            return None
        channel = conn.default_channel
        queues = sorted(set(queues))
        for name in queues:
            app.amqp.queues[name](channel).declare()
        client = channel.client
        keys = {channel._q_for_pri(name, priority) for name in queues for priority in channel.priority_steps}
        raw = [item for key in sorted(keys) for item in client.lrange(key, 0, -1)]
        raw += client.hvals(channel.unacked_key)
    return {task_id for task_id in map(_message_task_id, raw) if task_id}
