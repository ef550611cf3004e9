"""API representations of webhook endpoints and their delivery log."""
import json

from django.core.validators import URLValidator
from rest_framework import serializers

from emo7ion_site.api_common import MyOrganisationField

from .models import Event, WebhookDelivery, WebhookEndpoint


HTTP_URL = URLValidator(schemes=["http", "https"], message="The URL must start with http:// or https://.")


class WebhookEndpointSerializer(serializers.ModelSerializer):
    organisation = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices), min_length=1)
    secret_hint = serializers.SerializerMethodField(help_text="The secret's last four characters")

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "organisation", "url", "events", "description", "is_active", "secret_hint",
                  "created_at", "updated_at"]
        read_only_fields = ["id", "organisation", "secret_hint", "created_at", "updated_at"]

    def get_secret_hint(self, endpoint) -> str:
        return "…" + endpoint.secret[-4:]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    """Shown once, when the endpoint is created or its secret rotated: keep the secret then."""

    secret = serializers.CharField(read_only=True, help_text="HMAC-SHA256 key for X-Emo7ion-Signature")

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookEndpointSerializer.Meta.read_only_fields, "secret"]


class WebhookEndpointCreateSerializer(serializers.Serializer):
    organisation = MyOrganisationField()
    url = serializers.URLField(max_length=500, validators=[HTTP_URL])
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices), min_length=1)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(required=False, default=True)


class WebhookEndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=500, required=False, validators=[HTTP_URL])
    events = serializers.ListField(child=serializers.ChoiceField(choices=Event.choices), min_length=1,
                                   required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    is_active = serializers.BooleanField(required=False)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    payload = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = ["id", "uuid", "event", "subject", "status", "attempts", "response_status_code", "response_body",
                  "error", "payload", "created_at", "last_attempt_at", "next_attempt_at", "delivered_at"]
        read_only_fields = fields

    def get_payload(self, delivery) -> dict:
        return json.loads(delivery.body)
