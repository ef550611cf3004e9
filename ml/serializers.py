"""API representations of model versions, datasets, evaluations and bias audits.

Server-side paths (model files, imported-in-place datasets) are never shown: they say nothing
useful to an integrator and something to an attacker."""
from rest_framework import serializers

from .models import BiasAudit, Dataset, Evaluation, ModelActivation, ModelVersion

JOB_FIELDS = ["status", "progress", "error", "created_at", "started_at", "finished_at"]


class EvaluationSerializer(serializers.ModelSerializer):
    dataset_name = serializers.CharField(source="dataset.name", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Evaluation
        fields = ["id", "model_version", "dataset", "dataset_name", "split", "tta", "faces", "metrics", *JOB_FIELDS]
        read_only_fields = fields


class EvaluationCreateSerializer(serializers.Serializer):
    model_version = serializers.PrimaryKeyRelatedField(queryset=ModelVersion.objects.all())
    dataset = serializers.PrimaryKeyRelatedField(queryset=Dataset.objects.all(), help_text="A labelled dataset")
    split = serializers.ChoiceField(choices=["", "train", "val", "test", "all"], required=False, default="")
    tta = serializers.BooleanField(required=False, default=False)
    faces = serializers.ChoiceField(choices=["auto", "detect", "whole"], required=False, default="auto")


class BiasAuditSerializer(serializers.ModelSerializer):
    dataset_name = serializers.CharField(source="dataset.name", read_only=True, default=None, allow_null=True)

    class Meta:
        model = BiasAudit
        fields = ["id", "model_version", "dataset", "dataset_name", "attributes", "gap_threshold", "ratio_threshold",
                  "min_group_size", "faces", "detector", "verdict", "result", *JOB_FIELDS]
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


class ModelVersionSerializer(serializers.ModelSerializer):
    training_dataset = serializers.SlugRelatedField(slug_field="name", read_only=True, allow_null=True)
    n_evaluations = serializers.IntegerField(read_only=True, help_text="Succeeded evaluations")
    n_audits = serializers.IntegerField(read_only=True, help_text="Succeeded bias audits")

    class Meta:
        model = ModelVersion
        fields = ["id", "name", "sha256", "architecture", "labels", "metrics", "is_active", "is_default_shipped",
                  "training_dataset", "n_evaluations", "n_audits", "created_at"]
        read_only_fields = fields


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

    class Meta(ModelVersionSerializer.Meta):
        fields = [*ModelVersionSerializer.Meta.fields, "metadata", "evaluations", "bias_audits", "activations"]
        read_only_fields = fields

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
