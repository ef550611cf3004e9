"""Django admin for every ml model, with list filters and search. Activation goes through the
promotion rules (ml.services), never by ticking is_active."""
from django.contrib import admin, messages

from . import services
from .models import BiasAudit, Dataset, Evaluation, ModelActivation, ModelVersion, TrainingRun, TuningRun


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "format", "status", "n_images", "labelled", "created_at")
    list_filter = ("kind", "format", "status", "labelled")
    search_fields = ("name", "source_path", "content_hash")
    readonly_fields = ("content_hash", "class_counts", "split_counts", "attributes", "skipped_labels",
                       "unreadable_files", "created_at")
    exclude = ("samples",)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ("name", "architecture", "is_active", "is_default_shipped", "reference_evaluation", "created_at")
    list_filter = ("is_active", "is_default_shipped", "architecture")
    search_fields = ("name", "sha256", "file")
    readonly_fields = ("is_active", "sha256", "created_at")
    actions = ["activate"]

    @admin.action(description="Activate (needs a succeeded evaluation and bias audit)")
    def activate(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one version to activate.", messages.ERROR)
            return
        try:
            mv = services.model_version_activate(model_version=queryset.get(), by=request.user)
        except services.PromotionRefused as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, f"{mv.name} is active.", messages.SUCCESS)


@admin.register(ModelActivation)
class ModelActivationAdmin(admin.ModelAdmin):
    list_display = ("created_at", "model_version", "previous", "activated_by", "is_rollback", "note")
    list_filter = ("is_rollback", "model_version")
    search_fields = ("model_version__name", "previous__name", "activated_by__username", "note")

    def has_change_permission(self, request, obj=None):
        return False  # a log: read-only


class _JobAdmin(admin.ModelAdmin):
    list_filter = ("status",)
    readonly_fields = ("created_at", "started_at", "finished_at")


@admin.register(TrainingRun)
class TrainingRunAdmin(_JobAdmin):
    list_display = ("id", "dataset", "status", "progress", "model_version", "created_by", "created_at")
    list_filter = ("status", "cancel_requested", "dataset")
    search_fields = ("dataset__name", "model_version__name", "error", "log")


@admin.register(Evaluation)
class EvaluationAdmin(_JobAdmin):
    list_display = ("id", "model_version", "data_name", "split", "recorded_from", "status", "created_at")
    list_filter = ("status", "recorded_from", "split", "tta", "model_version")
    search_fields = ("model_version__name", "dataset__name", "data_path", "error")


@admin.register(BiasAudit)
class BiasAuditAdmin(_JobAdmin):
    list_display = ("id", "model_version", "data_name", "status", "verdict", "created_at")
    list_filter = ("status", "verdict", "model_version")
    search_fields = ("model_version__name", "dataset__name", "data_path", "error")


@admin.register(TuningRun)
class TuningRunAdmin(_JobAdmin):
    list_display = ("id", "dataset", "algorithm", "max_trials", "epochs_per_trial", "status", "progress", "created_at")
    list_filter = ("status", "algorithm", "cancel_requested", "dataset")
    search_fields = ("dataset__name", "error", "log")
