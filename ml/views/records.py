"""Pages of the ML records: datasets, model versions (with their reference evaluation, calibration
and the evaluations on other sets), evaluations and bias audits."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from emo7ion_site.uploads import size_limit_message, stopped_upload

from .. import figures, selectors, services
from ..forms import BiasAuditForm, DatasetUploadForm, EvaluationForm
from .common import form_page, page_figures, staff_required, start_from_form


@staff_required
def index(request):
    return render(request, "ml/index.html", {
        "active": selectors.model_versions_list().filter(is_active=True).first(),
        "versions": selectors.model_versions_list()[:10],
        "datasets": selectors.datasets_list()[:10],
        "runs": selectors.training_runs_list()[:10],
        "tuning_runs": selectors.tuning_runs_list()[:10],
        "evaluations": selectors.evaluations_list()[:10],
        "audits": selectors.bias_audits_list()[:10],
        "activations": selectors.activations_list()[:10],
    })


# --- datasets

@staff_required
def dataset_list(request):
    return render(request, "ml/dataset_list.html", {"datasets": selectors.datasets_list()})


@staff_required
def dataset_upload(request):
    form = DatasetUploadForm(request.POST or None, request.FILES or None)
    stopped = stopped_upload(request)  # known once the body is parsed, as it is above
    if stopped:
        form.add_error("file", size_limit_message(stopped.size_bytes))
    started = start_from_form(
        request, form, lambda d: services.dataset_import(
            path_or_file=d["file"], name=d["name"], kind=d["kind"] or None, created_by=request.user,
            skip_invalid=d["skip_invalid"]),
        done="Dataset {obj.name} imported: {obj.n_images:,} images.", detail_url="ml:dataset_detail",
        refused=services.DatasetImportError)
    return started or form_page(request, "ml/dataset_upload.html", {"form": form})


@staff_required
def dataset_detail(request, pk: int):
    dataset = selectors.dataset_get(pk)
    figs = {}
    if dataset.labelled and any(dataset.class_counts.values()):
        figs["class_balance"] = figures.class_balance(dataset.class_counts)
    if dataset.attributes:
        figs["attributes"] = figures.attribute_counts(dataset.attributes)
    return render(request, "ml/dataset_detail.html", {
        "dataset": dataset, "figures": page_figures(**figs),
        "runs": dataset.training_runs.select_related("model_version")[:20],
        "evaluations": dataset.evaluations.select_related("model_version")[:20],
        "audits": dataset.bias_audits.select_related("model_version")[:20],
    })


# --- model versions

@staff_required
def model_version_list(request):
    versions = selectors.model_versions_list()
    return render(request, "ml/model_version_list.html", {
        "rows": [(mv, selectors.model_version_reference(mv)) for mv in versions],
        "activations": selectors.activations_list()[:30]})


def _metrics_figures(metrics: dict, labels: list[str], **more) -> str:
    """Per-class bars, the confusion matrix and (when measured) the reliability diagram of a set of
    metrics, plus any other figures of the page."""
    figs = dict(more)
    if metrics.get("per_class"):
        figs["per_class"] = figures.per_class_metrics(metrics["per_class"])
    if metrics.get("confusion_matrix"):
        figs["confusion"] = figures.confusion_heatmap(metrics["confusion_matrix"], metrics.get("labels") or labels)
    if metrics.get("reliability"):
        figs["reliability"] = figures.reliability_diagram(metrics["reliability"], metrics.get("ece"))
    return page_figures(**figs)


@login_required
def model_version_detail(request, pk: int):
    mv = selectors.model_version_get(pk)
    reference = selectors.model_version_reference(mv)
    metrics = reference["metrics"] if reference else {}
    history = (mv.metadata.get("training") or {}).get("history") or []
    metadata = selectors.public_metadata(mv.metadata)
    return render(request, "ml/model_version_detail.html", {
        "mv": mv, "reference": reference, "metrics": metrics,
        "figures": _metrics_figures(metrics, mv.labels, curves=figures.training_curves(history) if history else None),
        "history": history, "training": metadata.get("training") or {}, "calibration": metadata.get("calibration"),
        "inference": metadata.get("inference") or {}, "crop": metadata.get("crop") or {},
        "offsets": list(zip(mv.labels, (metadata.get("calibration") or {}).get("logit_offsets") or [])),
        "evaluations": selectors.other_evaluations(mv), "audits": selectors.bias_audits_for(mv),
        "activations": mv.activations.select_related("activated_by", "previous")[:20],
        "blockers": services.promotion_blockers(mv), "can_manage": request.user.is_staff,
    })


@staff_required
@require_POST
def model_version_activate(request, pk: int):
    mv = selectors.model_version_get(pk)
    try:
        services.model_version_activate(model_version=mv, by=request.user)
    except services.PromotionRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{mv.name} is now the active model for new analyses.")
    return redirect("ml:model_version_detail", pk=pk)


@staff_required
@require_POST
def model_version_rollback(request):
    try:
        mv = services.model_version_rollback(by=request.user)
    except services.PromotionRefused as exc:
        messages.error(request, str(exc))
        return redirect("ml:model_version_list")
    messages.success(request, f"Rolled back: {mv.name} is active again.")
    return redirect("ml:model_version_detail", pk=mv.pk)


# --- evaluations

@staff_required
def evaluation_new(request):
    initial = {"model_version": request.GET.get("model")} if request.GET.get("model") else None
    form = EvaluationForm(request.POST or None, initial=initial)
    started = start_from_form(
        request, form, lambda d: services.evaluation_run(
            model_version=d["model_version"], dataset=d["dataset"], split=d["split"], tta=d["tta"],
            faces=d["faces"], created_by=request.user),
        done="Evaluation {obj.pk} queued.", detail_url="ml:evaluation_detail")
    return started or form_page(request, "ml/evaluation_form.html", {"form": form})


@login_required
def evaluation_detail(request, pk: int):
    ev = selectors.evaluation_get(pk)
    return render(request, "ml/evaluation_detail.html", {
        "ev": ev, "figures": _metrics_figures(ev.metrics, ev.model_version.labels),
        "is_reference": ev.model_version.reference_evaluation_id == ev.pk, "can_manage": request.user.is_staff})


# --- bias audits

@staff_required
def bias_audit_new(request):
    initial = {"model_version": request.GET.get("model")} if request.GET.get("model") else None
    form = BiasAuditForm(request.POST or None, initial=initial)
    started = start_from_form(
        request, form, lambda d: services.bias_audit_run(
            model_version=d["model_version"], dataset=d["dataset"], attributes=d["attribute_list"],
            gap_threshold=d["gap_threshold"], ratio_threshold=d["ratio_threshold"],
            min_group_size=d["min_group_size"], created_by=request.user),
        done="Bias audit {obj.pk} queued.", detail_url="ml:bias_audit_detail")
    return started or form_page(request, "ml/bias_audit_form.html", {"form": form})


@login_required
def bias_audit_detail(request, pk: int):
    audit = selectors.bias_audit_get(pk)
    result = audit.result or {}
    labels = result.get("labels") or list(audit.model_version.labels)
    sections, figs = [], {}
    if result.get("attributes"):
        figs["parity_overview"] = figures.parity_differences(result)
    for i, (attr, entry) in enumerate((result.get("attributes") or {}).items()):
        figs[f"parity_{i}"] = figures.predicted_share_parity(attr, entry, labels)
        if result.get("labelled"):
            figs[f"accuracy_{i}"] = figures.group_accuracy(attr, entry, result.get("gap_threshold", audit.gap_threshold))
            figs[f"recall_{i}"] = figures.group_recall_heatmap(attr, entry, labels)
        sections.append({"index": i, "attribute": attr, "entry": entry,
                         "groups": [{"name": g, **m, "compared": g in entry.get("compared_groups", []),
                                     "recalls": [m["per_class_recall"].get(label) for label in labels],
                                     "shares": [m["predicted_shares"].get(label) for label in labels]}
                                    for g, m in entry["groups"].items()],
                         "parity": [entry.get("parity_difference", {}).get(label) for label in labels],
                         "recall_gaps": [entry.get("per_class_recall_gap", {}).get(label) for label in labels]})
    return render(request, "ml/bias_audit_detail.html", {
        "audit": audit, "result": result, "sections": sections, "figures": page_figures(**figs), "labels": labels,
        "can_manage": request.user.is_staff})


@login_required
@require_GET
def job_status(request, kind: str, pk: int):
    """Polled by evaluation and audit pages while the job runs (training and tuning have their own,
    with their charts)."""
    get = {"evaluation": selectors.evaluation_get, "audit": selectors.bias_audit_get}.get(kind)
    if get is None:
        raise PermissionDenied
    job = get(pk)
    data = selectors.job_status(job)
    if not request.user.is_staff:
        data.pop("log")
    return JsonResponse(data)
