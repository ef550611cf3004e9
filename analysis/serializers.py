"""API representations of projects, footage, analyses, timeline buckets and observations."""
from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from emo7ion_site.api_common import MyOrganisationField
from emo7ion_site.uploads import size_limit_message
from ml.engine.labels import EMOTIONS
from ml.models import ModelVersion

from . import selectors
from .models import Analysis, FaceObservation, Footage, Project, TimelineBucket


class ProjectSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    footage_count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Project
        fields = ["id", "organisation", "name", "description", "footage_count", "created_at"]
        read_only_fields = ["id", "organisation", "footage_count", "created_at"]


class ProjectCreateSerializer(serializers.Serializer):
    organisation = MyOrganisationField()
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ProjectUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class FootageSerializer(serializers.ModelSerializer):
    project = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = Footage
        fields = ["id", "project", "original_name", "kind", "status", "rejection_reason", "size_bytes", "sha256",
                  "duration_s", "fps", "frame_count", "width", "height", "created_at", "file_deleted_at"]
        read_only_fields = fields


class FootageUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="A video or still image")

    def validate_file(self, value):
        if value.size > settings.EMO7ION_MAX_UPLOAD_BYTES:
            raise serializers.ValidationError(size_limit_message(value.size))
        return value


class DirectUploadStartSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=255, help_text='The file\'s name, e.g. "event.mp4"')
    size_bytes = serializers.IntegerField(min_value=1, help_text="The file's exact size in bytes")
    content_type = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    # The size limit is the service's rule (analysis.direct_upload); its error names this field too.


class UploadPartSerializer(serializers.Serializer):
    part_number = serializers.IntegerField(min_value=1)
    size = serializers.IntegerField(required=False)
    url = serializers.CharField(required=False)
    etag = serializers.CharField(required=False)


class DirectUploadPlanSerializer(serializers.Serializer):
    footage = FootageSerializer()
    strategy = serializers.ChoiceField(choices=["s3_post", "s3_multipart", "server"])
    url = serializers.CharField(allow_blank=True)
    fields = serializers.DictField(child=serializers.CharField())
    upload_id = serializers.CharField(allow_blank=True)
    part_size = serializers.IntegerField()
    parts = UploadPartSerializer(many=True)
    chunk_size = serializers.IntegerField()
    expires_in = serializers.IntegerField()
    complete_url = serializers.CharField()
    detail = serializers.CharField()


class DirectUploadCompleteSerializer(serializers.Serializer):
    upload_id = serializers.CharField(required=False, allow_blank=True, default="",
                                      help_text="For a multipart upload: the upload_id the plan gave")
    parts = serializers.ListField(child=serializers.DictField(), required=False,
                                  help_text="Optional: [{part_number, etag}]; listed from storage when left out")


class UploadProgressSerializer(serializers.Serializer):
    received_bytes = serializers.IntegerField()
    size_bytes = serializers.IntegerField(allow_null=True)


class AnalysisSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="footage.project_id", read_only=True)
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)

    class Meta:
        model = Analysis
        fields = ["id", "kind", "footage", "project", "model_version", "model_version_name", "detector", "sample_fps",
                  "status", "progress", "error", "segment_count", "segments_done", "summary",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields


@extend_schema_field(OpenApiTypes.INT)
class _MyFootage(serializers.PrimaryKeyRelatedField):
    def get_queryset(self):
        return selectors.footage_for(self.context["request"].user)


class AnalysisCreateSerializer(serializers.Serializer):
    footage = _MyFootage(help_text="Id of ready footage in one of your projects")
    detector = serializers.CharField(required=False, allow_blank=True, max_length=16,
                                     help_text="yunet or haar; the server's default when left out")
    sample_fps = serializers.FloatField(required=False, allow_null=True,
                                        help_text="Frames analysed per second of footage")
    model_version = serializers.PrimaryKeyRelatedField(
        queryset=ModelVersion.objects.all(),
        required=False, allow_null=True, help_text="The active model version when left out")


class TimelineBucketSerializer(serializers.ModelSerializer):
    class Meta:
        model = TimelineBucket
        fields = ["index", "t_start", "t_end", "frames", "faces", "mean_faces_per_frame", "unique_tracks",
                  "emotion_counts", "emotion_shares", "mean_probabilities"]
        read_only_fields = fields


class TimelineSerializer(serializers.Serializer):
    analysis = serializers.IntegerField()
    status = serializers.CharField()
    labels = serializers.ListField(child=serializers.CharField())
    buckets = TimelineBucketSerializer(many=True)


class ObservationSerializer(serializers.ModelSerializer):
    probabilities = serializers.SerializerMethodField()

    class Meta:
        model = FaceObservation
        fields = ["t", "frame_index", "track_id", "x", "y", "w", "h", "detector_score", "top_emotion",
                  "probabilities"]
        read_only_fields = fields

    def get_probabilities(self, obs) -> dict[str, float]:
        return {e: getattr(obs, f"p_{e}") for e in EMOTIONS}
