"""API v1: model versions (activation by platform admins), datasets, evaluations and bias audits.

These are platform records, not organisation-owned: every member reads them (a report names the
model that made it, with its accuracy and audit); only platform admins (staff) change them.
"""
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from emo7ion_site.api_common import PlatformRecordsMixin
from emo7ion_site.uploads import size_limit_message, stopped_upload

from . import selectors, services
from .filters import BiasAuditFilter, DatasetFilter, EvaluationFilter, ModelVersionFilter
from .serializers import (ActivateSerializer, BiasAuditCreateSerializer, BiasAuditSerializer,
                          DatasetCreateSerializer, DatasetSerializer, EvaluationCreateSerializer,
                          EvaluationSerializer, ModelVersionDetailSerializer, ModelVersionSerializer)


class _PlatformViewSet(PlatformRecordsMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                       viewsets.GenericViewSet):
    """Read by members, changed by platform admins (the mixin's permission)."""


class ModelVersionViewSet(_PlatformViewSet):
    """Emotion model versions, with their validation metrics; exactly one is active."""

    filterset_class = ModelVersionFilter
    ordering_fields = ["created_at", "name"]

    def get_base_queryset(self):
        return (selectors.model_versions_list().prefetch_related("activations__activated_by")
                .order_by("-created_at", "-pk"))

    def get_serializer_class(self):
        return ModelVersionDetailSerializer if self.action != "list" else ModelVersionSerializer

    @extend_schema(request=ActivateSerializer, responses=ModelVersionDetailSerializer,
                   description="Platform admins only. Refused (400) unless the version has a succeeded "
                               "evaluation and a succeeded bias audit. Running analyses keep their version.")
    @action(detail=True, methods=["post"])
    def activate(self, request, pk=None):
        model_version = self.get_object()
        serializer = ActivateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.model_version_activate(model_version=model_version, by=request.user,
                                        note=serializer.validated_data["note"])
        return Response(ModelVersionDetailSerializer(self.get_base_queryset().get(pk=model_version.pk)).data)

    @extend_schema(request=None, responses=ModelVersionDetailSerializer,
                   description="Platform admins only. Reactivate the version that was active before the current one.")
    @action(detail=False, methods=["post"])
    def rollback(self, request):
        model_version = services.model_version_rollback(by=request.user)
        return Response(ModelVersionDetailSerializer(self.get_base_queryset().get(pk=model_version.pk)).data)


class DatasetViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, _PlatformViewSet):
    """Datasets for training, evaluation and bias audits."""

    serializer_class = DatasetSerializer
    filterset_class = DatasetFilter
    ordering_fields = ["created_at", "name", "n_images"]
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def get_base_queryset(self):
        return selectors.datasets_list()

    @extend_schema(request={"multipart/form-data": DatasetCreateSerializer}, responses={201: DatasetSerializer},
                   description="Platform admins only. The file is validated by content; a refused set is a 400 "
                               "that says why, and nothing is kept.")
    def create(self, request, *args, **kwargs):
        data = request.data  # parsing first: the size-limit upload handler flags an oversized body
        stopped = stopped_upload(request)  # DRF passes unknown attributes to the HttpRequest
        if stopped:
            raise ValidationError({"file": [size_limit_message(stopped.size_bytes)]})
        serializer = DatasetCreateSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        dataset = services.dataset_import(path_or_file=data["file"], name=data["name"], kind=data["kind"] or None,
                                          created_by=request.user)
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.dataset_delete(dataset=instance)


class EvaluationViewSet(mixins.CreateModelMixin, _PlatformViewSet):
    """Evaluations of model versions on labelled datasets (run by a worker)."""

    serializer_class = EvaluationSerializer
    filterset_class = EvaluationFilter
    ordering_fields = ["created_at", "finished_at"]

    def get_base_queryset(self):
        return selectors.evaluations_list()

    @extend_schema(request=EvaluationCreateSerializer, responses={201: EvaluationSerializer},
                   description="Platform admins only. Queues the evaluation; poll it for status and metrics.")
    def create(self, request, *args, **kwargs):
        serializer = EvaluationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        evaluation = services.evaluation_run(created_by=request.user, **serializer.validated_data)
        return Response(EvaluationSerializer(evaluation).data, status=status.HTTP_201_CREATED)


class BiasAuditViewSet(mixins.CreateModelMixin, _PlatformViewSet):
    """Bias audits of model versions on audit sets (run by a worker)."""

    serializer_class = BiasAuditSerializer
    filterset_class = BiasAuditFilter
    ordering_fields = ["created_at", "finished_at"]

    def get_base_queryset(self):
        return selectors.bias_audits_list()

    @extend_schema(request=BiasAuditCreateSerializer, responses={201: BiasAuditSerializer},
                   description="Platform admins only. Queues the audit; poll it for the verdict and flags.")
    def create(self, request, *args, **kwargs):
        serializer = BiasAuditCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        audit = services.bias_audit_run(created_by=request.user, **serializer.validated_data)
        return Response(BiasAuditSerializer(audit).data, status=status.HTTP_201_CREATED)
