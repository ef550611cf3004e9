"""Model registry, datasets, evaluations, bias audits and training runs.

Evaluations, bias audits and training runs are jobs: they share the site's one job base and
status vocabulary (`JobStatus` is re-exported here for the code that reads ml rows).
"""
from django.conf import settings
from django.db import models
from django.db.models import Q

from emo7ion_site.core.jobs import Job, JobStatus

__all__ = ["BiasAudit", "Dataset", "Evaluation", "JobStatus", "ModelActivation", "ModelVersion", "TrainingRun"]


class Dataset(models.Model):
    class Kind(models.TextChoices):
        TRAINING = "training", "Training (labelled)"
        AUDIT = "audit", "Audit (with group attributes)"

    class Status(models.TextChoices):
        READY = "ready", "Ready"
        REJECTED = "rejected", "Rejected"

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TRAINING)
    file = models.FileField(upload_to="datasets/", max_length=500, blank=True)
    source_path = models.CharField(max_length=500, blank=True, help_text="A server-side path imported in place")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    error = models.TextField(blank=True)
    format = models.CharField(max_length=20, blank=True)   # class_folders | fer_csv | manifest
    content_hash = models.CharField(max_length=64, blank=True)
    n_images = models.IntegerField(default=0)
    labelled = models.BooleanField(default=True)
    class_counts = models.JSONField(default=dict, blank=True)
    split_counts = models.JSONField(default=dict, blank=True)
    attributes = models.JSONField(default=dict, blank=True)  # attribute -> {group: count}
    skipped_labels = models.JSONField(default=dict, blank=True)
    # Files that are not decodable images, kept (when the importer was told to skip them) so the
    # stats page says exactly what was left out.
    unreadable_files = models.JSONField(default=list, blank=True)
    # A few 48x48 faces per class as base64 PNG, made at import: the stats page never re-reads the set.
    samples = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class ModelVersion(models.Model):
    name = models.CharField(max_length=120, unique=True)
    file = models.CharField(max_length=500, help_text="Path of the .keras file (metadata JSON beside it)")
    sha256 = models.CharField(max_length=64)
    architecture = models.CharField(max_length=40, blank=True)
    labels = models.JSONField(default=list)
    metadata = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)   # validation metrics from training
    is_active = models.BooleanField(default=False)
    is_default_shipped = models.BooleanField(default=False)
    training_dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True),
                                               name="exactly_one_active_model_version")]

    def __str__(self) -> str:
        return self.name


class ModelActivation(models.Model):
    """Who activated (or rolled back to) which version, and when."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="activations")
    previous = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")
    is_rollback = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]


class Evaluation(Job):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations")
    data_path = models.CharField(max_length=500, blank=True)
    split = models.CharField(max_length=10, blank=True)
    tta = models.BooleanField(default=False, help_text="Horizontal-flip test-time augmentation")
    faces = models.CharField(max_length=8, default="auto", help_text="auto | detect | whole")
    metrics = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)


class BiasAudit(Job):
    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="bias_audits")
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="bias_audits")
    data_path = models.CharField(max_length=500, blank=True)
    attributes = models.JSONField(default=list, blank=True)
    gap_threshold = models.FloatField(default=0.10)
    ratio_threshold = models.FloatField(default=0.80)
    min_group_size = models.IntegerField(default=20)
    faces = models.CharField(max_length=8, default="auto", help_text="auto | detect | whole")
    detector = models.CharField(max_length=16, blank=True)
    result = models.JSONField(default=dict, blank=True)
    verdict = models.CharField(max_length=20, blank=True)  # pass | flagged
    log = models.TextField(blank=True)


class TrainingRun(Job):
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="training_runs")
    config = models.JSONField(default=dict)
    history = models.JSONField(default=list, blank=True)
    log = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    # Touched when the run starts and after every epoch: a redelivered task (e.g. Redis'
    # visibility timeout on a long run) can tell a live run from one whose worker died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="training_runs")
