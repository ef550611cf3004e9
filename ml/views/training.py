"""Training run pages: start (one model or a k-fold cross-validation), follow, cancel, resume."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import figures, selectors, services
from ..forms import TrainingRunForm
from ..models import TrainingRun
from .common import after_cancel, form_page, live_status, page_figures, staff_required, start_from_form


def _run_figure(run: TrainingRun):
    """What the run page draws live: the folds' scores for a cross-validation, else the curves."""
    if run.is_cross_validation:
        return figures.crossval_folds(run.cross_validation, title=f"{run.config['folds']}-fold cross-validation")
    return figures.training_curves(run.history)


@staff_required
def training_list(request):
    form = TrainingRunForm(request.POST or None)
    started = start_from_form(
        request, form, lambda d: services.training_run_start(dataset=d["dataset"], config=form.config(),
                                                             created_by=request.user),
        done="Training run {obj.pk} queued.", detail_url="ml:training_detail")
    return started or form_page(request, "ml/training_list.html",
                                {"form": form, "runs": selectors.training_runs_list()[:100]})


@staff_required
def training_detail(request, pk: int):
    run = selectors.training_run_get(pk)
    cv = run.cross_validation or {}
    summary = cv.get("summary") or {}
    return render(request, "ml/training_detail.html", {
        "run": run, "status": selectors.job_status(run), "cv": cv,
        "summary_rows": [{"name": name, **summary[key]} for key, name in (
            ("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("macro_f1", "macro-F1"))
            if key in summary],
        "recall_rows": sorted((summary.get("recall") or {}).items()),
        "figures": page_figures(curves=figures.training_curves(run.history),
                                crossval=_run_figure(run) if run.is_cross_validation else None),
    })


@staff_required
@require_GET
def training_status(request, pk: int):
    run = selectors.training_run_get(pk)
    return live_status(run, figure=figures.training_curves(run.history),
                       crossval_figure=_run_figure(run) if run.is_cross_validation else None)


@staff_required
@require_POST
def training_cancel(request, pk: int):
    run = services.training_run_cancel(run=selectors.training_run_get(pk), by=request.user)
    return after_cancel(request, run, "ml:training_detail", "run")


@staff_required
@require_POST
def training_resume(request, pk: int):
    try:
        run = services.training_run_resume(run=selectors.training_run_get(pk), by=request.user)
    except services.JobRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Training run {run.pk} queued to resume after epoch {len(run.history)}.")
    return redirect("ml:training_detail", pk=pk)
