"""API v1: API tokens (create, list, revoke), the caller's organisations, their members and invitations."""
from drf_spectacular.utils import OpenApiParameter, extend_schema
from knox.models import AuthToken
from rest_framework import mixins, status, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from emo7ion_site.api_common import (ApiViewMixin, OrganisationScopedMixin, TokenRateThrottle,
                                     TokenUserRateThrottle)

from . import selectors, services
from .lockout import LOCKOUT_STATUS, lockout_message, retry_after_seconds
from .permissions import MANAGE_MEMBERS, MANAGE_ORGANISATION, VIEW
from .serializers import (ApiTokenSerializer, InvitationSerializer, MembershipRoleSerializer, MembershipSerializer,
                          OrganisationSerializer, OrganisationUpdateSerializer, TokenResponseSerializer)


class TokenView(ApiViewMixin, GenericAPIView):
    """POST: exchange a username and password for a new API token. DELETE: revoke the token this request
    was made with. Tokens are stored hashed and expire (EMO7ION_API_TOKEN_DAYS); the answer to POST is the
    only time a token is shown."""

    serializer_class = AuthTokenSerializer
    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    def get_permissions(self):
        return [AllowAny()] if self.request.method == "POST" else [IsAuthenticated()]

    def get_throttles(self):
        # Per account and per client address: people behind one address are not throttled as one.
        return [TokenUserRateThrottle(), TokenRateThrottle()] if self.request.method == "POST" else []

    @extend_schema(responses={200: TokenResponseSerializer}, auth=[])
    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        if not serializer.is_valid():
            # The lockout check ran inside authenticate() (accounts.lockout) and flagged this request.
            if getattr(request, "axes_locked_out", False):
                return Response({"detail": lockout_message()}, status=LOCKOUT_STATUS,
                                headers={"Retry-After": str(retry_after_seconds())})
            raise ValidationError(serializer.errors)
        token, key = services.api_token_create(user=serializer.validated_data["user"])
        return Response({"token": key, "expiry": token.expiry})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, *args, **kwargs):
        if not isinstance(request.auth, AuthToken):
            raise ValidationError({"detail": "This request was not made with an API token (it came from a "
                                             "signed-in session), so there is no token to revoke."})
        services.api_token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenListView(ApiViewMixin, APIView):
    """Your API tokens that still work, newest first (their first characters; the rest is never stored)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses=ApiTokenSerializer(many=True))
    def get(self, request):
        tokens = selectors.api_tokens_of(request.user)
        return Response(ApiTokenSerializer(tokens, many=True, context={"request": request}).data)


class TokenDetailView(ApiViewMixin, APIView):
    """Revoke one of your API tokens by its first characters (`token_key` in the list)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None},
                   parameters=[OpenApiParameter("token_key", str, OpenApiParameter.PATH,
                                                description="The token's first characters, as listed")])
    def delete(self, request, token_key):
        services.api_token_revoke(token=selectors.api_token_for(request.user, token_key))
        return Response(status=status.HTTP_204_NO_CONTENT)


class OrganisationViewSet(OrganisationScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                          viewsets.GenericViewSet):
    """Your organisations, each with its slug and your role in it."""

    serializer_class = OrganisationSerializer
    org_path = "pk"
    lookup_field = "slug"
    lookup_value_regex = r"[-a-zA-Z0-9_]+"
    ordering_fields = ["name", "created_at"]
    action_permissions = {
        "list": VIEW, "retrieve": VIEW, "partial_update": MANAGE_ORGANISATION,
        "members": VIEW, "member": MANAGE_MEMBERS,
        "invitations": MANAGE_MEMBERS, "invitation": MANAGE_MEMBERS,
    }

    def get_base_queryset(self):
        return selectors.organisations_for(self.request.user)

    @extend_schema(request=OrganisationUpdateSerializer, responses=OrganisationSerializer)
    def partial_update(self, request, *args, **kwargs):
        organisation = self.get_object()
        serializer = OrganisationUpdateSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.organisation_update(organisation=organisation, by=request.user, **serializer.validated_data)
        return Response(OrganisationSerializer(self.get_object()).data)

    @extend_schema(responses=MembershipSerializer(many=True))
    @action(detail=True, methods=["get"])
    def members(self, request, slug=None):
        organisation = self.get_object()
        page = self.paginate_queryset(selectors.members_of(organisation))
        return self.get_paginated_response(MembershipSerializer(page, many=True).data)

    @extend_schema(methods=["PATCH"], request=MembershipRoleSerializer, responses=MembershipSerializer)
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(detail=True, methods=["patch", "delete"], url_path=r"members/(?P<membership_id>\d+)")
    def member(self, request, slug=None, membership_id=None):
        """Change a member's role, or remove them (owners' roles only by owners; never the last owner)."""
        organisation = self.get_object()
        membership = selectors.membership_for(request.user, organisation, membership_id, MANAGE_MEMBERS)
        if request.method == "DELETE":
            services.membership_remove(membership=membership, by=request.user)
            return Response(status=status.HTTP_204_NO_CONTENT)
        serializer = MembershipRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_set_role(membership=membership, role=serializer.validated_data["role"],
                                                  by=request.user)
        return Response(MembershipSerializer(membership).data)

    @extend_schema(methods=["GET"], responses=InvitationSerializer(many=True))
    @extend_schema(methods=["POST"], request=InvitationSerializer, responses={201: InvitationSerializer})
    @action(detail=True, methods=["get", "post"])
    def invitations(self, request, slug=None):
        """Pending invitations; POST emails a new one (`{email, role}`)."""
        organisation = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(selectors.pending_invitations(organisation))
            return self.get_paginated_response(InvitationSerializer(page, many=True).data)
        serializer = InvitationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = services.invitation_create(organisation=organisation, invited_by=request.user,
                                                site_url=request.build_absolute_uri("/"),
                                                **serializer.validated_data)
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"invitations/(?P<invitation_id>\d+)")
    def invitation(self, request, slug=None, invitation_id=None):
        """Withdraw a pending invitation: its link stops working."""
        organisation = self.get_object()
        invitation = selectors.invitation_for(request.user, organisation, invitation_id, MANAGE_MEMBERS)
        services.invitation_revoke(invitation=invitation, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
