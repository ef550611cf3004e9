"""Writes for organisations, memberships and invitations.

Every function that acts on behalf of someone takes `by` (the acting user) and checks it against
the permission table itself, so pages, the API and commands get the same rules. `by=None` means
the system (a management command, the admin site) and skips the role check, never the invariants:
an organisation that has an owner always keeps at least one.
"""
from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.mail import send_mail
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken

from emo7ion_site.core.exceptions import ApplicationError

from .models import Invitation, Membership, Organisation, Role
from .permissions import MANAGE_MEMBERS, MANAGE_ORGANISATION, MANAGE_OWNERS, role_allows
from .tenancy import role_in

DEFAULT_INVITATION_DAYS = 7


class AccountsError(ApplicationError):
    """A request that breaks a rule; the message is written for the person who made it."""


class LastOwnerError(AccountsError):
    pass


class AlreadyMemberError(AccountsError):
    pass


class InvitationUnusableError(AccountsError):
    pass


def _require(by, organisation: Organisation, action: str, message: str) -> None:
    if by is None:
        return
    if not role_allows(role_in(by, organisation.pk), action):
        raise PermissionDenied(message)


def _role_label(role: str) -> str:
    return Role(role).label


# --- Organisations -------------------------------------------------------------------------------

@transaction.atomic
def organisation_create(*, name: str, owner, blur_faces: bool = True,
                        footage_retention_days: int | None = None) -> Organisation:
    """A new organisation with `owner` as its first owner."""
    name = (name or "").strip()
    if not name:
        raise AccountsError("An organisation needs a name.")
    organisation = Organisation.objects.create(name=name, blur_faces=blur_faces,
                                               footage_retention_days=footage_retention_days)
    Membership.objects.create(organisation=organisation, user=owner, role=Role.OWNER)
    return organisation


def organisation_update(*, organisation: Organisation, by, **fields) -> Organisation:
    """Change name, blur_faces, footage_retention_days or live_analysis_allowed."""
    _require(by, organisation, MANAGE_ORGANISATION,
             "Only owners can change this organisation's settings.")
    editable = {"name", "blur_faces", "footage_retention_days", "live_analysis_allowed"}
    unknown = set(fields) - editable
    if unknown:
        raise ValueError(f"Cannot change {', '.join(sorted(unknown))} of an organisation")
    if "name" in fields:
        fields["name"] = (fields["name"] or "").strip()
        if not fields["name"]:
            raise AccountsError("An organisation needs a name.")
    for key, value in fields.items():
        setattr(organisation, key, value)
    organisation.save(update_fields=list(fields) or None)
    return organisation


# --- Memberships ---------------------------------------------------------------------------------

def _lock_for_owner_check(membership: Membership) -> tuple[Membership, bool]:
    """Lock the organisation's owner rows (always in pk order), then the membership itself; return the
    fresh membership and whether another owner exists. Two owners demoting each other at the same
    moment queue up here instead of deadlocking, and the second sees the first one's change."""
    owner_ids = list(Membership.objects.select_for_update()
                     .filter(organisation_id=membership.organisation_id, role=Role.OWNER)
                     .order_by("pk").values_list("pk", flat=True))
    fresh = (Membership.objects.select_for_update(of=("self",))
             .select_related("organisation", "user").get(pk=membership.pk))
    return fresh, any(pk != fresh.pk for pk in owner_ids)


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, by) -> Membership:
    if role not in Role.values:
        raise AccountsError(f"“{role}” is not a role. Choose one of: {', '.join(Role.values)}.")
    membership, other_owners = _lock_for_owner_check(membership)
    organisation = membership.organisation
    _require(by, organisation, MANAGE_MEMBERS, "Your role does not allow changing members' roles.")
    if Role.OWNER in (role, membership.role):
        _require(by, organisation, MANAGE_OWNERS, "Only an owner can grant or take away the owner role.")
    if membership.role == role:
        return membership
    if membership.role == Role.OWNER and not other_owners:
        raise LastOwnerError(f"{membership.user.get_username()} is the last owner of {organisation.name}. "
                             "Make someone else an owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, by) -> None:
    """Remove a member. Anyone may leave an organisation themselves (unless they are its last owner)."""
    membership, other_owners = _lock_for_owner_check(membership)
    organisation = membership.organisation
    leaving = by is not None and by.pk == membership.user_id
    if not leaving:
        _require(by, organisation, MANAGE_MEMBERS, "Your role does not allow removing members.")
        if membership.role == Role.OWNER:
            _require(by, organisation, MANAGE_OWNERS, "Only an owner can remove another owner.")
    if membership.role == Role.OWNER and not other_owners:
        who = "You are" if leaving else f"{membership.user.get_username()} is"
        raise LastOwnerError(f"{who} the last owner of {organisation.name}. Make someone else an owner first.")
    membership.delete()


# --- Invitations ---------------------------------------------------------------------------------

def invitation_accept_url(invitation: Invitation, site_url: str | None = None) -> str:
    base = (site_url or getattr(settings, "EMO7ION_SITE_URL", "") or "http://127.0.0.1:8000").rstrip("/")
    return base + reverse("invitation_accept", args=[invitation.token])


def invitation_days() -> int:
    """How long an invitation link works (setting EMO7ION_INVITATION_DAYS, default 7)."""
    return int(getattr(settings, "EMO7ION_INVITATION_DAYS", DEFAULT_INVITATION_DAYS))


def invitation_create(*, organisation: Organisation, email: str, role: str, invited_by,
                      site_url: str | None = None) -> Invitation:
    """Invite `email` with `role` and email them the link. A pending invitation of the same address
    to the same organisation is withdrawn, so only the newest link works."""
    email = (email or "").strip()
    if not email:
        raise AccountsError("Give the email address to invite.")
    if role not in Role.values:
        raise AccountsError(f"“{role}” is not a role. Choose one of: {', '.join(Role.values)}.")
    _require(invited_by, organisation, MANAGE_MEMBERS, "Your role does not allow inviting members.")
    if role == Role.OWNER:
        _require(invited_by, organisation, MANAGE_OWNERS, "Only an owner can invite another owner.")
    if organisation.memberships.filter(user__email__iexact=email).exists():
        raise AlreadyMemberError(f"{email} is already a member of {organisation.name}.")
    days = invitation_days()
    now = timezone.now()
    with transaction.atomic():
        Invitation.objects.filter(organisation=organisation, email__iexact=email, accepted_at__isnull=True,
                                  revoked_at__isnull=True).update(revoked_at=now)
        invitation = Invitation.objects.create(organisation=organisation, email=email, role=role,
                                               invited_by=invited_by, expires_at=now + timedelta(days=days))
    context = {"invitation": invitation, "organisation": organisation, "role_label": _role_label(role),
               "inviter": invited_by, "accept_url": invitation_accept_url(invitation, site_url), "days": days}
    # Sent after the row exists, outside the transaction: a slow mail server must not hold locks.
    send_mail(
        subject=render_to_string("accounts/email/invitation_subject.txt", context).strip(),
        message=render_to_string("accounts/email/invitation_body.txt", context),
        from_email=None, recipient_list=[email],
    )
    return invitation


def invitation_revoke(*, invitation: Invitation, by) -> Invitation:
    _require(by, invitation.organisation, MANAGE_MEMBERS, "Your role does not allow withdrawing invitations.")
    if invitation.accepted_at is None and invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
    return invitation


def invitation_problem(invitation: Invitation) -> str | None:
    """Why this invitation cannot be accepted, in words for the visitor; None when it can."""
    state = invitation.state
    org = invitation.organisation.name
    if state == Invitation.State.ACCEPTED:
        return f"This invitation to {org} has already been used. Sign in to reach the organisation."
    if state == Invitation.State.REVOKED:
        return f"This invitation to {org} was withdrawn. Ask an administrator of {org} for a new one."
    if state == Invitation.State.EXPIRED:
        return (f"This invitation to {org} expired on {invitation.expires_at:%d %B %Y}. "
                f"Ask an administrator of {org} to send a new one.")
    return None


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user) -> tuple[Membership, bool]:
    """`user` joins the organisation with the invited role. Returns (membership, created); an existing
    member keeps their current role and the invitation is used up either way."""
    # Lock the row: two clicks on the same link must not both succeed.
    invitation = (Invitation.objects.select_for_update(of=("self",))
                  .select_related("organisation").get(pk=invitation.pk))
    problem = invitation_problem(invitation)
    if problem:
        raise InvitationUnusableError(problem)
    membership, created = Membership.objects.get_or_create(
        organisation=invitation.organisation, user=user, defaults={"role": invitation.role})
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership, created


@transaction.atomic
def invitation_accept_with_signup(*, invitation: Invitation, username: str, password: str):
    """An anonymous visitor creates their account from the invitation and joins. The password must
    already be validated (the signup form does that). Returns the new user."""
    user = get_user_model().objects.create_user(username=username, email=invitation.email, password=password)
    invitation_accept(invitation=invitation, user=user)
    return user


# --- API tokens ------------------------------------------------------------------------------------

def api_token_create(*, user) -> tuple[AuthToken, str]:
    """A new API token for `user`, valid for REST_KNOX["TOKEN_TTL"]. Only its SHA-512 digest is stored,
    so the token itself is returned here, once, and can never be shown again."""
    if not user.is_active:
        raise AccountsError("This account is deactivated.")
    return AuthToken.objects.create(user=user)


def api_token_revoke(*, token: AuthToken) -> None:
    """The token stops working at once (the row holding its digest is deleted)."""
    token.delete()


def api_tokens_revoke_all(*, user) -> int:
    """Every API token of `user` stops working (e.g. after a leak). Returns how many there were."""
    count, _ = AuthToken.objects.filter(user=user).delete()
    return count
