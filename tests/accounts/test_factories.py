"""The shared factories build valid rows (other teams rely on them)."""
import pytest
from django.contrib.auth import authenticate

from accounts.models import Membership, Role
from tests.factories import (DEFAULT_PASSWORD, AnalysisFactory, InvitationFactory, MembershipFactory,
                             OrganisationFactory, UserFactory, member_of)

pytestmark = pytest.mark.django_db


def test_user_can_sign_in_with_default_password():
    user = UserFactory()
    assert authenticate(username=user.username, password=DEFAULT_PASSWORD) == user


def test_member_of_gives_the_role_in_that_organisation():
    org = OrganisationFactory()
    user = member_of(org, Role.ADMIN)
    assert Membership.objects.get(user=user, organisation=org).role == Role.ADMIN
    assert org.slug


def test_analysis_factory_chains_to_one_organisation():
    analysis = AnalysisFactory()
    assert analysis.footage.project.organisation.pk
    assert analysis.model_version.labels[0] == "angry"
    assert analysis.status == "queued"


def test_invitation_factory_is_usable():
    assert InvitationFactory().is_usable
    assert MembershipFactory().role == Role.VIEWER
