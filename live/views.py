"""Live pages: start a session (with its setting), the live page itself, pause/resume/stop, photo scoring.
Thin: parse, check permission through the selectors (another organisation's session is a 404), call a
service, render."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import ANALYSE, role_allows
from accounts.tenancy import role_in
from analysis.selectors import project_get
from emo7ion_site.plotting import EMOTION_COLOURS
from ml.engine.labels import EMOTIONS

from . import selectors, services
from .forms import LiveStartForm
from .models import LiveSession


def _wants_json(request) -> bool:
    return (request.headers.get("x-requested-with") == "XMLHttpRequest"
            or "application/json" in request.headers.get("accept", ""))


@login_required
@require_http_methods(["GET", "POST"])
def live_start(request, pk):
    project = project_get(request.user, pk, ANALYSE)
    organisation = project.organisation
    form = LiveStartForm(request.POST or None)
    refusal, status = "", 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            session = services.live_session_start(
                project=project, started_by=request.user, source=data["source"], setting=data["setting"],
                setting_note=data["setting_note"], consent_confirmed=data["consent_confirmed"],
                stream_url=data["stream_url"], target_fps=data["target_fps"], detector=data["detector"])
        except services.LiveRefused as exc:
            refusal, status = exc.message, 400
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
            status = 400
        else:
            return redirect("live-session", pk=session.pk)
    elif request.method == "POST":
        status = 400
    return render(request, "live/start.html", {
        "project": project, "organisation": organisation, "form": form, "refusal": refusal,
        "live_allowed": organisation.live_analysis_allowed, "prohibited": selectors.prohibited_settings(),
        "sessions": selectors.project_live_sessions(project)[:20],
    }, status=status)


ACTIONS = {"pause": services.live_session_pause, "resume": services.live_session_resume,
           "stop": services.live_session_stop}


@login_required
@require_GET
def live_session(request, pk):
    session = selectors.live_session_get(request.user, pk)
    analysis = session.analysis
    project = analysis.footage.project
    can_control = role_allows(role_in(request.user, project.organisation_id), ANALYSE)
    return render(request, "live/session.html", {
        "session": session, "project": project, "analysis": analysis, "can_control": can_control,
        "can_send": can_control and session.source == LiveSession.Source.BROWSER
        and session.created_by_id == request.user.pk,
        "stream_url": selectors.masked_stream_url(session.stream_url),
        "worker_missing": settings.EMO7ION_LIVE_WORKER == "external" and not selectors.live_worker_alive(),
        "gauge": [(e, EMOTION_COLOURS[e]) for e in EMOTIONS],
        "page_data": {
            "session": session.pk, "source": session.source, "state": selectors.live_session_state(session),
            "target_fps": session.target_fps, "ws_path": f"/ws/live/{session.pk}/",  # live.routing
            "blur_enforced": project.organisation.blur_faces, "labels": list(EMOTIONS),
            "colours": [EMOTION_COLOURS[e] for e in EMOTIONS],
            "actions": {a: reverse("live-session-action", args=[session.pk, a]) for a in ACTIONS},
            "report_url": selectors.report_url(session),
        },
    })


@login_required
@require_GET
def live_session_state(request, pk):
    session = selectors.live_session_get(request.user, pk)
    return JsonResponse({**selectors.live_session_state(session), "worker_running": selectors.live_worker_alive(),
                         "worker_ready": selectors.live_worker_ready()})


@login_required
@require_POST
def live_session_action(request, pk, action):
    if action not in ACTIONS:
        raise Http404
    session = selectors.live_session_get(request.user, pk, ANALYSE)
    ACTIONS[action](session=session, by=request.user)
    session.refresh_from_db()
    if _wants_json(request):
        return JsonResponse(selectors.live_session_state(session))
    if action == "stop":
        messages.info(request, session.state_message or "Stopping.")
    return redirect("live-session", pk=session.pk)


@login_required
@require_GET
def photo_page(request, pk):
    project = project_get(request.user, pk, ANALYSE)
    return render(request, "live/photo.html", {
        "project": project, "max_bytes": settings.EMO7ION_PHOTO_MAX_BYTES,
        "worker_missing": settings.EMO7ION_LIVE_WORKER == "external" and not selectors.live_worker_alive(),
        "page_data": {"labels": list(EMOTIONS), "colours": [EMOTION_COLOURS[e] for e in EMOTIONS],
                      "score_url": reverse("api:images"), "save_url": reverse("footage-upload", args=[project.pk]),
                      "project_url": reverse("project-detail", args=[project.pk])},
    })
