"""Starting, pausing and stopping live sessions: the rules a session must pass, and the rows it makes.

A live session is an Analysis of kind `live` (status running while it runs) on a footage row that
names the source and has no file, plus a LiveSession with the source, setting and state. Callers
check the role (ANALYSE) through the selectors; these functions enforce the organisation's switch,
the prohibited settings and consent.
"""
from __future__ import annotations

import ipaddress
import math
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analysis.models import Analysis, Footage
from analysis.services import validate_detector
from emo7ion_site.core.exceptions import ApplicationError
from emo7ion_site.core.jobs import JobStatus
from ml import registry

from .. import messaging
from ..models import LiveSession
from ..selectors import live_session_state, live_worker_alive, masked_stream_url, prohibited_settings
from .recording import live_session_finish

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
MIN_FPS = 0.5
PROHIBITION_REASON = ("the EU AI Act (Article 5(1)(f)) prohibits emotion recognition in workplaces and education "
                      "institutions")


class LiveRefused(ApplicationError):
    """A live session that must not start (or change), with the reason a person reads."""


def setting_problem(setting: str) -> str | None:
    """Why a session in `setting` is refused on this platform, or None."""
    if setting not in LiveSession.Setting.values:
        return f"Choose the setting of this session: {', '.join(LiveSession.Setting.values)}."
    if setting in prohibited_settings():
        label = LiveSession.Setting(setting).label.split(" (")[0].lower()
        reason = PROHIBITION_REASON if setting in ("education", "workplace") else "this platform's policy"
        return (f"Live expression analysis is not allowed in this setting ({label}): {reason}. "
                "This platform refuses such sessions.")
    return None


def validate_fps(fps) -> float:
    value = settings.EMO7ION_LIVE_DEFAULT_FPS if fps in (None, "") else fps
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValidationError({"target_fps": "The frame rate must be a number of frames per second."})
    if not math.isfinite(value) or not MIN_FPS <= value <= settings.EMO7ION_LIVE_MAX_FPS:
        raise ValidationError({"target_fps": f"The frame rate must be between {MIN_FPS:g} and "
                                             f"{settings.EMO7ION_LIVE_MAX_FPS:g} frames per second."})
    return value


def validate_stream_url(url: str) -> str:
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in STREAM_SCHEMES or not parts.hostname:
        raise ValidationError({"stream_url": "Give the camera's or stream's URL: rtsp://, rtsps://, http:// or "
                                             "https:// (MJPEG or HLS)."})
    if not settings.EMO7ION_LIVE_STREAM_ALLOW_PRIVATE:
        try:
            addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, parts.port or 80)}
        except (socket.gaierror, UnicodeError):
            raise ValidationError({"stream_url": f"{parts.hostname} does not resolve."})
        if any(not ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
            raise ValidationError({"stream_url": f"{parts.hostname} is not a public address; this platform reads "
                                                 "only public streams (EMO7ION_LIVE_STREAM_ALLOW_PRIVATE)."})
    return url


def _source_name(source: str, stream_url: str) -> str:
    when = timezone.localtime().strftime("%d %b %Y %H:%M")
    if source == LiveSession.Source.STREAM:
        return f"Live: {masked_stream_url(stream_url)[:180]} ({when})"
    return f"Live: browser camera ({when})"


def live_session_start(*, project, started_by, source: str, setting: str, setting_note: str = "",
                       consent_confirmed: bool = False, stream_url: str = "", target_fps=None,
                       detector: str | None = None) -> LiveSession:
    """Refuse (LiveRefused / ValidationError) or record a running live session and wake the worker."""
    organisation = project.organisation
    if not organisation.live_analysis_allowed:
        raise LiveRefused(f"Live analysis is switched off for {organisation.name}. An owner can switch it on in "
                          "the organisation's settings.")
    problem = setting_problem(setting)
    if problem:
        raise LiveRefused(problem, extra={"setting": [problem]})
    if setting == LiveSession.Setting.RESEARCH and not consent_confirmed:
        raise LiveRefused("A research session needs the informed consent of the people on camera: confirm that "
                          "you have it.", extra={"consent_confirmed": ["Required for research sessions."]})
    if source not in LiveSession.Source.values:
        raise ValidationError({"source": f"Choose a source: {', '.join(LiveSession.Source.values)}."})
    stream_url = validate_stream_url(stream_url) if source == LiveSession.Source.STREAM else ""
    fps = validate_fps(target_fps)
    detector = validate_detector(detector)
    model_version = registry.active_model_version()
    if model_version is None:
        raise LiveRefused("No emotion model is active yet. An administrator must register one.")
    with transaction.atomic():
        footage = Footage.objects.create(project=project, original_name=_source_name(source, stream_url),
                                         status=Footage.Status.READY, kind=Footage.Kind.VIDEO, duration_s=0.0,
                                         uploaded_by=started_by)
        analysis = Analysis.objects.create(footage=footage, kind=Analysis.Kind.LIVE, model_version=model_version,
                                           detector=detector, sample_fps=fps, status=JobStatus.RUNNING,
                                           started_at=timezone.now(), created_by=started_by)
        session = LiveSession.objects.create(
            analysis=analysis, source=source, stream_url=stream_url, setting=setting,
            setting_note=(setting_note or "").strip()[:300], consent_confirmed=bool(consent_confirmed),
            target_fps=fps, created_by=started_by,
            state_message="Waiting for the first frame." if source == LiveSession.Source.BROWSER
            else "Connecting to the stream.")
        transaction.on_commit(lambda: messaging.wake_worker(session.pk))
    return session


def _change_state(session: LiveSession, state: str, from_states, message: str) -> bool:
    changed = LiveSession.objects.filter(pk=session.pk, state__in=from_states).update(state=state,
                                                                                      state_message=message)
    session.refresh_from_db()
    if changed:
        def tell():
            messaging.wake_worker(session.pk)
            messaging.publish(session.pk, live_session_state(session))
        transaction.on_commit(tell)
    return bool(changed)


def live_session_pause(*, session: LiveSession, by) -> bool:
    """Frames stop being analysed (a browser stops sending them); the session stays open."""
    S = LiveSession.State
    return _change_state(session, S.PAUSED, (S.STARTING, S.RUNNING, S.RECONNECTING),
                         f"Paused by {by.get_username()}.")


def live_session_resume(*, session: LiveSession, by) -> bool:
    S = LiveSession.State
    return _change_state(session, S.RUNNING, (S.PAUSED,), "")


def live_session_stop(*, session: LiveSession, by) -> LiveSession:
    """Ask the worker to store what is left and finalize. With no live worker running, finalize
    here (the results stored so far are complete: the worker stores them every 2 s)."""
    S = LiveSession.State
    if session.state in (S.STOPPED, S.FAILED):
        return session
    _change_state(session, S.STOPPING, (S.STARTING, S.RUNNING, S.PAUSED, S.RECONNECTING),
                  f"Stopped by {by.get_username()}; storing the report.")
    if not live_worker_alive():
        session = live_session_finish(session_id=session.pk)
        final = live_session_state(session)
        transaction.on_commit(lambda: messaging.publish(session.pk, final))
    return session
