"""Reads for organisations, memberships and invitations. Organisation-owned rows are scoped
through accounts.tenancy; nothing here widens what a user can see."""
from __future__ import annotations

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.http import Http404
from django.utils import timezone
from knox.models import AuthToken

from .models import Invitation, Membership, Organisation, Role
from .tenancy import get_for_user, memberships_of, scope_to_user

# Owners first, viewers last: the order people expect on a members page.
ROLE_ORDER = Case(*[When(role=role, then=Value(rank)) for rank, role in enumerate(Role.values)],
                  output_field=IntegerField())


def organisations_for(user) -> QuerySet[Organisation]:
    """The user's organisations, each annotated with `my_role` and `member_count`."""
    my_role = memberships_of(user).filter(organisation=OuterRef("pk")).values("role")[:1]
    return (scope_to_user(Organisation.objects.all(), user, org_path="pk")
            .annotate(my_role=Subquery(my_role), member_count=Count("memberships", distinct=True))
            .order_by("name", "pk"))


def organisation_for(user, slug: str, action: str) -> Organisation:
    """One of the user's organisations by slug: 404 if not theirs, 403 if their role does not allow `action`."""
    return get_for_user(Organisation.objects.all(), user, org_path="pk", action=action, slug=slug)


def members_of(organisation: Organisation) -> QuerySet[Membership]:
    return (Membership.objects.filter(organisation=organisation).select_related("user")
            .annotate(role_rank=ROLE_ORDER).order_by("role_rank", "user__username"))


def membership_for(user, organisation: Organisation, membership_id: int, action: str) -> Membership:
    """A membership of `organisation` that `user` may act on; another organisation's id is a 404."""
    return get_for_user(Membership.objects.filter(organisation=organisation).select_related("user", "organisation"),
                        user, action=action, pk=membership_id)


def pending_invitations(organisation: Organisation) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organisation=organisation, accepted_at__isnull=True, revoked_at__isnull=True,
                                     expires_at__gt=timezone.now()).select_related("invited_by")


def invitation_for(user, organisation: Organisation, invitation_id: int, action: str) -> Invitation:
    return get_for_user(Invitation.objects.filter(organisation=organisation).select_related("organisation"),
                        user, action=action, pk=invitation_id)


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation a link points at; the token itself is the proof of access."""
    return Invitation.objects.select_related("organisation", "invited_by").filter(token=token).first()


def owner_count(organisation: Organisation) -> int:
    return Membership.objects.filter(organisation=organisation, role=Role.OWNER).count()


def api_tokens_of(user) -> QuerySet[AuthToken]:
    """The user's API tokens that still work (not expired), newest first."""
    now = timezone.now()
    return (AuthToken.objects.filter(user=user).filter(Q(expiry__isnull=True) | Q(expiry__gt=now))
            .order_by("-created"))


def api_token_for(user, token_key: str) -> AuthToken:
    """One of the user's tokens by its public start (`token_key`); anyone else's is a 404."""
    token = api_tokens_of(user).filter(token_key=token_key).first()
    if token is None:
        raise Http404
    return token
