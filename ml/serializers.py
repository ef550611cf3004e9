"""API representations of model versions, datasets, evaluations and bias audits.

Server-side paths (model files, imported-in-place datasets) are never shown: they say nothing
useful to an integrator and something to an attacker."""
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from . import selectors
from .models import BiasAudit, Dataset, Evaluation, ModelActivation, ModelVersion

JOB_FIELDS = ["status", "progress", "error", "created_at", "started_at", "finished_at"]


class _NamedDataMixin:
    """The data a job read is named (the dataset's name, or the folder's own), never given as a path,
    in the row and in its result."""

    result_field = ""

    def to_representation(self, instance):
        data = super().to_representation(instance)
        result = data.get(self.result_field)
        if isinstance(result, dict) and "data" in result:
            data[self.result_field] = {**result, "data": instance.data_name}
        return data


class EvaluationSerializer(_NamedDataMixin, serializers.ModelSerializer):
    result_field = "metrics"
    dataset_name = serializers.CharField(source="dataset.name", read_only=True, default=None, allow_null=True)
    data_name = serializers.CharField(read_only=True, help_text="The dataset's name, or the evaluated folder's own")
    missing_classes = serializers.ListField(child=serializers.CharField(), read_only=True,
                                            help_text="The model's classes with no face in this data")

    class Meta:
        model = Evaluation
        fields = ["id", "model_version", "dataset", "dataset_name", "data_name", "split", "tta", "faces",
                  "recorded_from", "missing_classes", "metrics", *JOB_FIELDS]
        read_only_fields = fields


class EvaluationCreateSerializer(serializers.Serializer):
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all(), help_text="A labelled dataset")
    split = serializers.ChoiceField(choices=["", "train", "val", "test", "all"], required=False, default="")
    tta = serializers.BooleanField(required=False, default=False)
    faces = serializers.ChoiceField(choices=["auto", "detect", "whole"], required=False, default="auto")


class BiasAuditSerializer(_NamedDataMixin, serializers.ModelSerializer):
    result_field = "result"
    dataset_name = serializers.CharField(source="dataset.name", read_only=True, default=None, allow_null=True)
    data_name = serializers.CharField(read_only=True, help_text="The dataset's name, or the audited folder's own")

    class Meta:
        model = BiasAudit
        fields = ["id", "model_version", "dataset", "dataset_name", "data_name", "attributes", "gap_threshold",
                  "ratio_threshold", "min_group_size", "faces", "detector", "verdict", "result", *JOB_FIELDS]
        read_only_fields = fields


class BiasAuditCreateSerializer(serializers.Serializer):
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all(),
                                                 help_text="An audit dataset (with group attributes)")
    attributes = serializers.ListField(child=serializers.CharField(max_length=60), required=False, default=list,
                                       help_text="Attributes to audit; all of the dataset's when left out")
    gap_threshold = serializers.FloatField(required=False, default=0.10, min_value=0.0, max_value=1.0)
    ratio_threshold = serializers.FloatField(required=False, default=0.80, min_value=0.0, max_value=1.0)
    min_group_size = serializers.IntegerField(required=False, default=20, min_value=1, max_value=1_000_000)
    faces = serializers.ChoiceField(choices=["auto", "detect", "whole"], required=False, default="auto")
    detector = serializers.ChoiceField(choices=["", "yunet", "haar"], required=False, default="")


class ReferenceEvaluationSerializer(serializers.Serializer):
    """The one evaluation a version's accuracy is quoted from, on a named dataset."""

    evaluation = serializers.IntegerField(allow_null=True, help_text="Its evaluation id; null when it is only "
                                                                     "recorded in the model's metadata")
    headline = serializers.CharField(help_text='e.g. "64.1% on FER2013 PublicTest, 3,435 faces"')
    data_name = serializers.CharField()
    split = serializers.CharField(allow_blank=True)
    n = serializers.IntegerField(allow_null=True)
    accuracy = serializers.FloatField()
    balanced_accuracy = serializers.FloatField(allow_null=True)
    macro_f1 = serializers.FloatField(allow_null=True)
    ece = serializers.FloatField(allow_null=True, help_text="Expected calibration error, when measured")
    missing_classes = serializers.ListField(child=serializers.CharField(),
                                            help_text="The model's classes with no face in that data")
    recorded = serializers.CharField(help_text='"recorded at training" or "evaluation"')


class ModelVersionSerializer(serializers.ModelSerializer):
    training_dataset = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    n_evaluations = serializers.IntegerField(read_only=True, help_text="Succeeded evaluations")
    n_audits = serializers.IntegerField(read_only=True, help_text="Succeeded bias audits")
    reference_evaluation = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "sha256", "architecture", "labels", "metrics", "reference_evaluation", "is_active",
                  "is_default_shipped", "training_dataset", "n_evaluations", "n_audits", "created_at"]
        read_only_fields = fields

    @extend_schema_field(ReferenceEvaluationSerializer(allow_null=True))
    def get_reference_evaluation(self, mv) -> dict | None:
        reference = selectors.model_version_reference(mv)
        if reference is None:
            return None
        evaluation = reference["evaluation"]
        return ReferenceEvaluationSerializer({**reference, "evaluation": evaluation.pk if evaluation else None}).data


class ActivationSerializer(serializers.ModelSerializer):
    activated_by = serializers.CharField(source="activated_by.username", read_only=True, default=None,
                                         allow_null=True)
    previous = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = ModelActivation
        fields = ["previous", "activated_by", "is_rollback", "note", "created_at"]
        read_only_fields = fields


class ModelVersionDetailSerializer(ModelVersionSerializer):
    """With the training metadata, the latest evaluations and audits, and the activation log."""

    evaluations = serializers.SerializerMethodField()
    bias_audits = serializers.SerializerMethodField()
    activations = ActivationSerializer(many=True, read_only=True)

    metadata = serializers.SerializerMethodField(help_text="Labels, input size, crop, inference (TTA), "
                                                           "calibration, training configuration and history")

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "metadata", "evaluations", "bias_audits", "activations"]
        read_only_fields = fields

    def get_metadata(self, mv) -> dict:
        return selectors.public_metadata(mv.metadata)

    def get_evaluations(self, mv) -> list[dict]:
        return EvaluationSerializer(mv.evaluations.select_related("dataset").order_by("-created_at")[:10],
                                    many=True).data

    def get_bias_audits(self, mv) -> list[dict]:
        audits = mv.bias_audits.select_related("dataset").order_by("-created_at")[:10]
        return [{k: v for k, v in row.items() if k != "result"} for row in BiasAuditSerializer(audits, many=True).data]


class ActivateSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")


class DatasetSerializer(serializers.ModelSerializer):
    class Meta:
        model = Dataset
        fields = ["id", "name", "kind", "status", "error", "format", "content_hash", "n_images", "labelled",
                  "class_counts", "split_counts", "attributes", "skipped_labels", "created_at"]
        read_only_fields = fields


class DatasetCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    kind = serializers.ChoiceField(choices=["", *Dataset.Kind.values], required=False, default="",
                                   help_text="training or audit; guessed from the content when left out")
    file = serializers.FileField(help_text="A zip of class folders, a FER2013 CSV, or an audit zip with manifest.csv")
