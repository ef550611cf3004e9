"""The live page's WebSocket: `/ws/live/<session id>/`.

Everyone in the session's organisation may watch it (results and states); only the person who
started a browser-camera session sends its frames. Frames are binary messages: 8 bytes of the
browser's clock (float64, little-endian, milliseconds) followed by a JPEG. The consumer stamps each
frame's arrival time and hands it to the live worker through the channel layer; it never analyses.

Another organisation's session, a session that does not exist and a visitor who is not signed in
all get the same answer: `{"type": "error", "status": 404}` and close code 4404.
"""
from __future__ import annotations

import json
import struct
import time

from channels.db import database_sync_to_async
from channels.exceptions import ChannelFull
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.http import Http404

from .messaging import WORKER_CHANNEL, group_name
from .models import LiveSession
from .selectors import live_session_get, live_session_state

HEADER = struct.Struct("<d")
MAX_FRAME_BYTES = 2 * 1024 * 1024
SENDING_STATES = (LiveSession.State.STARTING, LiveSession.State.RUNNING)
JPEG_MAGIC = b"\xff\xd8"


@database_sync_to_async
def _session_for(user, pk):
    try:
        session = live_session_get(user, pk)
    except Http404:
        return None, None
    return session, live_session_state(session)


class LiveSessionConsumer(AsyncWebsocketConsumer):
    session: LiveSession | None = None

    async def connect(self):
        await self.accept()
        self.session, state = await _session_for(self.scope.get("user"), self.scope["url_route"]["kwargs"]["pk"])
        if self.session is None:
            await self.send(text_data=json.dumps({"type": "error", "status": 404, "detail": "Not found."}))
            await self.close(code=4404)
            return
        self.state = self.session.state
        user = self.scope["user"]
        self.can_send = (self.session.source == LiveSession.Source.BROWSER and self.session.created_by_id == user.pk)
        self.origin = self.session.started_at.timestamp()
        self.min_interval = 1.0 / settings.EMO7ION_LIVE_MAX_FPS
        self.last_frame = 0.0
        self.refused = 0
        await self.channel_layer.group_add(group_name(self.session.pk), self.channel_name)
        await self.send(text_data=json.dumps({**state, "can_send": self.can_send}))

    async def disconnect(self, code):
        if self.session is not None:
            await self.channel_layer.group_discard(group_name(self.session.pk), self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        if self.session is None:
            return
        if bytes_data is not None:
            await self._frame(bytes_data)
        elif text_data == "ping":
            await self.send(text_data=json.dumps({"type": "pong", "at": time.time()}))

    async def _frame(self, data: bytes) -> None:
        now = time.time()
        if (not self.can_send or self.state not in SENDING_STATES or len(data) > MAX_FRAME_BYTES
                or len(data) <= HEADER.size or data[HEADER.size:HEADER.size + 2] != JPEG_MAGIC):
            self.refused += 1
            return
        if now - self.last_frame < self.min_interval:  # faster than any session may send: not even queued
            self.refused += 1
            return
        self.last_frame = now
        (client_ms,) = HEADER.unpack_from(data)
        try:
            await self.channel_layer.send(WORKER_CHANNEL, {
                "type": "live.frame", "session": self.session.pk, "at": now, "jpeg": data[HEADER.size:],
                "client_ms": client_ms})
        except ChannelFull:
            self.refused += 1

    async def live_result(self, event):
        await self.send(text_data=json.dumps({**event["data"], "refused": self.refused}))

    async def live_state(self, event):
        self.state = event["data"].get("state", self.state)
        await self.send(text_data=json.dumps(event["data"]))
