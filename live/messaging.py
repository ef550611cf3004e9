"""The live side's messages over the channel layer, in one place.

    web -> worker   channel `live-worker`: "live.frame" (a browser frame), "live.wake" (a session
                    changed: re-read the database now), "live.photo" (score a photo, reply on a channel)
    worker -> pages group `live-session-<id>`: "live.result" (faces, shares, rates), "live.state"

Sends from the web side are best-effort: the database is the source of truth for a session's state
(the worker re-reads it every second), so a lost wake-up only costs a second.
"""
from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.exceptions import ChannelFull
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)

WORKER_CHANNEL = "live-worker"
HEARTBEAT_KEY = "emo7ion:live-worker:heartbeat"  # {"at": epoch seconds, "ready": model loaded}
HEARTBEAT_EVERY_S = 2.0
HEARTBEAT_STALE_S = 10.0


def group_name(session_id: int) -> str:
    return f"live-session-{int(session_id)}"


def send_to_worker(message: dict) -> bool:
    """From synchronous code (views, services). Returns whether the layer took the message."""
    layer = get_channel_layer()
    try:
        async_to_sync(layer.send)(WORKER_CHANNEL, message)
        return True
    except ChannelFull:
        log.warning("live worker channel full: %s dropped", message.get("type"))
        return False


def wake_worker(session_id: int) -> bool:
    return send_to_worker({"type": "live.wake", "session": int(session_id)})


def publish(session_id: int, message: dict, layer=None) -> None:
    """Send `message` (a "result" or "state" dict) to every page watching the session."""
    layer = layer or get_channel_layer()
    event = "live.result" if message.get("type") == "result" else "live.state"
    async_to_sync(layer.group_send)(group_name(session_id), {"type": event, "data": message})
