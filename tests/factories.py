"""factory_boy factories shared by every test area.

Minimal on purpose: each factory builds a valid row with the fewest assumptions. Pass what a
test cares about explicitly (role, status, model_version, ...).

    from tests.factories import MembershipFactory, ProjectFactory, member_of
    owner = member_of(org, "owner")          # a user with that role in org
    project = ProjectFactory(organisation=org)

Job rows (analyses, evaluations, bias audits, training runs) are built queued and never enqueued:
the services do that (`analysis.services.analysis_create`, `ml.services.evaluation_run`, ...).
"""
from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from accounts.models import Invitation, Membership, Organisation, Role
from analysis.models import Analysis, AnalysisSegment, FaceObservation, Footage, Moment, Project, TimelineBucket
from emo7ion_site.core.jobs import JobStatus
from ml.engine.labels import EMOTIONS
from ml.models import BiasAudit, Dataset, Evaluation, ModelActivation, ModelVersion, TrainingRun, TuningRun
from webhooks.models import Event, WebhookDelivery, WebhookEndpoint

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
    status = JobStatus.QUEUED


class LiveSessionFactory(factory.django.DjangoModelFactory):
    """A running stream-URL live session with its analysis row (kind live). Nothing wakes a worker: use
    live.services.live_session_start for that."""

    class Meta:
        model = "live.LiveSession"

    analysis = factory.SubFactory(AnalysisFactory, kind="live", status=JobStatus.RUNNING)
    source = "stream"
    stream_url = "rtsp://camera.example/stream"
    setting = "audience"
    state = "running"


class _TimeSliceFactory(factory.django.DjangoModelFactory):
    """The `index`-th slice of an analysis' time, `seconds` long."""

    class Meta:
        abstract = True

    class Params:
        seconds = 60.0

    analysis = factory.SubFactory(AnalysisFactory)
    index = factory.Sequence(lambda n: n)
    t_start = factory.LazyAttribute(lambda s: s.seconds * s.index)
    t_end = factory.LazyAttribute(lambda s: s.t_start + s.seconds)


class AnalysisSegmentFactory(_TimeSliceFactory):
    """A pending 60 s segment."""

    class Meta:
        model = AnalysisSegment


def _probabilities(top: str) -> dict[str, float]:
    """Emotion probabilities that sum to 1, with `top` the most likely."""
    rest = (1.0 - 0.7) / (len(EMOTIONS) - 1)
    return {f"p_{e}": (0.7 if e == top else rest) for e in EMOTIONS}


class FaceObservationFactory(factory.django.DjangoModelFactory):
    """One face in one sampled frame, happy unless told otherwise (top_emotion=...)."""

    class Meta:
        model = FaceObservation
        exclude = ("probabilities",)

    analysis = factory.SubFactory(AnalysisFactory)
    segment_index = 0
    t = factory.Sequence(lambda n: 0.5 * n)
    frame_index = factory.LazyAttribute(lambda o: int(round(o.t * 25)))
    track_id = 0
    segment_track_id = factory.LazyAttribute(lambda o: o.track_id)
    x, y, w, h = 100, 80, 64, 64
    detector_score = 0.9
    top_emotion = "happy"
    probabilities = factory.LazyAttribute(lambda o: _probabilities(o.top_emotion))
    p_angry = factory.LazyAttribute(lambda o: o.probabilities["p_angry"])
    p_disgust = factory.LazyAttribute(lambda o: o.probabilities["p_disgust"])
    p_fear = factory.LazyAttribute(lambda o: o.probabilities["p_fear"])
    p_happy = factory.LazyAttribute(lambda o: o.probabilities["p_happy"])
    p_sad = factory.LazyAttribute(lambda o: o.probabilities["p_sad"])
    p_surprise = factory.LazyAttribute(lambda o: o.probabilities["p_surprise"])
    p_neutral = factory.LazyAttribute(lambda o: o.probabilities["p_neutral"])


class TimelineBucketFactory(_TimeSliceFactory):
    """An empty 10 s window (no frames, no faces); pass the counts a test reads."""

    class Meta:
        model = TimelineBucket

    class Params:
        seconds = 10.0

    emotion_counts = factory.LazyFunction(lambda: {e: 0 for e in EMOTIONS})
    emotion_shares = factory.LazyFunction(lambda: {e: 0.0 for e in EMOTIONS})
    mean_probabilities = factory.LazyFunction(lambda: {e: 0.0 for e in EMOTIONS})


class MomentFactory(factory.django.DjangoModelFactory):
    """A named range [0, 10) s of a queued analysis' footage; the rules (a succeeded analysis, inside the
    footage) are analysis.services.moment_create's, so use it where a test is about them."""

    class Meta:
        model = Moment

    analysis = factory.SubFactory(AnalysisFactory)
    name = factory.Sequence(lambda n: f"Moment {n}")
    t_start = 0.0
    t_end = 10.0


# --- ml ----------------------------------------------------------------------------------------------


class DatasetFactory(factory.django.DjangoModelFactory):
    """A ready, labelled training set's row with NO files behind it (source_path does not exist).
    Tests that read images import a real set through `ml.services.dataset_import`."""

    class Meta:
        model = Dataset

    name = factory.Sequence(lambda n: f"dataset-{n}")
    kind = Dataset.Kind.TRAINING
    source_path = factory.LazyAttribute(lambda d: f"/nonexistent/{d.name}")
    format = "class_folders"
    n_images = 70
    class_counts = factory.LazyFunction(lambda: {label: 10 for label in EMOTIONS})
    split_counts = factory.LazyFunction(lambda: {"val": 70})


class AuditDatasetFactory(DatasetFactory):
    """An unlabelled audit set's row, with group attributes."""

    kind = Dataset.Kind.AUDIT
    format = "manifest"
    labelled = False
    n_images = 30
    class_counts = factory.LazyFunction(lambda: {label: 0 for label in EMOTIONS})
    split_counts = factory.LazyFunction(lambda: {"all": 30})
    attributes = factory.LazyFunction(lambda: {"gender": {"female": 15, "male": 15}})


class ModelActivationFactory(factory.django.DjangoModelFactory):
    """A log row only: it does not make the version active (`ml.registry.activate_version` does)."""

    class Meta:
        model = ModelActivation

    model_version = factory.SubFactory(ModelVersionFactory)


class _ModelCheckFactory(factory.django.DjangoModelFactory):
    """A queued check of a (registry-only) model version on a server path that does not exist."""

    class Meta:
        abstract = True

    model_version = factory.SubFactory(ModelVersionFactory)
    status = JobStatus.QUEUED


class EvaluationFactory(_ModelCheckFactory):
    class Meta:
        model = Evaluation

    data_path = "/data/val"


class BiasAuditFactory(_ModelCheckFactory):
    class Meta:
        model = BiasAudit

    data_path = "/data/audit"


class TrainingRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TrainingRun

    dataset = factory.SubFactory(DatasetFactory)
    config = factory.LazyFunction(lambda: {"preset": "tiny", "epochs": 2, "batch_size": 32, "learning_rate": 0.05,
                                           "augmentation": "none"})
    status = JobStatus.QUEUED


class TuningRunFactory(factory.django.DjangoModelFactory):
    """A queued search's row (nothing is enqueued: use ml.services.tuning_run_start for that)."""

    class Meta:
        model = TuningRun

    dataset = factory.SubFactory(DatasetFactory)
    algorithm = TuningRun.Algorithm.RANDOM
    max_trials = 2
    epochs_per_trial = 1
    batch_size = 16
    status = JobStatus.QUEUED


# --- webhooks ----------------------------------------------------------------------------------------


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    """An active endpoint subscribed to every event, at an address nothing listens on."""

    class Meta:
        model = WebhookEndpoint

    organisation = factory.SubFactory(OrganisationFactory)
    url = factory.Sequence(lambda n: f"https://hooks.example.com/emo7ion/{n}")
    events = factory.LazyFunction(lambda: list(Event.values))


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    """A pending delivery row of an analysis.succeeded event (nothing is sent)."""

    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    event = Event.ANALYSIS_SUCCEEDED
    subject = factory.Sequence(lambda n: f"analysis:{n}")
    body = factory.LazyAttribute(lambda d: '{"event":"%s","subject":"%s"}' % (d.event, d.subject))
