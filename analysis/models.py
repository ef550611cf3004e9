"""Projects, footage, analyses and their results."""
from django.conf import settings
from django.db import models
from django.db.models.functions import Lower

from accounts.models import Organisation
from emo7ion_site.core.jobs import FINISHED_STATUSES, Job, JobStatus
from ml.engine.labels import EMOTIONS


class Project(models.Model):
    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


def footage_upload_to(instance: "Footage", filename: str) -> str:
    # Organisation-scoped keys: one prefix per tenant makes retention and audits simple.
    return f"org-{instance.project.organisation_id}/project-{instance.project_id}/footage/{filename}"


class Footage(models.Model):
    class Status(models.TextChoices):
        UPLOADING = "uploading", "Uploading"
        READY = "ready", "Ready"
        REJECTED = "rejected", "Rejected"

    class Kind(models.TextChoices):
        VIDEO = "video", "Video"
        IMAGE = "image", "Still image"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="footage")
    original_name = models.CharField(max_length=255)
    file = models.FileField(upload_to=footage_upload_to, max_length=500, blank=True)
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.VIDEO)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADING)
    rejection_reason = models.TextField(blank=True)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    duration_s = models.FloatField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    frame_count = models.IntegerField(null=True, blank=True)
    width = models.IntegerField(null=True, blank=True)
    height = models.IntegerField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    file_deleted_at = models.DateTimeField(null=True, blank=True, help_text="Raw file removed by retention policy.")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "footage"

    def __str__(self) -> str:
        return self.original_name


class Analysis(Job):
    """One analysis of one footage: a job (status, progress, error, who and when come from `Job`)
    with the settings it ran with, its fan-out bookkeeping and, once it succeeded, its summary."""

    # The shared job vocabulary under the names the rest of the site already reads
    # (`Analysis.Status.SUCCEEDED`, `Analysis.FINISHED`); there is one enum, `JobStatus`.
    Status = JobStatus
    FINISHED = FINISHED_STATUSES

    class Kind(models.TextChoices):
        UPLOAD = "upload", "Uploaded footage"
        # Frames from a camera, analysed as they arrived and never stored; its footage row names the
        # source and has no file (live.models.LiveSession holds the rest).
        LIVE = "live", "Live session"

    footage = models.ForeignKey(Footage, on_delete=models.CASCADE, related_name="analyses")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.UPLOAD, db_index=True)
    model_version = models.ForeignKey("ml.ModelVersion", on_delete=models.PROTECT, related_name="analyses")
    detector = models.CharField(max_length=16, default="haar")
    sample_fps = models.FloatField(default=2.0)
    segment_count = models.IntegerField(default=0)
    segments_done = models.IntegerField(default=0)
    summary = models.JSONField(default=dict, blank=True)

    class Meta(Job.Meta):
        verbose_name_plural = "analyses"

    def __str__(self) -> str:
        return f"Analysis {self.pk} of {self.footage}"


class AnalysisSegment(models.Model):
    """Per-segment bookkeeping for the fan-out: one row per time slice of the footage."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="segments")
    index = models.IntegerField()
    t_start = models.FloatField()
    t_end = models.FloatField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.IntegerField(default=0)
    progress = models.FloatField(default=0.0, help_text="0-1 within this segment; the Analysis row holds the mean")
    frames_analysed = models.IntegerField(default=0)
    faces_detected = models.IntegerField(default=0)
    track_count = models.IntegerField(default=0, help_text="local track ids used: 0..track_count-1")
    wall_time_s = models.FloatField(default=0.0)
    # Boxes of the segment's first and last sampled frame, keyed by local track id: finalize
    # joins tracks across segment boundaries with them (no need to reload observations).
    first_frame_boxes = models.JSONField(default=dict, blank=True)
    last_frame_boxes = models.JSONField(default=dict, blank=True)
    # t of every sampled frame, faces or not: a timeline bucket's frame count (and so its mean
    # faces per frame) must include the frames in which nobody was seen.
    frame_times = models.JSONField(default=list, blank=True)
    warning = models.TextField(blank=True, help_text="e.g. the stream stopped decoding early")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Touched every few seconds while a worker analyses the segment: one that stops means the worker
    # died (the watchdog hands the segment to another). `attempts` also names the try that owns the
    # segment: an older try that finds a newer one in its place stops without writing.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Which worker ran the latest try (its Celery node name, e.g. "celery@host-2"): with workers on
    # several hosts, where a segment ran is the first question when one host misbehaves.
    worker = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["analysis", "index"]
        constraints = [models.UniqueConstraint(fields=["analysis", "index"], name="one_row_per_segment")]


class FaceObservation(models.Model):
    """One face in one sampled frame: where, how sure, and the seven emotion probabilities."""

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="observations")
    segment_index = models.IntegerField(db_index=True)
    t = models.FloatField(help_text="seconds from the start of the footage")
    frame_index = models.IntegerField()
    track_id = models.IntegerField(help_text="face track within this footage; never an identity")
    # The track id the segment task gave (local to its segment). Finalize derives track_id from
    # it, so finalizing twice gives the same answer.
    segment_track_id = models.IntegerField(default=0)
    x = models.IntegerField()
    y = models.IntegerField()
    w = models.IntegerField()
    h = models.IntegerField()
    detector_score = models.FloatField()
    p_angry = models.FloatField()
    p_disgust = models.FloatField()
    p_fear = models.FloatField()
    p_happy = models.FloatField()
    p_sad = models.FloatField()
    p_surprise = models.FloatField()
    p_neutral = models.FloatField()
    top_emotion = models.CharField(max_length=10, choices=[(e, e) for e in EMOTIONS], db_index=True)
    # Head pose from the detector's five landmarks (ml.engine.attention), degrees: yaw > 0 turned to
    # the image's right, pitch > 0 up, (0, 0) facing the camera. None: no landmarks (Haar), no pose.
    yaw = models.FloatField(null=True, blank=True)
    pitch = models.FloatField(null=True, blank=True)

    PROB_FIELDS = tuple(f"p_{e}" for e in EMOTIONS)

    class Meta:
        ordering = ["analysis", "t", "track_id"]
        indexes = [models.Index(fields=["analysis", "t"]), models.Index(fields=["analysis", "track_id"])]


class TimelineBucket(models.Model):
    """Aggregate over a fixed time window: counts and mean probabilities per emotion."""

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="buckets")
    index = models.IntegerField()
    t_start = models.FloatField()
    t_end = models.FloatField()
    frames = models.IntegerField(default=0)
    faces = models.IntegerField(default=0, help_text="face observations in the window")
    mean_faces_per_frame = models.FloatField(default=0.0)
    unique_tracks = models.IntegerField(default=0)
    emotion_counts = models.JSONField(default=dict)   # top-emotion counts per label
    emotion_shares = models.JSONField(default=dict)   # top-emotion shares per label (0..1)
    mean_probabilities = models.JSONField(default=dict)
    # Crowd statistics (ml.engine.crowd), each interval a 95% [low, high] from a bootstrap over face
    # tracks. too_few_tracks None: stored before these statistics existed.
    intervals = models.JSONField(default=dict, blank=True,
                                 help_text="label or group -> [low, high] of its share; empty with too few tracks")
    too_few_tracks = models.BooleanField(null=True, blank=True)
    attention = models.FloatField(null=True, blank=True,
                                  help_text="share of observations with a head pose that face the camera")
    attention_interval = models.JSONField(null=True, blank=True)
    pose_observations = models.IntegerField(default=0, help_text="observations with a head pose")
    valence = models.FloatField(null=True, blank=True, help_text="derived from the expression probabilities")
    valence_interval = models.JSONField(null=True, blank=True)
    arousal = models.FloatField(null=True, blank=True, help_text="derived from the expression probabilities")
    arousal_interval = models.JSONField(null=True, blank=True)

    STATISTICS_FIELDS = ("intervals", "too_few_tracks", "attention", "attention_interval", "pose_observations",
                         "valence", "valence_interval", "arousal", "arousal_interval")

    class Meta:
        ordering = ["analysis", "index"]
        constraints = [models.UniqueConstraint(fields=["analysis", "index"], name="one_bucket_per_index")]


class Moment(models.Model):
    """A named time range a user marked on an analysis ("Opening act", "Q&A"), to compare its crowd
    statistics with the others'. Not the report's key moments (reports.selectors.moments), which are
    the windows the numbers picked; a marked moment is whatever range a person chose."""

    analysis = models.ForeignKey(Analysis, on_delete=models.CASCADE, related_name="marked_moments")
    name = models.CharField(max_length=100)
    t_start = models.FloatField(help_text="seconds from the start of the footage")
    t_end = models.FloatField(help_text="seconds from the start of the footage; the range is [t_start, t_end)")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["analysis", "t_start", "t_end", "pk"]
        constraints = [
            # "Q&A" and "q&a" are one name: the comparison names moments, so two must never read alike.
            models.UniqueConstraint(Lower("name"), "analysis", name="one_moment_name_per_analysis"),
            models.CheckConstraint(condition=models.Q(t_start__gte=0) & models.Q(t_end__gt=models.F("t_start")),
                                   name="moment_is_a_forward_range"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.t_start:g}-{self.t_end:g} s) of analysis {self.analysis_id}"
