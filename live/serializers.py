"""API representations of live sessions and photo scores."""
from __future__ import annotations

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from analysis.selectors import projects_for
from ml.engine.labels import EMOTIONS

from .models import LiveSession
from .selectors import live_worker_alive, masked_stream_url, report_url


@extend_schema_field(OpenApiTypes.INT)
class _MyProject(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return projects_for(self.context["request"].user)


class LiveSessionSerializer(serializers.ModelSerializer):
    analysis = serializers.IntegerField(source="analysis_id", read_only=True)
    project = serializers.IntegerField(source="analysis.footage.project_id", read_only=True)
    stream_url = serializers.SerializerMethodField()
    analysis_status = serializers.CharField(source="analysis.status", read_only=True)
    worker_running = serializers.SerializerMethodField()
    report_url = serializers.SerializerMethodField()

    class Meta:
        model = LiveSession
        fields = ["id", "analysis", "project", "source", "stream_url", "setting", "setting_note", "consent_confirmed",
                  "target_fps", "state", "state_message", "analysis_status", "frames_received", "frames_analysed",
                  "frames_dropped", "last_frame_at", "started_at", "stopped_at", "worker_running", "report_url"]
        read_only_fields = fields

    def get_stream_url(self, session) -> str:
        return masked_stream_url(session.stream_url)

    def get_worker_running(self, session) -> bool:
        return live_worker_alive()

    def get_report_url(self, session) -> str:
        """The report page, once the session stopped and its report is stored; empty before."""
        return report_url(session) if session.state == LiveSession.State.STOPPED else ""


class LiveSessionStartSerializer(serializers.Serializer):
    project = _MyProject(help_text="Id of one of your projects")
    stream_url = serializers.CharField(max_length=2000, help_text="rtsp://, rtsps://, or http(s):// MJPEG or HLS")
    setting = serializers.ChoiceField(choices=LiveSession.Setting.choices,
                                      help_text="Where the camera is; prohibited settings are refused with the reason")
    setting_note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    consent_confirmed = serializers.BooleanField(required=False, default=False,
                                                 help_text="Required for research: the people filmed consented")
    target_fps = serializers.FloatField(required=False, allow_null=True,
                                        help_text=f"Frames analysed per second ({settings.EMO7ION_LIVE_DEFAULT_FPS:g} "
                                                  "when left out)")
    detector = serializers.CharField(required=False, allow_blank=True, max_length=16)


class PhotoRequestSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="A photo (JPEG, PNG, WebP)")
    url = serializers.CharField(required=False, allow_blank=True, max_length=2000, help_text="Or the photo's https URL")
    detector = serializers.CharField(required=False, allow_blank=True, max_length=16)
    annotated = serializers.BooleanField(required=False, default=False,
                                         help_text="Also return the photo with faces blurred and boxed (a data: URL)")


class _BoxSerializer(serializers.Serializer):
    x = serializers.IntegerField()
    y = serializers.IntegerField()
    w = serializers.IntegerField()
    h = serializers.IntegerField()


class _FaceSerializer(serializers.Serializer):
    box = _BoxSerializer()
    detector_score = serializers.FloatField()
    emotion = serializers.CharField(help_text=f"The most probable expression: one of {', '.join(EMOTIONS)}")
    probabilities = serializers.DictField(child=serializers.FloatField(), help_text="The seven emotions' probabilities")


class PhotoScoreSerializer(serializers.Serializer):
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    face_count = serializers.IntegerField()
    labels = serializers.ListField(child=serializers.CharField())
    faces = _FaceSerializer(many=True)
    emotion_shares = serializers.DictField(child=serializers.FloatField())
    detector = serializers.CharField()
    model_version = serializers.CharField()
    seconds = serializers.FloatField()
    annotated_image = serializers.CharField(required=False, help_text="data:image/jpeg;base64,…")
