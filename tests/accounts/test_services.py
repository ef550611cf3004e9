"""accounts.services: organisations, roles, last-owner protection and invitations."""
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts import services
from accounts.models import Invitation, Membership, Organisation, Role
from tests.factories import InvitationFactory, OrganisationFactory, UserFactory, member_of

pytestmark = pytest.mark.django_db


def membership(user, org) -> Membership:
    return Membership.objects.get(user=user, organisation=org)


# --- organisations ---

def test_organisation_create_makes_the_owner_and_safe_defaults():
    user = UserFactory()
    org = services.organisation_create(name="  City Events ", owner=user)
    assert org.name == "City Events" and org.slug == "city-events"
    assert org.blur_faces is True and org.footage_retention_days is None
    assert membership(user, org).role == Role.OWNER


def test_organisation_create_needs_a_name():
    with pytest.raises(services.AccountsError, match="needs a name"):
        services.organisation_create(name="   ", owner=UserFactory())
    assert not Organisation.objects.exists()


def test_slugs_stay_unique_and_never_shadow_pages():
    a = services.organisation_create(name="Fans", owner=UserFactory())
    b = services.organisation_create(name="Fans", owner=UserFactory())
    new = services.organisation_create(name="New", owner=UserFactory())
    assert a.slug == "fans" and b.slug == "fans-2"
    assert new.slug != "new"


def test_a_user_may_belong_to_several_organisations():
    user = UserFactory()
    a = services.organisation_create(name="A", owner=user)
    b = OrganisationFactory()
    Membership.objects.create(user=user, organisation=b, role=Role.VIEWER)
    assert set(user.organisations.all()) == {a, b}


@pytest.mark.parametrize("role,allowed", [(Role.OWNER, True), (Role.ADMIN, False), (Role.ANALYST, False),
                                          (Role.VIEWER, False)])
def test_only_owners_change_settings(role, allowed):
    org = OrganisationFactory()
    by = member_of(org, role)
    if allowed:
        services.organisation_update(organisation=org, by=by, blur_faces=False, footage_retention_days=30)
        org.refresh_from_db()
        assert (org.blur_faces, org.footage_retention_days) == (False, 30)
    else:
        with pytest.raises(PermissionDenied):
            services.organisation_update(organisation=org, by=by, blur_faces=False)
        org.refresh_from_db()
        assert org.blur_faces is True


def test_organisation_update_refuses_unknown_fields():
    org = OrganisationFactory()
    with pytest.raises(ValueError):
        services.organisation_update(organisation=org, by=member_of(org, Role.OWNER), slug="hijack")


# --- roles and last owner ---

def test_admin_changes_roles_below_owner():
    org = OrganisationFactory()
    admin, viewer = member_of(org, Role.ADMIN), member_of(org, Role.VIEWER)
    services.membership_set_role(membership=membership(viewer, org), role=Role.ANALYST, by=admin)
    assert membership(viewer, org).role == Role.ANALYST


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_analysts_and_viewers_cannot_change_roles(role):
    org = OrganisationFactory()
    by, other = member_of(org, role), member_of(org, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        services.membership_set_role(membership=membership(other, org), role=Role.ADMIN, by=by)
    with pytest.raises(PermissionDenied):
        services.membership_set_role(membership=membership(by, org), role=Role.OWNER, by=by)
    assert membership(other, org).role == Role.VIEWER and membership(by, org).role == role


def test_only_owners_grant_or_take_away_the_owner_role():
    org = OrganisationFactory()
    owner, admin, viewer = member_of(org, Role.OWNER), member_of(org, Role.ADMIN), member_of(org, Role.VIEWER)
    with pytest.raises(PermissionDenied):
        services.membership_set_role(membership=membership(viewer, org), role=Role.OWNER, by=admin)
    with pytest.raises(PermissionDenied):
        services.membership_set_role(membership=membership(owner, org), role=Role.VIEWER, by=admin)
    with pytest.raises(PermissionDenied):
        services.membership_remove(membership=membership(owner, org), by=admin)
    services.membership_set_role(membership=membership(viewer, org), role=Role.OWNER, by=owner)
    assert membership(viewer, org).role == Role.OWNER


def test_the_last_owner_cannot_be_demoted_or_removed():
    org = OrganisationFactory()
    owner = member_of(org, Role.OWNER)
    with pytest.raises(services.LastOwnerError, match="last owner"):
        services.membership_set_role(membership=membership(owner, org), role=Role.ADMIN, by=owner)
    with pytest.raises(services.LastOwnerError, match="last owner"):
        services.membership_remove(membership=membership(owner, org), by=owner)
    with pytest.raises(services.LastOwnerError):
        services.membership_remove(membership=membership(owner, org), by=None)  # not even the system
    assert membership(owner, org).role == Role.OWNER


def test_with_two_owners_one_may_step_down_then_the_other_is_protected():
    org = OrganisationFactory()
    first, second = member_of(org, Role.OWNER), member_of(org, Role.OWNER)
    services.membership_set_role(membership=membership(first, org), role=Role.ADMIN, by=first)
    assert membership(first, org).role == Role.ADMIN
    with pytest.raises(services.LastOwnerError):
        services.membership_remove(membership=membership(second, org), by=second)
    services.membership_set_role(membership=membership(first, org), role=Role.OWNER, by=second)
    services.membership_remove(membership=membership(second, org), by=first)
    assert not Membership.objects.filter(user=second, organisation=org).exists()


def test_any_member_may_leave_but_not_remove_others():
    org = OrganisationFactory()
    member_of(org, Role.OWNER)
    viewer, other = member_of(org, Role.VIEWER), member_of(org, Role.ANALYST)
    with pytest.raises(PermissionDenied):
        services.membership_remove(membership=membership(other, org), by=viewer)
    services.membership_remove(membership=membership(viewer, org), by=viewer)
    assert not Membership.objects.filter(user=viewer, organisation=org).exists()


def test_set_role_rejects_unknown_roles():
    org = OrganisationFactory()
    owner, viewer = member_of(org, Role.OWNER), member_of(org, Role.VIEWER)
    with pytest.raises(services.AccountsError, match="not a role"):
        services.membership_set_role(membership=membership(viewer, org), role="superuser", by=owner)


# --- invitations ---

def test_invitation_create_emails_a_working_link():
    org = OrganisationFactory(name="City Events")
    admin = member_of(org, Role.ADMIN)
    inv = services.invitation_create(organisation=org, email="ana@example.com", role=Role.ANALYST,
                                     invited_by=admin, site_url="https://emo7ion.example/")
    assert inv.is_usable and inv.expires_at > timezone.now() + timedelta(days=6)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ana@example.com"]
    assert "City Events" in message.subject
    assert f"https://emo7ion.example/accounts/invitations/{inv.token}/" in message.body
    assert "analyst" in message.body


def test_invitation_lifetime_comes_from_settings(settings):
    settings.EMO7ION_INVITATION_DAYS = 2
    org = OrganisationFactory()
    inv = services.invitation_create(organisation=org, email="x@example.com", role=Role.VIEWER,
                                     invited_by=member_of(org, Role.OWNER))
    assert timedelta(days=1, hours=23) < inv.expires_at - timezone.now() <= timedelta(days=2)
    assert "expires in 2 days" in mail.outbox[0].body


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_only_member_managers_invite(role):
    org = OrganisationFactory()
    with pytest.raises(PermissionDenied):
        services.invitation_create(organisation=org, email="x@example.com", role=Role.VIEWER,
                                   invited_by=member_of(org, role))
    assert not Invitation.objects.exists() and not mail.outbox


def test_only_owners_invite_owners():
    org = OrganisationFactory()
    with pytest.raises(PermissionDenied):
        services.invitation_create(organisation=org, email="x@example.com", role=Role.OWNER,
                                   invited_by=member_of(org, Role.ADMIN))
    services.invitation_create(organisation=org, email="x@example.com", role=Role.OWNER,
                               invited_by=member_of(org, Role.OWNER))
    assert Invitation.objects.get().role == Role.OWNER


def test_inviting_a_member_again_is_refused():
    org = OrganisationFactory()
    owner = member_of(org, Role.OWNER)
    member_of(org, Role.VIEWER, email="Already@Example.com")
    with pytest.raises(services.AlreadyMemberError, match="already a member"):
        services.invitation_create(organisation=org, email="already@example.com", role=Role.ADMIN, invited_by=owner)


def test_a_new_invitation_withdraws_the_previous_one():
    org = OrganisationFactory()
    owner = member_of(org, Role.OWNER)
    first = services.invitation_create(organisation=org, email="x@example.com", role=Role.VIEWER, invited_by=owner)
    second = services.invitation_create(organisation=org, email="X@example.com", role=Role.ADMIN, invited_by=owner)
    first.refresh_from_db()
    assert first.state == Invitation.State.REVOKED and second.is_usable


def test_accepting_joins_with_the_invited_role_and_uses_the_invitation_up():
    inv = InvitationFactory(role=Role.ANALYST)
    user = UserFactory()
    m, created = services.invitation_accept(invitation=inv, user=user)
    assert created and m.role == Role.ANALYST and m.organisation == inv.organisation
    inv.refresh_from_db()
    assert inv.state == Invitation.State.ACCEPTED and inv.accepted_by == user
    with pytest.raises(services.InvitationUnusableError, match="already been used"):
        services.invitation_accept(invitation=inv, user=UserFactory())
    assert inv.organisation.memberships.count() == 1


def test_an_existing_member_keeps_their_role():
    org = OrganisationFactory()
    user = member_of(org, Role.ADMIN)
    m, created = services.invitation_accept(invitation=InvitationFactory(organisation=org, role=Role.VIEWER),
                                            user=user)
    assert not created and m.role == Role.ADMIN


def test_expired_and_withdrawn_invitations_explain_themselves():
    expired = InvitationFactory(expires_at=timezone.now() - timedelta(minutes=1))
    withdrawn = InvitationFactory()
    services.invitation_revoke(invitation=withdrawn, by=None)
    with pytest.raises(services.InvitationUnusableError, match="expired"):
        services.invitation_accept(invitation=expired, user=UserFactory())
    with pytest.raises(services.InvitationUnusableError, match="withdrawn"):
        services.invitation_accept(invitation=withdrawn, user=UserFactory())
    assert not Membership.objects.exists()


def test_signup_from_an_invitation_creates_the_user_with_the_invited_email():
    inv = InvitationFactory(email="new@example.com", role=Role.VIEWER)
    user = services.invitation_accept_with_signup(invitation=inv, username="newbie", password="a-Long-passw0rd")
    assert user.email == "new@example.com" and user.check_password("a-Long-passw0rd")
    assert Membership.objects.get(user=user).organisation == inv.organisation


def test_signup_from_a_used_invitation_creates_nobody():
    inv = InvitationFactory()
    services.invitation_accept(invitation=inv, user=UserFactory())
    from django.contrib.auth import get_user_model
    before = get_user_model().objects.count()
    with pytest.raises(services.InvitationUnusableError):
        services.invitation_accept_with_signup(invitation=inv, username="late", password="a-Long-passw0rd")
    assert get_user_model().objects.count() == before


def test_only_member_managers_withdraw_invitations():
    inv = InvitationFactory()
    with pytest.raises(PermissionDenied):
        services.invitation_revoke(invitation=inv, by=member_of(inv.organisation, Role.ANALYST))
    services.invitation_revoke(invitation=inv, by=member_of(inv.organisation, Role.ADMIN))
    inv.refresh_from_db()
    assert inv.state == Invitation.State.REVOKED
