"""API v1: projects, footage (upload and direct upload), analyses, timelines, observations and moments.

Views parse, ask the base mixin for the object (tenancy + role), call a service or selector, and
render. Nothing here decides who may see what.
"""
from dataclasses import asdict

from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from accounts.permissions import ANALYSE, MANAGE_PROJECTS, UPLOAD, VIEW
from emo7ion_site.api_common import OrganisationScopedMixin
from emo7ion_site.uploads import size_limit_message, stopped_upload
from ml.engine.labels import EMOTIONS
from reports.exports import observations_csv_response  # the one CSV writer, shared with the report pages

from . import direct_upload, selectors, services
from .filters import AnalysisFilter, FootageFilter, ObservationFilter, ProjectFilter
from .models import Analysis, FaceObservation, Footage, Project
from .serializers import (AnalysisCreateSerializer, AnalysisSerializer, DirectUploadCompleteSerializer,
                          DirectUploadPlanSerializer, DirectUploadStartSerializer, FootageSerializer,
                          FootageUploadSerializer, MomentComparisonSerializer, MomentCreateSerializer,
                          MomentSerializer, ObservationSerializer, ProjectComparisonSerializer,
                          ProjectCreateSerializer, ProjectSerializer, ProjectUpdateSerializer, TimelineSerializer,
                          UploadProgressSerializer)


class ProjectViewSet(OrganisationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    """Projects of your organisations."""

    org_path = selectors.PROJECT_ORG
    serializer_class = ProjectSerializer
    filterset_class = ProjectFilter
    ordering_fields = ["created_at", "name"]
    upload_actions = ("footage", "footage_uploads")
    action_permissions = {
        "list": VIEW, "retrieve": VIEW, "create": MANAGE_PROJECTS, "partial_update": MANAGE_PROJECTS,
        "destroy": MANAGE_PROJECTS, "footage": {"get": VIEW, "post": UPLOAD}, "footage_uploads": UPLOAD,
        "comparison": VIEW,
    }

    def get_base_queryset(self):
        return (Project.objects.select_related("organisation")
                .annotate(footage_count=Count("footage", distinct=True)).order_by("-created_at", "-pk"))

    def _refetched(self, project: Project) -> dict:
        return ProjectSerializer(self.get_base_queryset().get(pk=project.pk)).data

    @extend_schema(request=ProjectCreateSerializer, responses={201: ProjectSerializer})
    def create(self, request):
        serializer = ProjectCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        organisation = serializer.validated_data["organisation"]
        self.require_role(organisation, MANAGE_PROJECTS)
        project = services.project_create(organisation=organisation, name=serializer.validated_data["name"],
                                          description=serializer.validated_data["description"],
                                          created_by=request.user)
        return Response(self._refetched(project), status=status.HTTP_201_CREATED)

    @extend_schema(request=ProjectUpdateSerializer, responses=ProjectSerializer)
    def partial_update(self, request, pk=None):
        project = self.get_object()
        serializer = ProjectUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.project_update(project=project, **serializer.validated_data)
        return Response(self._refetched(project))

    def destroy(self, request, pk=None):
        """Delete the project with its footage (stored files included), analyses and results."""
        services.project_delete(project=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["GET"], responses=FootageSerializer(many=True), filters=False)
    @extend_schema(methods=["POST"], request={"multipart/form-data": FootageUploadSerializer},
                   responses={201: FootageSerializer},
                   description="Upload a file through this server (small files, local storage). The "
                               "answer's `status` is `ready`, or `rejected` with a `rejection_reason`.")
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser, FormParser],
            filterset_class=None, ordering_fields=["created_at"])
    def footage(self, request, pk=None):
        project = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(Footage.objects.filter(project=project).order_by("-created_at"))
            return self.get_paginated_response(FootageSerializer(page, many=True).data)
        data = request.data  # parsing first: the size-limit upload handler flags an oversized body
        stopped = stopped_upload(request)  # DRF passes unknown attributes to the HttpRequest
        if stopped:
            raise ValidationError({"file": [size_limit_message(stopped.size_bytes)]})
        serializer = FootageUploadSerializer(data=data)
        serializer.is_valid(raise_exception=True)
        footage = services.footage_create_from_upload(project=project, uploaded_file=serializer.validated_data["file"],
                                                      uploaded_by=request.user)
        return Response(FootageSerializer(footage).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=DirectUploadStartSerializer, responses={201: DirectUploadPlanSerializer},
                   description="Start a direct upload: the answer says where to send the bytes (a presigned "
                               "S3 POST, presigned multipart part URLs, or, with local storage, this "
                               "server's chunk URL), then POST to `complete_url`.")
    @action(detail=True, methods=["post"], url_path="footage/uploads", parser_classes=[JSONParser])
    def footage_uploads(self, request, pk=None):
        project = self.get_object()
        serializer = DirectUploadStartSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        footage, plan = direct_upload.direct_upload_start(
            project=project, uploaded_by=request.user, **serializer.validated_data,
            content_url_for=lambda f: request.build_absolute_uri(reverse("api:footage-content", args=[f.pk])))
        body = {"footage": FootageSerializer(footage).data, **asdict(plan),
                "complete_url": request.build_absolute_uri(reverse("api:footage-complete", args=[footage.pk]))}
        return Response(body, status=status.HTTP_201_CREATED)


    @extend_schema(responses=ProjectComparisonSerializer, filters=False)
    @action(detail=True, methods=["get"], filterset_class=None)
    def comparison(self, request, pk=None):
        """The project's footage side by side, as on its report page: the latest succeeded analysis of each
        footage, in upload order, with its crowd statistics over the whole footage (each a 95% interval over
        face tracks), and each against the footage before it: difference, two-sided permutation-test p-value
        over tracks, and `flagged` when the intervals separate and p < 0.05."""
        return Response(ProjectComparisonSerializer(selectors.project_comparison(self.get_object())).data)


class FootageViewSet(OrganisationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                     viewsets.GenericViewSet):
    """Footage of your organisations' projects."""

    org_path = selectors.FOOTAGE_ORG
    serializer_class = FootageSerializer
    filterset_class = FootageFilter
    ordering_fields = ["created_at", "original_name", "size_bytes"]
    action_permissions = {"list": VIEW, "retrieve": VIEW, "complete": UPLOAD, "content": UPLOAD}

    def get_base_queryset(self):
        return Footage.objects.select_related("project__organisation")

    @extend_schema(request=DirectUploadCompleteSerializer, responses=FootageSerializer)
    @action(detail=True, methods=["post"], parser_classes=[JSONParser])
    def complete(self, request, pk=None):
        """Finish a direct upload: the server reads what arrived and marks the footage ready, or rejected
        with a reason. Completing footage that is no longer uploading returns it unchanged."""
        footage = self.get_object()
        serializer = DirectUploadCompleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        footage = direct_upload.direct_upload_complete(footage=footage, **serializer.validated_data)
        return Response(FootageSerializer(footage).data)

    @extend_schema(request={"application/octet-stream": OpenApiTypes.BINARY}, responses=UploadProgressSerializer,
                   parameters=[OpenApiParameter("Content-Range", str, OpenApiParameter.HEADER, required=False,
                                                description="bytes <first>-<last>/<total>")])
    @action(detail=True, methods=["put"])
    def content(self, request, pk=None):
        """Local storage only: one chunk of the file's bytes, in order (see the upload plan)."""
        footage = self.get_object()
        received = direct_upload.footage_upload_chunk(
            footage=footage, stream=request.stream, content_length=int(request.META.get("CONTENT_LENGTH") or 0),
            content_range=request.META.get("HTTP_CONTENT_RANGE"))
        return Response({"received_bytes": received, "size_bytes": footage.size_bytes})


class ObservationCSVRenderer(BaseRenderer):
    """Lets content negotiation accept `?format=csv` (or Accept: text/csv) on observations. The view
    streams the rows itself, and errors are always JSON, so this never renders a body."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        raise NotImplementedError("observations stream their CSV themselves")


@extend_schema_view(create=extend_schema(request=AnalysisCreateSerializer, responses={201: AnalysisSerializer}))
class AnalysisViewSet(OrganisationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    """Analyses of your organisations' footage: status, progress, summary and results."""

    org_path = selectors.ANALYSIS_ORG
    serializer_class = AnalysisSerializer
    filterset_class = AnalysisFilter
    ordering_fields = ["created_at", "finished_at", "status"]
    action_permissions = {"list": VIEW, "retrieve": VIEW, "create": ANALYSE, "cancel": ANALYSE,
                          "timeline": VIEW, "observations": VIEW, "moments": {"get": VIEW, "post": ANALYSE},
                          "moment": ANALYSE, "moment_comparison": VIEW}

    def get_base_queryset(self):
        return Analysis.objects.select_related("footage__project__organisation", "model_version")

    def create(self, request):
        serializer = AnalysisCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        footage = data["footage"]
        self.require_role(footage.project.organisation, ANALYSE)
        analysis = services.analysis_create(footage=footage, created_by=request.user,
                                            model_version=data.get("model_version"), detector=data.get("detector"),
                                            sample_fps=data.get("sample_fps"))
        return Response(AnalysisSerializer(self.get_base_queryset().get(pk=analysis.pk)).data,
                        status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: AnalysisSerializer, 409: OpenApiTypes.OBJECT})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Stop a queued or running analysis (running segments stop between batches)."""
        analysis = self.get_object()
        if analysis.status != Analysis.Status.CANCELLED:
            services.analysis_cancel(analysis=analysis, by=request.user)
            analysis.refresh_from_db()
        if analysis.status != Analysis.Status.CANCELLED:
            return Response({"detail": f"The analysis already {analysis.status}; there is nothing to cancel."},
                            status=status.HTTP_409_CONFLICT)
        return Response(AnalysisSerializer(analysis).data)

    @extend_schema(responses=TimelineSerializer)
    @action(detail=True, methods=["get"], filterset_class=None)
    def timeline(self, request, pk=None):
        """Time buckets with face counts and emotion shares, each share's 95% interval over face tracks
        (empty with too few tracks), the share facing the camera (attention; null without head poses, e.g.
        the Haar detector) and the valence/arousal derived from the expression probabilities, with their
        intervals; empty until the analysis succeeded."""
        analysis = self.get_object()
        return Response(TimelineSerializer({"analysis": analysis.pk, "status": analysis.status,
                                            "labels": list(EMOTIONS),
                                            "buckets": selectors.timeline_for(analysis)}).data)

    @extend_schema(
        responses={(200, "application/json"): ObservationSerializer(many=True),
                   (200, "text/csv"): OpenApiTypes.STR},
        parameters=[OpenApiParameter("id", int, OpenApiParameter.PATH, description="The analysis")],
        description="One row per face per sampled frame, in time order, with its head pose (yaw, pitch in "
                    "degrees; null when the detector gave no landmarks). Filter with t_min/t_max (seconds), "
                    "track and emotion; `?format=csv` streams every matching row as CSV (no paging).")
    @action(detail=True, methods=["get"], filterset_class=ObservationFilter, ordering_fields=["t", "track_id"],
            renderer_classes=[JSONRenderer, ObservationCSVRenderer],
            queryset=FaceObservation.objects.none())  # the schema documents the observation filters
    def observations(self, request, pk=None):
        analysis = self.get_object()
        queryset = self.filter_queryset(selectors.observations_for(analysis))
        if request.accepted_renderer.format == "csv":
            return observations_csv_response(queryset, f"analysis-{analysis.pk}-observations.csv")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ObservationSerializer(page, many=True).data)

    @extend_schema(methods=["GET"], responses=MomentSerializer(many=True), filters=False)
    @extend_schema(methods=["POST"], request=MomentCreateSerializer, responses={201: MomentSerializer})
    @action(detail=True, methods=["get", "post"], filterset_class=None, parser_classes=[JSONParser])
    def moments(self, request, pk=None):
        """Moments: named time ranges marked on a succeeded analysis ("Opening act", "Q&A"), in time order,
        each with its crowd statistics (shares, attention, derived valence/arousal, each with a 95% interval
        over face tracks). POST marks one: `name` unique within the analysis, `t_start` >= 0 and `t_end` after
        it, within the footage (seconds); at most 12 per analysis."""
        analysis = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.moment_comparison(analysis)["moments"])
            return self.get_paginated_response(MomentSerializer(page, many=True).data)
        serializer = MomentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        moment = services.moment_create(analysis=analysis, created_by=request.user, **serializer.validated_data)
        body = selectors.moment_comparison(analysis, [moment])["moments"][0]
        return Response(MomentSerializer(body).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None},
                   parameters=[OpenApiParameter("moment_id", int, OpenApiParameter.PATH, description="The moment")])
    @action(detail=True, methods=["delete"], url_path=r"moments/(?P<moment_id>\d+)", filterset_class=None)
    def moment(self, request, pk=None, moment_id=None):
        """Delete a moment."""
        analysis = self.get_object()
        services.moment_delete(moment=get_object_or_404(selectors.moments_for(analysis), pk=moment_id))
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(responses=MomentComparisonSerializer)
    @action(detail=True, methods=["get"], url_path="moments/comparison", filterset_class=None)
    def moment_comparison(self, request, pk=None):
        """The moments side by side: each one's statistics, and for every pair each number's difference
        (second - first), its two-sided permutation-test p-value over face tracks, and `flagged` when the
        two 95% intervals separate and p < 0.05. Nothing else counts as a difference."""
        analysis = self.get_object()
        comparison = selectors.moment_comparison(analysis)
        return Response(MomentComparisonSerializer({**comparison, "analysis": analysis.pk}).data)
