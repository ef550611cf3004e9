"""API representations of organisations, memberships and invitations."""
from rest_framework import serializers

from .models import Invitation, Membership, Organisation, Role


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`. Shown once: only a hash "
                                            "of it is stored.")
    expiry = serializers.DateTimeField(allow_null=True, help_text="When the token stops working")


class ApiTokenSerializer(serializers.Serializer):
    """One of your API tokens, by its first characters (the rest is never stored)."""

    token_key = serializers.CharField(read_only=True, help_text="The token's first characters")
    created = serializers.DateTimeField(read_only=True)
    expiry = serializers.DateTimeField(read_only=True, allow_null=True)
    current = serializers.SerializerMethodField(help_text="This request was made with this token")

    def get_current(self, token) -> bool:
        used = getattr(self.context.get("request"), "auth", None)
        return getattr(used, "digest", None) == token.digest


class OrganisationSerializer(serializers.ModelSerializer):
    role = serializers.CharField(source="my_role", read_only=True, help_text="Your role in this organisation")
    member_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Organisation
        fields = ["id", "slug", "name", "role", "member_count", "blur_faces", "footage_retention_days",
                  "live_analysis_allowed", "created_at"]
        read_only_fields = ["id", "slug", "role", "member_count", "created_at"]


class OrganisationUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organisation
        fields = ["name", "blur_faces", "footage_retention_days", "live_analysis_allowed"]
        extra_kwargs = {"name": {"required": False}, "blur_faces": {"required": False},
                        "live_analysis_allowed": {"required": False}}


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "username", "email", "role", "created_at"]
        read_only_fields = ["id", "username", "email", "created_at"]


class MembershipRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class InvitationSerializer(serializers.ModelSerializer):
    state = serializers.CharField(read_only=True)
    invited_by = serializers.CharField(source="invited_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "state", "invited_by", "created_at", "expires_at", "accepted_at"]
        read_only_fields = ["id", "state", "invited_by", "created_at", "expires_at", "accepted_at"]
