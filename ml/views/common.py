"""What every ML page shares: the staff-only guard, the page's figures as one JSON object, and how a
form that starts a job answers (queued, or the refusal on the form)."""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render

from emo7ion_site.plotting import figures_json

from .. import selectors, services


def staff_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not request.user.is_staff:
            raise PermissionDenied("Only platform administrators manage models and datasets.")
        return view(request, *args, **kwargs)
    return wrapper


def page_figures(**figs) -> str:
    """All of a page's figures as one JSON object (id -> figure) for templates/ml/_charts.html."""
    figs = {name.replace("_", "-"): fig for name, fig in figs.items() if fig is not None}
    return figures_json(figs) if figs else ""


def live_status(job, **figures) -> JsonResponse:
    """What a run page polls: the job's status and its live figures (`<name>` -> Plotly JSON)."""
    data = selectors.job_status(job)
    data.update({name: fig.to_plotly_json() for name, fig in figures.items() if fig is not None})
    return JsonResponse(data, json_dumps_params={"default": str})


def after_cancel(request, job, detail_url: str, what: str):
    """Say what cancelling did (at once, or after the current epoch) and go back to the job's page."""
    messages.info(request, "Cancelled." if job.status == "cancelled" else
                  f"Cancel requested: the {what} stops after its current epoch.")
    return redirect(detail_url, pk=job.pk)


def start_from_form(request, form, start, *, done: str, detail_url: str, refused=services.JobRefused):
    """A POSTed, valid form that starts something: `start(form.cleaned_data)` and a redirect to the new
    object's page, with `done` (formatted with it as `obj`) as the message. None otherwise, with a
    refusal (`refused`: the service's error for a job it will not start) shown on the form."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        obj = start(form.cleaned_data)
    except refused as exc:
        form.add_error(None, str(exc))
        return None
    messages.success(request, done.format(obj=obj))
    return redirect(detail_url, pk=obj.pk)


def form_page(request, template: str, context: dict):
    """The page of a form (`context["form"]`): 400 when it was sent with errors, so clients and tests can tell."""
    return render(request, template, context, status=400 if context["form"].errors else 200)
