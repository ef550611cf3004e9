"""API v1: an organisation's webhook endpoints and their delivery log (admins and owners)."""
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import MANAGE_WEBHOOKS
from emo7ion_site.api_common import OrganisationScopedMixin

from . import services
from .models import WebhookEndpoint
from .serializers import (WebhookDeliverySerializer, WebhookEndpointCreateSerializer, WebhookEndpointSerializer,
                          WebhookEndpointUpdateSerializer, WebhookEndpointWithSecretSerializer)


class WebhookEndpointViewSet(OrganisationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                             mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """Endpoints that receive `analysis.succeeded` / `analysis.failed`, signed with HMAC-SHA256.
    The list shows the endpoints of organisations where your role manages webhooks."""

    serializer_class = WebhookEndpointSerializer
    ordering_fields = ["created_at", "url"]
    filterset_fields = ["is_active"]
    action_permissions = {action_name: MANAGE_WEBHOOKS for action_name in (
        "list", "retrieve", "create", "partial_update", "destroy", "deliveries", "rotate_secret", "redeliver")}

    def get_base_queryset(self):
        return WebhookEndpoint.objects.select_related("organisation")

    @extend_schema(request=WebhookEndpointCreateSerializer, responses={201: WebhookEndpointWithSecretSerializer})
    def create(self, request):
        """Register an endpoint. The answer holds the signing secret: this is the only time it is shown
        (rotate it to get a new one)."""
        serializer = WebhookEndpointCreateSerializer(data=request.data, context=self.get_serializer_context())
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        self.require_role(data["organisation"], MANAGE_WEBHOOKS)
        endpoint = services.webhook_endpoint_create(created_by=request.user, **data)
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=WebhookEndpointUpdateSerializer, responses=WebhookEndpointSerializer)
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        serializer = WebhookEndpointUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.webhook_endpoint_update(endpoint=endpoint, **serializer.validated_data)
        return Response(WebhookEndpointSerializer(endpoint).data)

    @extend_schema(request=None, responses=WebhookEndpointWithSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        """A new signing secret; the old one stops working at once."""
        endpoint = services.webhook_endpoint_rotate_secret(endpoint=self.get_object())
        return Response(WebhookEndpointWithSecretSerializer(endpoint).data)

    @extend_schema(responses=WebhookDeliverySerializer(many=True), filters=False)
    @action(detail=True, methods=["get"], filterset_fields=[], ordering_fields=["created_at"])
    def deliveries(self, request, pk=None):
        """The delivery log: every event sent to this endpoint, its attempts and the receiver's answers."""
        endpoint = self.get_object()
        page = self.paginate_queryset(endpoint.deliveries.order_by("-created_at"))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses=WebhookDeliverySerializer)
    @action(detail=True, methods=["post"], url_path=r"deliveries/(?P<delivery_id>\d+)/redeliver")
    def redeliver(self, request, pk=None, delivery_id=None):
        """Send a logged delivery again (same body and signature), e.g. after fixing the receiver."""
        endpoint = self.get_object()
        delivery = get_object_or_404(endpoint.deliveries, pk=delivery_id)
        return Response(WebhookDeliverySerializer(services.webhook_delivery_redeliver(delivery=delivery)).data)
