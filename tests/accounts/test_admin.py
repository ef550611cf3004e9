"""The admin pages for organisations, memberships and invitations."""
import pytest
from django.urls import reverse

from accounts.models import Membership, Organisation, Role
from tests.factories import InvitationFactory, OrganisationFactory, UserFactory, member_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_changelists_with_filters_and_search(staff_client):
    org = OrganisationFactory(name="Findable Fest")
    member_of(org, Role.ADMIN, username="zoe")
    InvitationFactory(organisation=org, email="pending@example.com")
    pages = {
        "admin:accounts_organisation_changelist": ["?q=findable", "?blur_faces__exact=1"],
        "admin:accounts_membership_changelist": ["?q=zoe", "?role__exact=admin"],
        "admin:accounts_invitation_changelist": ["?q=pending", "?role__exact=viewer", "?accepted_at__isempty=1"],
    }
    for name, queries in pages.items():
        for query in queries:
            response = staff_client.get(reverse(name) + query)
            assert response.status_code == 200, (name, query)
            assert response.context["cl"].result_count == 1, (name, query)
    assert staff_client.get(reverse("admin:accounts_organisation_change", args=[org.pk])).status_code == 200


def test_admin_refuses_to_delete_the_last_owner(staff_client):
    org = OrganisationFactory()
    owner = member_of(org, Role.OWNER)
    m = Membership.objects.get(user=owner)
    url = reverse("admin:accounts_membership_delete", args=[m.pk])
    page = staff_client.get(url)
    assert b"last owner" in page.content
    staff_client.post(url, {"post": "yes"})
    assert Membership.objects.filter(pk=m.pk).exists()

    second = member_of(org, Role.OWNER)
    staff_client.post(url, {"post": "yes"})
    assert not Membership.objects.filter(pk=m.pk).exists()
    assert Membership.objects.get(organisation=org).user == second


def test_admin_refuses_to_demote_the_last_owner(staff_client):
    org = OrganisationFactory()
    owner = member_of(org, Role.OWNER)
    m = Membership.objects.get(user=owner)
    response = staff_client.post(reverse("admin:accounts_membership_change", args=[m.pk]),
                                 {"user": owner.pk, "organisation": org.pk, "role": Role.VIEWER})
    assert response.status_code == 200 and b"last owner" in response.content
    m.refresh_from_db()
    assert m.role == Role.OWNER


def test_admin_inline_keeps_an_owner(staff_client):
    org = OrganisationFactory(name="Inline")
    owner = member_of(org, Role.OWNER)
    m = Membership.objects.get(user=owner)
    data = {"name": "Inline", "slug": org.slug, "blur_faces": "on", "footage_retention_days": "",
            "memberships-TOTAL_FORMS": "1", "memberships-INITIAL_FORMS": "1", "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000", "memberships-0-id": m.pk, "memberships-0-organisation": org.pk,
            "memberships-0-user": owner.pk, "memberships-0-role": Role.VIEWER}
    response = staff_client.post(reverse("admin:accounts_organisation_change", args=[org.pk]), data)
    assert response.status_code == 200 and b"at least one owner" in response.content
    m.refresh_from_db()
    assert m.role == Role.OWNER
    data["memberships-0-role"] = Role.OWNER
    data["name"] = "Inline renamed"
    assert staff_client.post(reverse("admin:accounts_organisation_change", args=[org.pk]), data).status_code == 302
    assert Organisation.objects.get(pk=org.pk).name == "Inline renamed"
