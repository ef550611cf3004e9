"""API v1: live sessions (start a stream URL session, read its state, pause, resume, stop) and photo scores.

A live session's results are an analysis (`analysis` in the answer): once it stopped, its report,
timeline, observations and exports are at /api/v1/analyses/{analysis}/... like any other.
"""
from __future__ import annotations

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import ANALYSE, VIEW
from analysis.selectors import organisations_for
from emo7ion_site.api_common import ApiViewMixin, OrganisationScopedMixin, UploadRateThrottle

from . import services
from .models import LiveSession
from .selectors import LIVE_ORG, RELATED
from .serializers import LiveSessionSerializer, LiveSessionStartSerializer, PhotoRequestSerializer, PhotoScoreSerializer


class LiveSessionViewSet(OrganisationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                         viewsets.GenericViewSet):
    """Live sessions of your organisations' projects. Browser-camera sessions start on the live page;
    stream URL sessions (a room camera: RTSP, HTTP(S) MJPEG, HLS) can start here."""

    org_path = LIVE_ORG
    serializer_class = LiveSessionSerializer
    ordering_fields = ["started_at"]
    action_permissions = {"list": VIEW, "retrieve": VIEW, "create": ANALYSE, "pause": ANALYSE, "resume": ANALYSE,
                          "stop": ANALYSE}

    def get_base_queryset(self):
        return LiveSession.objects.select_related(*RELATED).order_by("-started_at", "-pk")

    def _answer(self, session, code=status.HTTP_200_OK) -> Response:
        return Response(LiveSessionSerializer(self.get_base_queryset().get(pk=session.pk)).data, status=code)

    @extend_schema(request=LiveSessionStartSerializer, responses={201: LiveSessionSerializer},
                   description="Start analysing a stream URL. The setting is required: a setting this platform "
                               "prohibits (by default education and workplace, EU AI Act Art. 5(1)(f)) is refused "
                               "with the reason, and so is any session when the organisation switched live "
                               "analysis off.")
    def create(self, request):
        serializer = LiveSessionStartSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        project = data.pop("project")
        self.require_role(project.organisation, ANALYSE)
        session = services.live_session_start(project=project, started_by=request.user,
                                              source=LiveSession.Source.STREAM, **data)
        return self._answer(session, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=LiveSessionSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        """Stop analysing frames for now; the session stays open."""
        session = self.get_object()
        services.live_session_pause(session=session, by=request.user)
        return self._answer(session)

    @extend_schema(request=None, responses=LiveSessionSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        session = self.get_object()
        services.live_session_resume(session=session, by=request.user)
        return self._answer(session)

    @extend_schema(request=None, responses={202: LiveSessionSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request, pk=None):
        """Stop the session: the worker stores what is left and finalizes its analysis (state `stopping`,
        then `stopped` with a `report_url`)."""
        session = services.live_session_stop(session=self.get_object(), by=request.user)
        return self._answer(session, status.HTTP_202_ACCEPTED)


class PhotoScoreView(ApiViewMixin, APIView):
    """Score a photo: every face's box, the seven emotion probabilities and the top emotion, and the
    crowd's shares. Upload it (`file`) or give its `url` (https, public addresses only). Nothing is
    stored. 503 when no live worker is running."""

    permission_classes = [IsAuthenticated]
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    throttle_classes = [UploadRateThrottle]

    @extend_schema(request={"multipart/form-data": PhotoRequestSerializer, "application/json": PhotoRequestSerializer},
                   responses={200: PhotoScoreSerializer, 503: OpenApiTypes.OBJECT})
    def post(self, request):
        if not organisations_for(request.user, ANALYSE):
            raise PermissionDenied("Scoring photos needs the analyst role (or above) in an organisation.")
        serializer = PhotoRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        upload = data.get("file")
        if upload is not None and data.get("url"):
            raise ValidationError({"detail": "Send either a photo file or its URL, not both."})
        if upload is not None and upload.size > settings.EMO7ION_PHOTO_MAX_BYTES:
            raise ValidationError({"file": [f"The photo is larger than the limit of "
                                            f"{filesizeformat(settings.EMO7ION_PHOTO_MAX_BYTES)}."]})
        try:
            answer = services.photo_score(image=upload.read() if upload is not None else None, url=data.get("url", ""),
                                          detector=data.get("detector"), annotate=data["annotated"])
        except services.LiveWorkerUnavailable as exc:
            return Response({"detail": exc.message}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        return Response(answer)
