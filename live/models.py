"""A live session: a camera (this browser's, or a stream URL) analysed as it happens.

Its results are an ordinary `analysis.Analysis` of kind `live` (observations, segments, timeline
buckets), so reports, the API, exports and webhooks work for it once it stops. Its footage row
names the source and has no file: frames are analysed in memory and never stored.
"""
from django.conf import settings
from django.db import models

from analysis.models import Analysis


class LiveSession(models.Model):
    class Source(models.TextChoices):
        BROWSER = "browser", "This browser's camera"
        STREAM = "stream", "A camera or stream URL"

    class Setting(models.TextChoices):
        """Where the camera is. Starting asks for it; prohibited ones are refused (see services)."""
        AUDIENCE = "audience", "Audience or event (concert, conference, show)"
        RESEARCH = "research", "Research with the participants' informed consent"
        EDUCATION = "education", "Education (classroom, lecture, exam)"
        WORKPLACE = "workplace", "Workplace (staff, meetings, job interviews)"
        OTHER = "other", "Other"

    class State(models.TextChoices):
        STARTING = "starting", "Starting"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        RECONNECTING = "reconnecting", "Reconnecting"
        STOPPING = "stopping", "Stopping"
        STOPPED = "stopped", "Stopped"
        FAILED = "failed", "Failed"

    ACTIVE_STATES = (State.STARTING, State.RUNNING, State.PAUSED, State.RECONNECTING, State.STOPPING)

    analysis = models.OneToOneField(Analysis, on_delete=models.CASCADE, related_name="live_session")
    source = models.CharField(max_length=8, choices=Source.choices)
    stream_url = models.CharField(max_length=2000, blank=True, help_text="rtsp://, http(s):// MJPEG or HLS")
    setting = models.CharField(max_length=12, choices=Setting.choices)
    setting_note = models.CharField(max_length=300, blank=True)
    consent_confirmed = models.BooleanField(default=False)
    target_fps = models.FloatField(default=4.0)
    state = models.CharField(max_length=12, choices=State.choices, default=State.STARTING, db_index=True)
    state_message = models.CharField(max_length=500, blank=True)
    frames_received = models.IntegerField(default=0)
    frames_analysed = models.IntegerField(default=0)
    frames_dropped = models.IntegerField(default=0, help_text="older frames replaced by a newer one (latest wins)")
    last_frame_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Live session {self.pk} ({self.get_source_display()})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES
