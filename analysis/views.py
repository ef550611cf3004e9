"""Pages. Thin: parse, check permission (through the selectors, which go through
accounts.tenancy: another organisation's object is a 404), call a service, render."""
from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import ANALYSE, MANAGE_PROJECTS, UPLOAD, role_allows
from accounts.tenancy import memberships_of, role_in
from emo7ion_site.uploads import stopped_upload

from . import selectors, services
from .forms import AnalysisStartForm, FootageUploadForm, ProjectForm
from .models import Footage


def _wants_json(request: HttpRequest) -> bool:
    return (request.headers.get("x-requested-with") == "XMLHttpRequest"
            or "application/json" in request.headers.get("accept", ""))


def _message_of(exc: ValidationError) -> str:
    return " ".join(exc.messages)


@login_required
@require_GET
def dashboard(request):
    return render(request, "analysis/dashboard.html", {
        "memberships": memberships_of(request.user),
        "projects": selectors.projects_for(request.user)[:12],
        "analyses": selectors.analyses_for(request.user)[:10],
    })


@login_required
@require_http_methods(["GET", "POST"])
def project_list(request):
    creatable_in = selectors.organisations_for(request.user, MANAGE_PROJECTS)
    form = ProjectForm(request.POST or None, organisations=creatable_in) if creatable_in else None
    if request.method == "POST":
        if form is None:
            raise PermissionDenied("Your role does not allow creating projects in any organisation.")
        if form.is_valid():
            project = services.project_create(organisation=form.cleaned_data["organisation"],
                                              name=form.cleaned_data["name"],
                                              description=form.cleaned_data["description"], created_by=request.user)
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("project-detail", pk=project.pk)
    return render(request, "analysis/project_list.html", {
        "projects": selectors.projects_for(request.user), "form": form})


def _project_context(request, project) -> dict:
    role = role_in(request.user, project.organisation_id)
    footage = list(project.footage.all())
    return {
        "project": project,
        "role": role,
        "footage_list": footage,
        "ready_footage": [f for f in footage if f.status == Footage.Status.READY and f.file],
        "analyses": selectors.project_analyses(project),
        "can_upload": role_allows(role, UPLOAD),
        "can_analyse": role_allows(role, ANALYSE),
        "upload_form": FootageUploadForm(),
        "max_upload_bytes": settings.EMO7ION_MAX_UPLOAD_BYTES,
        "start_form": AnalysisStartForm(auto_id=False),  # one per footage row: no duplicate ids
    }


@login_required
@require_GET
def project_detail(request, pk):
    project = selectors.project_get(request.user, pk)
    return render(request, "analysis/project_detail.html", _project_context(request, project))


@login_required
@require_GET
def project_status(request, pk):
    """What the project page polls: every analysis's status and progress."""
    project = selectors.project_get(request.user, pk)
    return JsonResponse({"analyses": [selectors.analysis_status(a) for a in selectors.project_analyses(project)]})


@login_required
@require_POST
def footage_upload(request, pk):
    project = selectors.project_get(request.user, pk, action=UPLOAD)
    form = FootageUploadForm(request.POST, request.FILES)
    stopped = stopped_upload(request)  # known once the body is parsed, as it is above
    if stopped:
        footage = services.footage_record_oversized_upload(project=project, original_name=stopped.name,
                                                           size_bytes=stopped.size_bytes, uploaded_by=request.user)
        return _upload_answer(request, project, footage)
    if not form.is_valid():
        error = " ".join(e for errs in form.errors.values() for e in errs)
        if _wants_json(request):
            return JsonResponse({"error": error or "Choose a file to upload."}, status=400)
        messages.error(request, error or "Choose a file to upload.")
        return redirect("project-detail", pk=project.pk)
    footage = services.footage_create_from_upload(project=project, uploaded_file=form.cleaned_data["file"],
                                                  uploaded_by=request.user)
    return _upload_answer(request, project, footage)


def _upload_answer(request, project, footage):
    if _wants_json(request):
        return JsonResponse({"id": footage.pk, "name": footage.original_name, "status": footage.status,
                             "rejection_reason": footage.rejection_reason,
                             "project_url": reverse("project-detail", args=[project.pk])},
                            status=201 if footage.status == Footage.Status.READY else 422)
    if footage.status == Footage.Status.READY:
        messages.success(request, f"{footage.original_name} uploaded and ready to analyse.")
    else:
        messages.error(request, f"{footage.original_name} was rejected: {footage.rejection_reason}")
    return redirect("project-detail", pk=project.pk)


@login_required
@require_POST
def analysis_start(request, pk):
    footage = selectors.footage_get(request.user, pk, action=ANALYSE)
    form = AnalysisStartForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect("project-detail", pk=footage.project_id)
    try:
        analysis = services.analysis_create(footage=footage, created_by=request.user,
                                            detector=form.cleaned_data["detector"],
                                            sample_fps=form.cleaned_data["sample_fps"])
    except ValidationError as exc:
        messages.error(request, _message_of(exc))
        return redirect("project-detail", pk=footage.project_id)
    messages.success(request, f"Analysis of {footage.original_name} queued.")
    return redirect("analysis-detail", pk=analysis.pk)


@login_required
@require_GET
def analysis_status(request, pk):
    """The one progress endpoint: what every page polls for one analysis (analysis.selectors.analysis_status)."""
    analysis = selectors.analysis_get(request.user, pk)
    return JsonResponse(selectors.analysis_status(analysis))


@login_required
@require_POST
def analysis_cancel(request, pk):
    analysis = selectors.analysis_get(request.user, pk, action=ANALYSE)
    if services.analysis_cancel(analysis=analysis, by=request.user):
        messages.success(request, "Analysis cancelled.")
    else:
        messages.info(request, f"The analysis had already ended ({analysis.get_status_display().lower()}).")
    if _wants_json(request):
        return JsonResponse(selectors.analysis_status(analysis))
    return redirect("analysis-detail", pk=analysis.pk)
