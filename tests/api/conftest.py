"""A small world for API tests: organisation A with one member per role, organisation B with its
own owner (the outsider), a platform admin who belongs to no organisation, and one of every
object the API serves, in both organisations."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.services import api_token_create
from analysis.models import Analysis, FaceObservation, TimelineBucket
from ml import registry
from ml.engine.labels import EMOTIONS
from ml.models import BiasAudit, Dataset, Evaluation, JobStatus
from tests.factories import (AnalysisFactory, FootageFactory, InvitationFactory, MembershipFactory,
                             LiveSessionFactory, ModelVersionFactory, MomentFactory, OrganisationFactory,
                             ProjectFactory, UserFactory, member_of)
from webhooks.models import Event, WebhookDelivery, WebhookEndpoint

ROLES = (Role.OWNER, Role.ADMIN, Role.ANALYST, Role.VIEWER)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Stored files (and the local copies validation makes) of each test in its own folder; a worker
    started by the test gets the same MEDIA_ROOT."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMO7ION_CACHE_DIR = str(tmp_path / "cache")
    return tmp_path / "media"


@pytest.fixture(autouse=True)
def local_webhook_receivers(settings):
    """Test receivers listen on 127.0.0.1, which production refuses (see test_webhooks)."""
    settings.EMO7ION_WEBHOOK_ALLOW_PRIVATE = True


@pytest.fixture(autouse=True)
def fresh_throttle_counters():
    """Throttle counters live in the cache; each test starts from zero."""
    cache.clear()
    yield
    cache.clear()


def client_for(user=None) -> APIClient:
    """An API client that authenticates the way integrators do: with the user's token."""
    client = APIClient()
    if user is not None:
        _, token = api_token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def png_bytes(size: int = 32) -> bytes:
    ok, buf = cv2.imencode(".png", np.full((size, size, 3), 127, np.uint8))
    assert ok
    return buf.tobytes()


def add_results(analysis: Analysis, n_frames: int = 10, tracks: int = 3) -> None:
    """Observations (one per track per frame, half a second apart) and two timeline buckets."""
    rows = []
    for f in range(n_frames):
        for track in range(tracks):
            top = EMOTIONS[(f + track) % len(EMOTIONS)]
            probs = {f"p_{e}": (0.7 if e == top else 0.05) for e in EMOTIONS}
            rows.append(FaceObservation(analysis=analysis, segment_index=0, t=f * 0.5, frame_index=f * 12,
                                        track_id=track, x=10 * track, y=5, w=40, h=40, detector_score=0.9,
                                        top_emotion=top, **probs))
    FaceObservation.objects.bulk_create(rows)
    half = n_frames * 0.5 / 2
    for i in range(2):
        TimelineBucket.objects.create(analysis=analysis, index=i, t_start=i * half, t_end=(i + 1) * half,
                                      frames=n_frames // 2, faces=len(rows) // 2, mean_faces_per_frame=tracks,
                                      unique_tracks=tracks, emotion_counts={"happy": 3},
                                      emotion_shares={"happy": 0.2}, mean_probabilities={"happy": 0.2})


@dataclass
class Side:
    """One organisation's objects."""

    org: object
    project: object = None
    footage: object = None
    uploading_footage: object = None
    analysis: object = None
    queued_analysis: object = None
    endpoint: object = None
    delivery: object = None
    membership: object = None      # a viewer who is neither the caller nor an owner
    invitation: object = None
    live_session: object = None    # a running stream-URL session
    moment: object = None          # a moment marked on `analysis`


@dataclass
class World:
    a: Side
    b: Side
    users: dict = field(default_factory=dict)   # role -> user in A; "outsider" (owner of B); "staff"
    model_version: object = None                # active
    previous_version: object = None             # active before it (rollback target)
    candidate_version: object = None            # evaluated and audited, not active
    evaluation: object = None
    audit: object = None
    labelled_dataset: object = None
    audit_dataset: object = None


def _side(org, model_version) -> Side:
    side = Side(org=org)
    side.project = ProjectFactory(organisation=org)
    side.footage = FootageFactory(project=side.project, file=f"org-{org.pk}/project-{side.project.pk}/footage/x.mp4")
    side.uploading_footage = FootageFactory(project=side.project, status="uploading", size_bytes=4,
                                            file=f"org-{org.pk}/project-{side.project.pk}/footage/partial.mp4")
    side.analysis = AnalysisFactory(footage=side.footage, model_version=model_version, status="succeeded",
                                    progress=1.0, summary={"faces_detected": 30})
    add_results(side.analysis)
    side.moment = MomentFactory(analysis=side.analysis, name="Opening act", t_start=0.0, t_end=2.5)
    side.queued_analysis = AnalysisFactory(footage=side.footage, model_version=model_version)
    side.endpoint = WebhookEndpoint.objects.create(organisation=org, url="http://127.0.0.1:9/hook",
                                                   events=[Event.ANALYSIS_SUCCEEDED])
    side.delivery = WebhookDelivery.objects.create(endpoint=side.endpoint, event=Event.ANALYSIS_SUCCEEDED,
                                                   subject=f"analysis:{side.analysis.pk}", body='{"ok": true}',
                                                   status="failed", attempts=6)
    side.membership = MembershipFactory(organisation=org, role=Role.VIEWER)
    side.invitation = InvitationFactory(organisation=org)
    side.live_session = LiveSessionFactory(analysis__footage=FootageFactory(project=side.project),
                                           analysis__model_version=model_version)
    return side


@pytest.fixture
def world(db) -> World:
    previous = ModelVersionFactory()
    registry.activate_version(previous)
    current = ModelVersionFactory()
    registry.activate_version(current)
    candidate = ModelVersionFactory()
    labelled = Dataset.objects.create(name="labelled-set", kind="training", n_images=70, labelled=True,
                                      class_counts={e: 10 for e in EMOTIONS})
    audit_set = Dataset.objects.create(name="audit-set", kind="audit", n_images=40, labelled=False,
                                       attributes={"gender": {"female": 20, "male": 20}})
    evaluation = Evaluation.objects.create(model_version=candidate, dataset=labelled, status=JobStatus.SUCCEEDED,
                                           metrics={"accuracy": 0.7})
    audit = BiasAudit.objects.create(model_version=candidate, dataset=audit_set, status=JobStatus.SUCCEEDED,
                                     verdict="pass", attributes=["gender"])

    org_a, org_b = OrganisationFactory(name="Alpha Events"), OrganisationFactory(name="Beta Venues")
    w = World(a=_side(org_a, current), b=_side(org_b, current), model_version=current, previous_version=previous,
              candidate_version=candidate, evaluation=evaluation, audit=audit, labelled_dataset=labelled,
              audit_dataset=audit_set)
    for role in ROLES:
        w.users[role] = member_of(org_a, role, username=f"a-{role}")
    w.users["outsider"] = member_of(org_b, Role.OWNER, username="b-owner")
    w.users["staff"] = UserFactory(username="platform-admin", is_staff=True)
    return w


class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it receives and answers with the next
    status code from `answers` (200 once they run out)."""

    def __init__(self, answers=()):
        self.answers = list(answers)
        self.requests: list[dict] = []
        self.received = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(f"answered {code}".encode())
                receiver.received.set()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/emo7ion-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def _make(answers=()):
        r = Receiver(answers)
        made.append(r)
        return r

    yield _make
    for r in made:
        r.close()
