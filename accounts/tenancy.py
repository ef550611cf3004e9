"""Tenancy fails closed: every organisation-owned queryset is narrowed here, in one place.

`org_path` is the lookup from the model to its Organisation (e.g. "project__organisation"), or
"pk" when the queryset is of Organisation itself.
Another organisation's object is a 404 (never a 403 that would confirm it exists); a visible
object whose action the caller's role does not allow is a 403.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from .models import Membership
from .permissions import VIEW, role_allows


def memberships_of(user) -> QuerySet[Membership]:
    if not getattr(user, "is_authenticated", False):
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("organisation")


def role_in(user, organisation_id: int) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return (Membership.objects.filter(user=user, organisation_id=organisation_id)
            .values_list("role", flat=True).first())


def scope_to_user(queryset: QuerySet, user, org_path: str = "organisation", action: str = VIEW) -> QuerySet:
    """Only rows of organisations where the user's role allows `action`."""
    allowed_org_ids = [org_id for org_id, role in memberships_of(user).values_list("organisation_id", "role")
                       if role_allows(role, action)]
    return queryset.filter(**{f"{org_path}__in": allowed_org_ids})


def organisation_id_of(obj, org_path: str) -> int:
    if org_path in ("pk", "id"):  # the object is the Organisation itself
        return obj.pk
    target = obj
    parts = org_path.split("__")
    for part in parts[:-1]:
        target = getattr(target, part)
    return getattr(target, parts[-1] + "_id")


def get_for_user(queryset: QuerySet, user, *, org_path: str = "organisation", action: str = VIEW, **lookup):
    """Fetch one object the user can see, then check `action`: 404 if unseen, 403 if seen but not allowed."""
    try:
        obj = scope_to_user(queryset, user, org_path, VIEW).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404("Not found")
    if action != VIEW and not role_allows(role_in(user, organisation_id_of(obj, org_path)), action):
        raise PermissionDenied("Your role in this organisation does not allow that.")
    return obj
