"""Reads of the live side. Sessions are scoped through accounts.tenancy like every analysis
(another organisation's session is a 404)."""
from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.urls import reverse

from accounts.permissions import VIEW
from accounts.tenancy import get_for_user, scope_to_user

from .messaging import HEARTBEAT_KEY, HEARTBEAT_STALE_S
from .models import LiveSession

LIVE_ORG = "analysis__footage__project__organisation"
RELATED = ("analysis__footage__project__organisation", "analysis__model_version", "created_by")


def live_sessions_for(user, action: str = VIEW) -> QuerySet[LiveSession]:
    return scope_to_user(LiveSession.objects.select_related(*RELATED), user, LIVE_ORG, action)


def live_session_get(user, pk, action: str = VIEW) -> LiveSession:
    """404 for another organisation's session; 403 when the role does not allow `action`."""
    return get_for_user(LiveSession.objects.select_related(*RELATED), user, org_path=LIVE_ORG, action=action, pk=pk)


def project_live_sessions(project) -> QuerySet[LiveSession]:
    return LiveSession.objects.filter(analysis__footage__project=project).select_related("analysis", "created_by")


def prohibited_settings() -> list[str]:
    return [s.strip().lower() for s in settings.EMO7ION_LIVE_PROHIBITED_SETTINGS if s.strip()]


def _heartbeat() -> dict | None:
    beat = cache.get(HEARTBEAT_KEY)
    return beat if beat is not None and time.time() - float(beat["at"]) < HEARTBEAT_STALE_S else None


def live_worker_alive() -> bool:
    return _heartbeat() is not None


def live_worker_ready() -> bool:
    """A live worker runs and has its model loaded (the first frames are then answered at once)."""
    beat = _heartbeat()
    return beat is not None and bool(beat.get("ready"))


def report_url(session: LiveSession) -> str:
    return reverse("analysis-detail", args=[session.analysis_id])


def live_session_state(session: LiveSession) -> dict:
    """What the page and the API show about a session's progress (the "state" message)."""
    stopped = session.state == LiveSession.State.STOPPED
    return {
        "type": "state",
        "session": session.pk,
        "state": session.state,
        "label": session.get_state_display(),
        "message": session.state_message,
        "frames_received": session.frames_received,
        "frames_analysed": session.frames_analysed,
        "frames_dropped": session.frames_dropped,
        "report_url": report_url(session) if stopped else "",
    }


def masked_stream_url(url: str) -> str:
    """A stream URL as pages and the API show it: any password replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit
    parts = urlsplit(url or "")
    if parts.password is None:
        return url or ""
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
