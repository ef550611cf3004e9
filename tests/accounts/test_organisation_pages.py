"""Organisation, member and invitation pages: what each role sees and may do, through the web."""
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from accounts.models import Invitation, Membership, Organisation, Role
from tests.factories import InvitationFactory, OrganisationFactory, UserFactory, member_of

pytestmark = pytest.mark.django_db


def signed_in(client, user):
    client.force_login(user)
    return client


def role_of(user, org):
    return Membership.objects.filter(user=user, organisation=org).values_list("role", flat=True).first()


# --- list and create ---

def test_list_shows_only_my_organisations_with_my_role(client):
    user = UserFactory()
    a, b, other = (OrganisationFactory(name=n) for n in ("Alpha Events", "Beta Arena", "Gamma Secret"))
    Membership.objects.create(user=user, organisation=a, role=Role.OWNER)
    Membership.objects.create(user=user, organisation=b, role=Role.VIEWER)
    member_of(other, Role.OWNER)
    response = signed_in(client, user).get(reverse("organisation_list"))
    assert response.status_code == 200
    rows = [(o.name, o.my_role) for o in response.context["organisations"]]
    assert rows == [("Alpha Events", "owner"), ("Beta Arena", "viewer")]
    assert b"Gamma Secret" not in response.content


def test_anyone_signed_in_can_create_an_organisation_and_owns_it(client):
    user = UserFactory()
    response = signed_in(client, user).post(reverse("organisation_create"), {"name": "Night Market"})
    org = Organisation.objects.get(name="Night Market")
    assert response.status_code == 302 and response["Location"] == reverse("organisation_detail", args=[org.slug])
    assert role_of(user, org) == Role.OWNER
    empty = client.post(reverse("organisation_create"), {"name": "  "})
    assert empty.status_code == 400 and b"needs a name" in empty.content
    assert Organisation.objects.count() == 1


# --- detail and settings ---

def test_owner_edits_settings(client):
    org = OrganisationFactory(name="Old")
    client = signed_in(client, member_of(org, Role.OWNER))
    page = client.get(reverse("organisation_detail", args=[org.slug]))
    assert page.status_code == 200 and page.context["form"] is not None
    assert page.context["form"].initial["blur_faces"] is True
    response = client.post(reverse("organisation_detail", args=[org.slug]),
                           {"name": "New name", "footage_retention_days": "30"})  # checkbox unticked = off
    assert response.status_code == 302
    org.refresh_from_db()
    assert (org.name, org.blur_faces, org.footage_retention_days) == ("New name", False, 30)


def test_bad_settings_are_explained_and_change_nothing(client):
    org = OrganisationFactory(name="Keep")
    client = signed_in(client, member_of(org, Role.OWNER))
    response = client.post(reverse("organisation_detail", args=[org.slug]),
                           {"name": "Keep", "blur_faces": "on", "footage_retention_days": "0"})
    assert response.status_code == 400 and b"at least one day" in response.content
    org.refresh_from_db()
    assert org.footage_retention_days is None


@pytest.mark.parametrize("role", [Role.ADMIN, Role.ANALYST, Role.VIEWER])
def test_other_roles_see_settings_read_only_and_get_a_friendly_403_on_change(client, role):
    org = OrganisationFactory(name="Stay")
    client = signed_in(client, member_of(org, role))
    page = client.get(reverse("organisation_detail", args=[org.slug]))
    assert page.status_code == 200 and page.context["form"] is None
    assert b"Only owners can change these settings" in page.content
    response = client.post(reverse("organisation_detail", args=[org.slug]), {"name": "Hijacked"})
    assert response.status_code == 403
    assert b"Not allowed" in response.content and b"does not allow" in response.content
    org.refresh_from_db()
    assert org.name == "Stay"


# --- members ---

@pytest.mark.parametrize("role,status", [(Role.OWNER, 200), (Role.ADMIN, 200), (Role.ANALYST, 403),
                                         (Role.VIEWER, 403)])
def test_members_page_follows_manage_members(client, role, status):
    org = OrganisationFactory()
    user = member_of(org, role)
    response = signed_in(client, user).get(reverse("organisation_members", args=[org.slug]))
    assert response.status_code == status
    if status == 200:
        assert user.username.encode() in response.content


def test_invite_by_email_through_the_members_page(client):
    org = OrganisationFactory(name="Harbour Fest")
    admin = member_of(org, Role.ADMIN)
    client = signed_in(client, admin)
    response = client.post(reverse("organisation_invite", args=[org.slug]),
                           {"email": "guest@example.com", "role": Role.ANALYST})
    assert response.status_code == 302
    inv = Invitation.objects.get()
    assert (inv.email, inv.role, inv.invited_by) == ("guest@example.com", Role.ANALYST, admin)
    assert f"http://testserver/accounts/invitations/{inv.token}/" in mail.outbox[0].body
    page = client.get(reverse("organisation_members", args=[org.slug]))
    assert b"guest@example.com" in page.content and b"Invitation sent" in page.content


def test_admins_are_not_offered_and_cannot_send_owner_invitations(client):
    org = OrganisationFactory()
    client = signed_in(client, member_of(org, Role.ADMIN))
    page = client.get(reverse("organisation_members", args=[org.slug]))
    assert Role.OWNER not in dict(page.context["invite_form"].fields["role"].choices)
    response = client.post(reverse("organisation_invite", args=[org.slug]),
                           {"email": "boss@example.com", "role": Role.OWNER})
    assert response.status_code == 400 and not Invitation.objects.exists()


def test_bad_invitation_input_is_explained(client):
    org = OrganisationFactory()
    member_of(org, Role.VIEWER, email="here@example.com")
    client = signed_in(client, member_of(org, Role.OWNER))
    bad_email = client.post(reverse("organisation_invite", args=[org.slug]), {"email": "not-an-email",
                                                                               "role": Role.VIEWER})
    assert bad_email.status_code == 400 and b"valid email" in bad_email.content
    member = client.post(reverse("organisation_invite", args=[org.slug]), {"email": "HERE@example.com",
                                                                           "role": Role.VIEWER})
    assert member.status_code == 400 and b"already a member" in member.content
    assert not Invitation.objects.exists() and not mail.outbox


def test_change_role_and_remove_member(client):
    org = OrganisationFactory()
    owner, viewer, analyst = member_of(org, Role.OWNER), member_of(org, Role.VIEWER), member_of(org, Role.ANALYST)
    client = signed_in(client, owner)
    m = Membership.objects.get(user=viewer, organisation=org)
    assert client.post(reverse("membership_set_role", args=[org.slug, m.pk]), {"role": "admin"}).status_code == 302
    assert role_of(viewer, org) == Role.ADMIN
    m2 = Membership.objects.get(user=analyst, organisation=org)
    assert client.post(reverse("membership_remove", args=[org.slug, m2.pk])).status_code == 302
    assert role_of(analyst, org) is None


def test_last_owner_cannot_be_demoted_or_removed_through_the_pages(client):
    org = OrganisationFactory(name="Solo")
    owner = member_of(org, Role.OWNER)
    client = signed_in(client, owner)
    m = Membership.objects.get(user=owner, organisation=org)
    page = client.get(reverse("organisation_members", args=[org.slug]))
    assert b"last owner" in page.content
    response = client.post(reverse("membership_set_role", args=[org.slug, m.pk]), {"role": "viewer"}, follow=True)
    assert b"the last owner of Solo" in response.content
    response = client.post(reverse("membership_remove", args=[org.slug, m.pk]), follow=True)
    assert b"the last owner of Solo" in response.content
    response = client.post(reverse("organisation_leave", args=[org.slug]), follow=True)
    assert b"last owner of Solo" in response.content
    assert role_of(owner, org) == Role.OWNER


def test_admin_cannot_touch_owners_through_the_pages(client):
    org = OrganisationFactory()
    owner, admin, viewer = member_of(org, Role.OWNER), member_of(org, Role.ADMIN), member_of(org, Role.VIEWER)
    client = signed_in(client, admin)
    owner_m = Membership.objects.get(user=owner, organisation=org)
    viewer_m = Membership.objects.get(user=viewer, organisation=org)
    assert client.post(reverse("membership_set_role", args=[org.slug, owner_m.pk]),
                       {"role": "viewer"}).status_code == 403
    assert client.post(reverse("membership_remove", args=[org.slug, owner_m.pk])).status_code == 403
    assert client.post(reverse("membership_set_role", args=[org.slug, viewer_m.pk]),
                       {"role": "owner"}).status_code == 403
    assert (role_of(owner, org), role_of(viewer, org)) == (Role.OWNER, Role.VIEWER)


@pytest.mark.parametrize("role", [Role.ANALYST, Role.VIEWER])
def test_members_actions_are_403_for_roles_without_manage_members(client, role):
    org = OrganisationFactory()
    user, other = member_of(org, role), member_of(org, Role.VIEWER)
    other_m = Membership.objects.get(user=other, organisation=org)
    inv = InvitationFactory(organisation=org)
    client = signed_in(client, user)
    for url, data in [(reverse("organisation_invite", args=[org.slug]), {"email": "a@example.com", "role": "viewer"}),
                      (reverse("membership_set_role", args=[org.slug, other_m.pk]), {"role": "admin"}),
                      (reverse("membership_remove", args=[org.slug, other_m.pk]), {}),
                      (reverse("invitation_revoke", args=[org.slug, inv.pk]), {})]:
        assert client.post(url, data).status_code == 403, url
    assert role_of(other, org) == Role.VIEWER and Invitation.objects.get().is_usable


def test_any_member_can_leave(client):
    org = OrganisationFactory()
    member_of(org, Role.OWNER)
    viewer = member_of(org, Role.VIEWER)
    response = signed_in(client, viewer).post(reverse("organisation_leave", args=[org.slug]))
    assert response.status_code == 302 and response["Location"] == reverse("organisation_list")
    assert role_of(viewer, org) is None


def test_withdraw_an_invitation(client):
    org = OrganisationFactory()
    inv = InvitationFactory(organisation=org)
    client = signed_in(client, member_of(org, Role.ADMIN))
    assert client.post(reverse("invitation_revoke", args=[org.slug, inv.pk])).status_code == 302
    inv.refresh_from_db()
    assert inv.state == Invitation.State.REVOKED


# --- accepting invitations ---

def test_anonymous_visitor_creates_an_account_and_joins(client):
    inv = InvitationFactory(email="fresh@example.com", role=Role.ANALYST, organisation__name="Dock Party")
    url = reverse("invitation_accept", args=[inv.token])
    page = client.get(url)
    assert page.status_code == 200 and b"Dock Party" in page.content and b"Create your account" in page.content
    mismatch = client.post(url, {"username": "fresh", "password1": "Sunny-harbour-9", "password2": "other-9999"})
    assert mismatch.status_code == 400 and not Membership.objects.exists()
    response = client.post(url, {"username": "fresh", "password1": "Sunny-harbour-9", "password2": "Sunny-harbour-9"})
    assert response.status_code == 302
    assert response["Location"] == reverse("organisation_detail", args=[inv.organisation.slug])
    m = Membership.objects.get(user__username="fresh")
    assert (m.organisation, m.role, m.user.email) == (inv.organisation, Role.ANALYST, "fresh@example.com")
    assert client.get(response["Location"]).context["user"].username == "fresh"  # signed in
    assert client.login(username="fresh", password="Sunny-harbour-9")


def test_signed_in_user_joins_with_one_click(client):
    org = OrganisationFactory(name="Second Org")
    member_of(OrganisationFactory(), Role.OWNER)
    user = member_of(OrganisationFactory(name="First Org"), Role.OWNER)
    inv = InvitationFactory(organisation=org, role=Role.VIEWER)
    client = signed_in(client, user)
    url = reverse("invitation_accept", args=[inv.token])
    assert b"Join as" in client.get(url).content
    response = client.post(url, follow=True)
    assert b"You joined Second Org as viewer" in response.content
    assert set(user.organisations.values_list("name", flat=True)) == {"First Org", "Second Org"}


@pytest.mark.parametrize("state,phrase", [("expired", b"expired on"), ("used", b"already been used"),
                                          ("revoked", b"was withdrawn")])
def test_unusable_invitations_get_a_clear_message(client, state, phrase):
    inv = InvitationFactory(organisation__name="Closed Door")
    if state == "expired":
        inv.expires_at = timezone.now() - timedelta(days=1)
    elif state == "used":
        inv.accepted_at = timezone.now()
    else:
        inv.revoked_at = timezone.now()
    inv.save()
    url = reverse("invitation_accept", args=[inv.token])
    for response in (client.get(url), client.post(url, {"username": "late", "password1": "Sunny-harbour-9",
                                                        "password2": "Sunny-harbour-9"})):
        assert response.status_code == 410
        assert phrase in response.content and b"Closed Door" in response.content
    assert not Membership.objects.exists()
    assert not get_user_model().objects.filter(username="late").exists()


def test_an_unknown_token_is_a_404_with_a_message(client):
    response = client.get(reverse("invitation_accept", args=["not-a-real-token"]))
    assert response.status_code == 404 and b"not valid" in response.content


# --- another organisation is a 404 on every page ---

def _cross_org_requests(org, foreign_m, foreign_inv):
    s = org.slug
    return [
        ("get", reverse("organisation_detail", args=[s]), {}),
        ("post", reverse("organisation_detail", args=[s]), {"name": "x", "blur_faces": "on"}),
        ("post", reverse("organisation_leave", args=[s]), {}),
        ("get", reverse("organisation_members", args=[s]), {}),
        ("post", reverse("organisation_invite", args=[s]), {"email": "a@example.com", "role": "viewer"}),
        ("post", reverse("membership_set_role", args=[s, foreign_m.pk]), {"role": "owner"}),
        ("post", reverse("membership_remove", args=[s, foreign_m.pk]), {}),
        ("post", reverse("invitation_revoke", args=[s, foreign_inv.pk]), {}),
    ]


@pytest.mark.parametrize("my_role", [Role.OWNER, Role.VIEWER])
def test_another_organisations_pages_are_404(client, my_role):
    mine, theirs = OrganisationFactory(name="Mine"), OrganisationFactory(name="Theirs")
    me = member_of(mine, my_role)
    their_owner = member_of(theirs, Role.OWNER)
    their_m = Membership.objects.get(user=their_owner)
    their_inv = InvitationFactory(organisation=theirs)
    client = signed_in(client, me)
    for method, url, data in _cross_org_requests(theirs, their_m, their_inv):
        response = getattr(client, method)(url, data)
        assert response.status_code == 404, (method, url)
        assert b"Theirs" not in response.content
    theirs.refresh_from_db()
    assert theirs.name == "Theirs" and role_of(their_owner, theirs) == Role.OWNER and their_inv.is_usable
    assert not Invitation.objects.filter(organisation=theirs).exclude(pk=their_inv.pk).exists()


def test_my_organisation_slug_with_a_foreign_membership_or_invitation_id_is_404(client):
    """Ids from another organisation under my own slug: still 404, nothing changes."""
    mine, theirs = OrganisationFactory(), OrganisationFactory()
    me = member_of(mine, Role.OWNER)
    their_owner = member_of(theirs, Role.OWNER)
    their_m = Membership.objects.get(user=their_owner)
    their_inv = InvitationFactory(organisation=theirs)
    client = signed_in(client, me)
    assert client.post(reverse("membership_set_role", args=[mine.slug, their_m.pk]),
                       {"role": "viewer"}).status_code == 404
    assert client.post(reverse("membership_remove", args=[mine.slug, their_m.pk])).status_code == 404
    assert client.post(reverse("invitation_revoke", args=[mine.slug, their_inv.pk])).status_code == 404
    their_inv.refresh_from_db()
    assert role_of(their_owner, theirs) == Role.OWNER and their_inv.is_usable
