"""Tuning run pages: start a KerasTuner search, follow its trials, cancel it, train with the best."""
from __future__ import annotations

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from .. import figures, selectors, services
from ..forms import TrainBestForm, TuningRunForm
from .common import after_cancel, form_page, live_status, page_figures, staff_required, start_from_form


@staff_required
def tuning_list(request):
    form = TuningRunForm(request.POST or None)
    started = start_from_form(
        request, form, lambda d: services.tuning_run_start(
            dataset=d["dataset"], val_dataset=d["val_dataset"], algorithm=d["algorithm"],
            max_trials=d["max_trials"], epochs_per_trial=d["epochs_per_trial"], batch_size=d["batch_size"],
            limit_per_class=d["limit_per_class"], created_by=request.user),
        done="Tuning run {obj.pk} queued.", detail_url="ml:tuning_detail")
    return started or form_page(request, "ml/tuning_list.html",
                                {"form": form, "runs": selectors.tuning_runs_list()[:100]})


@staff_required
def tuning_detail(request, pk: int):
    run = selectors.tuning_run_get(pk)
    best_trial = (run.best or {}).get("trial")
    return render(request, "ml/tuning_detail.html", {
        "run": run, "status": selectors.job_status(run), "train_form": TrainBestForm(),
        "trials": [{**t, "is_best": t.get("trial") == best_trial} for t in run.trials],
        "figures": page_figures(trials=figures.tuning_trials(run.trials)),
    })


@staff_required
@require_GET
def tuning_status(request, pk: int):
    run = selectors.tuning_run_get(pk)
    return live_status(run, figure=figures.tuning_trials(run.trials))


@staff_required
@require_POST
def tuning_cancel(request, pk: int):
    run = services.tuning_run_cancel(run=selectors.tuning_run_get(pk), by=request.user)
    return after_cancel(request, run, "ml:tuning_detail", "search")


@staff_required
@require_POST
def tuning_train_best(request, pk: int):
    run = selectors.tuning_run_get(pk)
    form = TrainBestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Epochs must be a whole number between 1 and 1000.")
        return redirect("ml:tuning_detail", pk=pk)
    try:
        training = services.tuning_run_train_best(run=run, epochs=form.cleaned_data["epochs"], created_by=request.user)
    except services.JobRefused as exc:
        messages.error(request, str(exc))
        return redirect("ml:tuning_detail", pk=pk)
    messages.success(request, f"Training run {training.pk} queued with the best trial's hyper-parameters.")
    return redirect("ml:training_detail", pk=training.pk)
