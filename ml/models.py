"""Model registry, datasets, evaluations, bias audits, training runs and tuning runs.

Evaluations, bias audits, training runs and tuning runs are jobs: they share the site's one job
base and status vocabulary (`JobStatus` is re-exported here for the code that reads ml rows).
"""
from pathlib import PurePath

from django.conf import settings
from django.db import models
from django.db.models import Q

from emo7ion_site.core.jobs import Job, JobStatus
from ml.engine.datasets import SPLIT_ALIASES

__all__ = ["BiasAudit", "Dataset", "Evaluation", "JobStatus", "ModelActivation", "ModelVersion", "TrainingRun",
           "TrainingStatus", "TuningRun", "classes_without_faces", "data_name_for_path",
           "named_split"]

# FER2013's own names for its splits (the Usage column of the original CSV).
FER2013_SPLIT_NAMES = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}


def data_name_for_path(path: str | None) -> str:
    """What a page calls data read from a server path: never the path itself (it tells a reader
    nothing and an attacker something), but the folder's or file's own name. A split folder is
    named with its set ("FER2013 PublicTest", "ckplus val")."""
    if not path:
        return ""
    pure = PurePath(str(path).rstrip("/\\"))
    split = SPLIT_ALIASES.get(pure.name.lower())
    if split and pure.parent.name.lower() == "fer2013":
        return named_split(pure.parent.name, split)
    return f"{pure.parent.name} {pure.name}" if split and pure.parent.name else pure.name


def classes_without_faces(metrics: dict, labels: list[str]) -> list[str]:
    """The model's classes with no face in an evaluation's data (none when it has no per-class table)."""
    per_class = metrics.get("per_class") or {}
    if not any("support" in (row or {}) for row in per_class.values()):
        return []  # no counts recorded: nothing to say
    return [label for label in labels if not (per_class.get(label) or {}).get("support")]


def named_split(set_name: str, split: str) -> str:
    """A split of a named set: "FER2013 PublicTest" (FER2013's own name), else "<set> <split>"."""
    if set_name.lower() == "fer2013" and split in FER2013_SPLIT_NAMES:
        return f"FER2013 {FER2013_SPLIT_NAMES[split]}"
    return f"{set_name} {split}"


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

    @property
    def source_name(self) -> str:
        """The imported folder's or uploaded file's own name (pages never show server paths)."""
        if self.source_path:
            return data_name_for_path(self.source_path)
        return PurePath(self.file.name).name if self.file else ""


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
    # The one evaluation reports, the model card and the API quote (issue 14): recorded when the
    # version was trained or registered, or at its promotion; never simply the latest evaluation,
    # which may be on a set of other faces or classes.
    reference_evaluation = models.ForeignKey("Evaluation", null=True, blank=True, on_delete=models.SET_NULL,
                                             related_name="+")
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
    class RecordedFrom(models.TextChoices):
        EVALUATION = "evaluation", "An evaluation someone ran"
        TRAINING = "training", "Recorded when the version was trained or registered"

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="evaluations")
    # Only evaluations someone ran count for promotion; one recorded with the training is the
    # version's own validation, kept as its reference.
    recorded_from = models.CharField(max_length=10, choices=RecordedFrom.choices, default=RecordedFrom.EVALUATION)
    dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="evaluations")
    data_path = models.CharField(max_length=500, blank=True)
    split = models.CharField(max_length=10, blank=True)
    tta = models.BooleanField(default=False, help_text="Horizontal-flip test-time augmentation")
    faces = models.CharField(max_length=8, default="auto", help_text="auto | detect | whole")
    metrics = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)

    @property
    def data_name(self) -> str:
        return self.dataset.name if self.dataset_id else data_name_for_path(self.data_path or self.metrics.get("data"))

    @property
    def missing_classes(self) -> list[str]:
        """The model's classes that have no face in the evaluated data: its accuracy and balanced
        accuracy say nothing about them (a 6-class posed set has no neutral face)."""
        return classes_without_faces(self.metrics, self.model_version.labels)


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

    @property
    def data_name(self) -> str:
        return self.dataset.name if self.dataset_id else data_name_for_path(self.data_path)


class TrainingStatus(models.TextChoices):
    """The job statuses, and `paused`: a run that stopped at its time budget (`max_minutes`) with a
    complete checkpoint. It is neither finished nor failed: resuming it continues the same run."""

    QUEUED = JobStatus.QUEUED.value, JobStatus.QUEUED.label
    RUNNING = JobStatus.RUNNING.value, JobStatus.RUNNING.label
    PAUSED = "paused", "Paused (resumable)"
    SUCCEEDED = JobStatus.SUCCEEDED.value, JobStatus.SUCCEEDED.label
    FAILED = JobStatus.FAILED.value, JobStatus.FAILED.label
    CANCELLED = JobStatus.CANCELLED.value, JobStatus.CANCELLED.label


class TrainingRun(Job):
    status = models.CharField(max_length=12, choices=TrainingStatus.choices, default=TrainingStatus.QUEUED,
                              db_index=True)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="training_runs")
    config = models.JSONField(default=dict)  # config["folds"] >= 2: a k-fold cross-validation of the recipe
    history = models.JSONField(default=list, blank=True)
    # A k-fold run's per-fold metrics and their mean ± sd (ml.engine.crossval); it registers no version.
    cross_validation = models.JSONField(default=dict, blank=True)
    log = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)
    # `heartbeat_at` (Job) is touched when the run starts and after every epoch: the watchdog and a
    # second delivery of its task can tell a live run from one whose worker died.
    model_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="training_runs")

    @property
    def is_cross_validation(self) -> bool:
        return (self.config.get("folds") or 0) >= 2


class TuningRun(Job):
    """A KerasTuner search (ml.engine.tuning) over dropout, widths, dense units and learning rate,
    with a budget of trials x epochs; its best hyper-parameters can start a training run."""

    class Algorithm(models.TextChoices):
        HYPERBAND = "hyperband", "Hyperband"
        RANDOM = "random", "Random search"

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="tuning_runs")
    val_dataset = models.ForeignKey(Dataset, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    algorithm = models.CharField(max_length=10, choices=Algorithm.choices, default=Algorithm.RANDOM)
    max_trials = models.IntegerField(default=6)
    epochs_per_trial = models.IntegerField(default=5)
    batch_size = models.IntegerField(default=128)
    limit_per_class = models.IntegerField(null=True, blank=True)
    seed = models.IntegerField(default=7)
    trials = models.JSONField(default=list, blank=True)   # one row per finished trial
    best = models.JSONField(default=dict, blank=True)     # the best trial's row
    log = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)  # heartbeat_at (Job): after every epoch of a trial
    best_training_run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL,
                                          related_name="+", help_text="The run started with the best trial")
