"""The permission table, written out here independently: every role × every action."""
import pytest
from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts import permissions as p
from accounts.models import Organisation, Role
from accounts.tenancy import get_for_user, scope_to_user
from tests.factories import OrganisationFactory, ProjectFactory, UserFactory, member_of

Y, N = True, False
EXPECTED = {
    #                    view upload analyse projects members webhooks organisation owners
    Role.VIEWER:        (Y,   N,     N,      N,       N,      N,       N,           N),
    Role.ANALYST:       (Y,   Y,     Y,      Y,       N,      N,       N,           N),
    Role.ADMIN:         (Y,   Y,     Y,      Y,       Y,      Y,       N,           N),
    Role.OWNER:         (Y,   Y,     Y,      Y,       Y,      Y,       Y,           Y),
}
ORDER = (p.VIEW, p.UPLOAD, p.ANALYSE, p.MANAGE_PROJECTS, p.MANAGE_MEMBERS, p.MANAGE_WEBHOOKS,
         p.MANAGE_ORGANISATION, p.MANAGE_OWNERS)


def test_the_table_covers_every_action_and_role():
    assert set(ORDER) == set(p.ACTIONS)
    assert set(EXPECTED) == set(Role.values) == set(p.PERMISSIONS)


@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("action", ORDER)
def test_role_allows(role, action):
    assert p.role_allows(role, action) is EXPECTED[role][ORDER.index(action)]
    assert (action in p.allowed_actions(role)) is EXPECTED[role][ORDER.index(action)]


@pytest.mark.parametrize("action", ORDER)
def test_non_members_may_do_nothing(action):
    assert p.role_allows(None, action) is False
    assert p.role_allows("stranger", action) is False


def test_an_unknown_action_is_a_programming_error():
    with pytest.raises(ValueError, match="Unknown action"):
        p.role_allows(Role.OWNER, "delete_everything")


@pytest.mark.django_db
@pytest.mark.parametrize("role", list(EXPECTED))
@pytest.mark.parametrize("action", ORDER)
def test_get_for_user_follows_the_table(role, action):
    org = OrganisationFactory()
    user = member_of(org, role)
    if EXPECTED[role][ORDER.index(action)]:
        assert get_for_user(Organisation.objects.all(), user, org_path="pk", action=action, slug=org.slug) == org
    else:
        with pytest.raises(PermissionDenied):
            get_for_user(Organisation.objects.all(), user, org_path="pk", action=action, slug=org.slug)


@pytest.mark.django_db
def test_another_organisations_object_is_a_404_whatever_the_role_there():
    mine, theirs = OrganisationFactory(), OrganisationFactory()
    user = member_of(mine, Role.OWNER)
    their_project = ProjectFactory(organisation=theirs)
    for action in ORDER:
        with pytest.raises(Http404):
            get_for_user(Organisation.objects.all(), user, org_path="pk", action=action, slug=theirs.slug)
    with pytest.raises(Http404):
        get_for_user(type(their_project).objects.all(), user, pk=their_project.pk)
    assert list(scope_to_user(Organisation.objects.all(), user, org_path="pk")) == [mine]


@pytest.mark.django_db
def test_scope_by_action_keeps_only_organisations_where_the_role_allows_it():
    a, b = OrganisationFactory(), OrganisationFactory()
    user = UserFactory()
    member_of(a, Role.VIEWER)  # someone else
    from tests.factories import MembershipFactory
    MembershipFactory(user=user, organisation=a, role=Role.ANALYST)
    MembershipFactory(user=user, organisation=b, role=Role.VIEWER)
    assert set(scope_to_user(Organisation.objects.all(), user, org_path="pk")) == {a, b}
    assert list(scope_to_user(Organisation.objects.all(), user, org_path="pk", action=p.UPLOAD)) == [a]
