"""factory_boy factories shared by every test area.

Minimal on purpose: each factory builds a valid row with the fewest assumptions. Pass what a
test cares about explicitly (role, status, model_version, ...).

    from tests.factories import MembershipFactory, ProjectFactory, member_of
    owner = member_of(org, "owner")          # a user with that role in org
    project = ProjectFactory(organisation=org)
"""
from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Invitation, Membership, Organisation, Role
from analysis.models import Analysis, Footage, Project
from ml.engine.labels import EMOTIONS
from ml.models import ModelVersion

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    """A user whose password is DEFAULT_PASSWORD (override with password=...)."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password(DEFAULT_PASSWORD)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Organisation {n}")
    # slug is derived from the name by Organisation.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.VIEWER


def member_of(organisation: Organisation, role: str = Role.VIEWER, **user_fields):
    """A fresh user holding `role` in `organisation`; returns the user."""
    return MembershipFactory(organisation=organisation, role=role, user=UserFactory(**user_fields)).user


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    organisation = factory.SubFactory(OrganisationFactory)
    email = factory.Sequence(lambda n: f"invitee{n}@example.com")
    role = Role.VIEWER
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    organisation = factory.SubFactory(OrganisationFactory)
    name = factory.Sequence(lambda n: f"Project {n}")


class FootageFactory(factory.django.DjangoModelFactory):
    """A `ready` footage row with plausible probe values and NO stored file. Tests that need real
    media upload it through `analysis.services` (or pass file=...)."""

    class Meta:
        model = Footage

    project = factory.SubFactory(ProjectFactory)
    original_name = factory.Sequence(lambda n: f"clip-{n}.mp4")
    kind = Footage.Kind.VIDEO
    status = Footage.Status.READY
    size_bytes = 1_000_000
    duration_s = 10.0
    fps = 25.0
    frame_count = 250
    width = 640
    height = 480


class ModelVersionFactory(factory.django.DjangoModelFactory):
    """A registry row only: its `file` does not exist, so it cannot classify. Tests that run the
    classifier use the `model_version` fixture (a real tiny model) instead."""

    class Meta:
        model = ModelVersion

    name = factory.Sequence(lambda n: f"model-v{n}")
    file = factory.LazyAttribute(lambda mv: f"/nonexistent/{mv.name}.keras")
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    labels = factory.LazyFunction(lambda: list(EMOTIONS))
    is_active = False


class AnalysisFactory(factory.django.DjangoModelFactory):
    """A queued analysis row. Nothing is enqueued: use analysis.services.analysis_create for that."""

    class Meta:
        model = Analysis

    footage = factory.SubFactory(FootageFactory)
    model_version = factory.SubFactory(ModelVersionFactory)
    detector = "haar"
    sample_fps = 2.0
    status = Analysis.Status.QUEUED
