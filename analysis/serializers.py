"""API representations of projects, footage, analyses, timeline buckets, observations and moments."""
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
    file = serializers.FileField(help_text="A video or still image", allow_empty_file=True)  # kept on record, refused

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


class EstimateSerializer(serializers.Serializer):
    value = serializers.FloatField(allow_null=True)
    interval = serializers.ListField(child=serializers.FloatField(), allow_null=True, min_length=2, max_length=2,
                                     help_text="95% [low, high] from a bootstrap over face tracks; null with too "
                                               "few tracks")
    tracks = serializers.IntegerField(help_text="face tracks the estimate rests on")


class AttentionSerializer(EstimateSerializer):
    observations_with_pose = serializers.IntegerField(
        help_text="observations with a head pose; 0: not available (the Haar detector gives no landmarks)")


class ValenceTrendSerializer(serializers.Serializer):
    early = serializers.FloatField(allow_null=True, help_text="mean derived valence, first half of the footage")
    late = serializers.FloatField(allow_null=True, help_text="mean derived valence, second half")
    change = serializers.FloatField(allow_null=True, help_text="late - early")
    interval = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    direction = serializers.ChoiceField(choices=["rising", "falling", "no clear change"], allow_null=True)


class StrongestMomentSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["highest_valence", "lowest_valence"])
    index = serializers.IntegerField(help_text="timeline bucket index")
    t_start = serializers.FloatField()
    t_end = serializers.FloatField()
    valence = serializers.FloatField()
    valence_interval = serializers.ListField(child=serializers.FloatField(), allow_null=True)
    attention = serializers.FloatField(allow_null=True)
    attention_interval = serializers.ListField(child=serializers.FloatField(), allow_null=True)


class EngagementSerializer(serializers.Serializer):
    frames_with_faces = serializers.IntegerField()
    face_time_share = serializers.FloatField(allow_null=True, help_text="share of sampled frames with >= 1 face")
    attention = AttentionSerializer()
    valence_trend = ValenceTrendSerializer()
    strongest_moments = StrongestMomentSerializer(many=True)


class CrowdStatisticsSerializer(serializers.Serializer):
    """What finalize stored in `summary.statistics` (ml.engine.crowd)."""

    tracks = serializers.IntegerField(help_text="face tracks (the bootstrap's unit: people, not frames)")
    intervals = serializers.DictField(child=serializers.ListField(child=serializers.FloatField()),
                                      help_text="expression or group (positive, negative) -> 95% [low, high] of its "
                                                "share; empty with too few tracks")
    too_few_tracks = serializers.BooleanField()
    attention = AttentionSerializer(help_text="share of observations with a head pose that face the camera")
    valence = EstimateSerializer(help_text="derived from the seven expression probabilities, not measured")
    arousal = EstimateSerializer(help_text="derived from the seven expression probabilities, not measured")
    engagement = EngagementSerializer()
    method = serializers.DictField(help_text="resamples, level, unit, min_tracks, seed")


class AnalysisSerializer(serializers.ModelSerializer):
    project = serializers.IntegerField(source="footage.project_id", read_only=True)
    model_version_name = serializers.CharField(source="model_version.name", read_only=True)
    statistics = serializers.SerializerMethodField(
        help_text="Crowd statistics with 95% intervals over face tracks, attention, derived valence/arousal and "
                  "the engagement summary; null until the analysis succeeded (or when finalized before they existed)")

    class Meta:
        model = Analysis
        fields = ["id", "kind", "footage", "project", "model_version", "model_version_name", "detector", "sample_fps",
                  "status", "progress", "error", "segment_count", "segments_done", "summary", "statistics",
                  "created_at", "started_at", "finished_at"]
        read_only_fields = fields

    @extend_schema_field(CrowdStatisticsSerializer(allow_null=True))
    def get_statistics(self, analysis) -> dict | None:
        return (analysis.summary or {}).get("statistics")


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


def _interval_field(what: str) -> serializers.ListField:
    return serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2, allow_null=True,
                                 read_only=True, help_text=f"95% [low, high] of the {what}, from a bootstrap over "
                                                           "face tracks; null with too few tracks")


class TimelineBucketSerializer(serializers.ModelSerializer):
    intervals = serializers.DictField(child=serializers.ListField(child=serializers.FloatField()), read_only=True,
                                      help_text="expression or group (positive, negative) -> 95% [low, high] of "
                                                "its share; empty when too_few_tracks")
    attention_interval = _interval_field("share facing the camera")
    valence_interval = _interval_field("derived valence")
    arousal_interval = _interval_field("derived arousal")

    class Meta:
        model = TimelineBucket
        fields = ["index", "t_start", "t_end", "frames", "faces", "mean_faces_per_frame", "unique_tracks",
                  "emotion_counts", "emotion_shares", "mean_probabilities", *TimelineBucket.STATISTICS_FIELDS]
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
                  "probabilities", "yaw", "pitch"]
        read_only_fields = fields

    def get_probabilities(self, obs) -> dict[str, float]:
        return {e: getattr(obs, f"p_{e}") for e in EMOTIONS}


# --- Moments: named time ranges a user marks on an analysis, compared side by side ---------------------


class GroupStatisticsSerializer(serializers.Serializer):
    """Crowd statistics of a group of face tracks (a moment, or a whole analysis): ml.engine.comparison."""

    tracks = serializers.IntegerField(help_text="face tracks seen in the range (the bootstrap's unit)")
    observations = serializers.IntegerField(help_text="face observations in the range")
    too_few_tracks = serializers.BooleanField(help_text="fewer tracks than an interval needs: no intervals")
    shares = serializers.DictField(child=EstimateSerializer(),
                                   help_text="expression or group (positive, negative) -> its share of the "
                                             "observations with a 95% interval over face tracks")
    attention = AttentionSerializer(help_text="share of observations with a head pose that face the camera")
    valence = EstimateSerializer(help_text="derived from the seven expression probabilities, not measured")
    arousal = EstimateSerializer(help_text="derived from the seven expression probabilities, not measured")


class MomentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    analysis = serializers.IntegerField()
    name = serializers.CharField()
    t_start = serializers.FloatField(help_text="seconds from the start of the footage")
    t_end = serializers.FloatField(help_text="seconds from the start of the footage; the range is [t_start, t_end)")
    created_at = serializers.DateTimeField()
    statistics = GroupStatisticsSerializer()


class MomentCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text='e.g. "Opening act"; unique within the analysis')
    t_start = serializers.FloatField(help_text="seconds from the start of the footage, >= 0")
    t_end = serializers.FloatField(help_text="seconds from the start of the footage, after t_start and within "
                                             "the footage")


class DifferenceSerializer(serializers.Serializer):
    metric = serializers.CharField(help_text="an expression, positive, negative, attention, valence or arousal")
    difference = serializers.FloatField(allow_null=True, help_text="second - first")
    p_value = serializers.FloatField(allow_null=True, help_text="two-sided permutation test over face tracks")
    separated = serializers.BooleanField(help_text="the two 95% intervals do not overlap")
    flagged = serializers.BooleanField(help_text="separated, and p_value < 0.05")


class PairDifferencesSerializer(serializers.Serializer):
    first = serializers.IntegerField(help_text="id of the first of the pair")
    second = serializers.IntegerField(help_text="id of the second of the pair")
    metrics = DifferenceSerializer(many=True)
    flagged = serializers.ListField(child=serializers.CharField(), help_text="the metrics flagged")


class MomentComparisonSerializer(serializers.Serializer):
    analysis = serializers.IntegerField()
    names = serializers.ListField(child=serializers.CharField(), help_text="the metrics compared, in order")
    moments = MomentSerializer(many=True)
    differences = PairDifferencesSerializer(many=True, help_text="every pair of moments (first, second: moment ids)")
    method = serializers.DictField(allow_null=True,
                                   help_text="resamples, permutations, level, alpha, unit, min_tracks, seed")


class AnalysisStatisticsSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="the analysis")
    footage = serializers.IntegerField()
    footage_name = serializers.CharField()
    statistics = GroupStatisticsSerializer()


class ProjectComparisonSerializer(serializers.Serializer):
    project = serializers.IntegerField()
    names = serializers.ListField(child=serializers.CharField(), help_text="the metrics compared, in order")
    analyses = AnalysisStatisticsSerializer(many=True, help_text="the latest succeeded analysis of each footage, "
                                                                 "in upload order")
    differences = PairDifferencesSerializer(many=True, help_text="each analysis against the one before it "
                                                                 "(first, second: analysis ids)")
    method = serializers.DictField(allow_null=True,
                                   help_text="resamples, permutations, level, alpha, unit, min_tracks, seed")
