"""Every API v1 operation, with the request that exercises it and the answer each kind of caller
gets. The permission, cross-organisation and anonymous tests all read this one table, and a
test checks that it covers every operation in the OpenAPI schema."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role

from .conftest import png_bytes

MEMBERS = (Role.OWNER, Role.ADMIN, Role.ANALYST, Role.VIEWER)
ANALYSTS = (Role.OWNER, Role.ADMIN, Role.ANALYST)   # upload, analyse, manage projects
ADMINS = (Role.OWNER, Role.ADMIN)                   # members, webhooks
OWNERS = (Role.OWNER,)                              # organisation settings
CALLERS = (*MEMBERS, "staff")


def fer_csv() -> SimpleUploadedFile:
    """A FER2013-format CSV: 14 faces (two per emotion) of 48×48 grey pixels."""
    lines = ["emotion,pixels,Usage"]
    for label in range(7):
        for k in range(2):
            lines.append(f"{label},{' '.join(str((i * (label + 3) + k) % 256) for i in range(48 * 48))},Training")
    return SimpleUploadedFile("tiny-fer.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")


@dataclass
class Case:
    method: str
    template: str                      # the schema's path template
    params: Callable = lambda w: {}    # world -> path parameters (organisation A's objects)
    data: Callable | None = None       # world -> request body
    fmt: str = "json"                  # json | multipart | raw
    ok: int = 200
    allowed: tuple = MEMBERS           # roles (and "staff") that succeed
    staff: int | None = None           # what a platform admin outside organisation A gets, if not `ok`
    query: str = ""

    @property
    def id(self) -> str:
        return f"{self.method} {self.template}{self.query}"

    def url(self, w, side: str = "a") -> str:
        return self.template.format(**self.params(w, getattr(w, side)) if self._two_args() else self.params(w)) \
            + self.query

    def _two_args(self) -> bool:
        return self.params.__code__.co_argcount == 2

    def expected(self, caller: str) -> int:
        if caller in self.allowed:
            return self.ok
        if caller == "staff":
            return self.staff if self.staff is not None else 404
        return 403

    def send(self, client, w):
        url = self.url(w)
        body = self.data(w) if self.data else None
        if self.fmt == "raw":
            return client.generic(self.method, url, body or b"", content_type="application/octet-stream")
        if self.fmt == "multipart":
            return getattr(client, self.method.lower())(url, body or {}, format="multipart")
        return getattr(client, self.method.lower())(url, body, format="json")


# Path parameters: (world, side) -> dict, so the cross-organisation test can point them at the
# other organisation's objects.
def org(w, s): return {"slug": s.org.slug}
def project(w, s): return {"id": s.project.pk}
def footage(w, s): return {"id": s.footage.pk}
def uploading(w, s): return {"id": s.uploading_footage.pk}
def analysis(w, s): return {"id": s.analysis.pk}
def queued(w, s): return {"id": s.queued_analysis.pk}
def endpoint(w, s): return {"id": s.endpoint.pk}
def member(w, s): return {"slug": s.org.slug, "membership_id": s.membership.pk}
def invitation(w, s): return {"slug": s.org.slug, "invitation_id": s.invitation.pk}
def delivery(w, s): return {"id": s.endpoint.pk, "delivery_id": s.delivery.pk}
def live(w, s): return {"id": s.live_session.pk}
def marked_moment(w, s): return {"id": s.analysis.pk, "moment_id": s.moment.pk}


V1 = "/api/v1"
CASES = [
    # Organisations, members, invitations
    Case("GET", f"{V1}/organisations/", staff=200),
    Case("GET", f"{V1}/organisations/{{slug}}/", org),
    Case("PATCH", f"{V1}/organisations/{{slug}}/", org, lambda w: {"blur_faces": False}, allowed=OWNERS),
    Case("GET", f"{V1}/organisations/{{slug}}/members/", org),
    Case("PATCH", f"{V1}/organisations/{{slug}}/members/{{membership_id}}/", member,
         lambda w: {"role": "analyst"}, allowed=ADMINS),
    Case("DELETE", f"{V1}/organisations/{{slug}}/members/{{membership_id}}/", member, ok=204, allowed=ADMINS),
    Case("GET", f"{V1}/organisations/{{slug}}/invitations/", org, allowed=ADMINS),
    Case("POST", f"{V1}/organisations/{{slug}}/invitations/", org,
         lambda w: {"email": "new.person@example.com", "role": "viewer"}, ok=201, allowed=ADMINS),
    Case("DELETE", f"{V1}/organisations/{{slug}}/invitations/{{invitation_id}}/", invitation, ok=204,
         allowed=ADMINS),
    # Projects and footage
    Case("GET", f"{V1}/projects/", staff=200),
    Case("POST", f"{V1}/projects/", data=lambda w: {"organisation": w.a.org.slug, "name": "Spring fair"},
         ok=201, allowed=ANALYSTS, staff=400),
    Case("GET", f"{V1}/projects/{{id}}/", project),
    Case("PATCH", f"{V1}/projects/{{id}}/", project, lambda w: {"name": "Renamed"}, allowed=ANALYSTS),
    Case("DELETE", f"{V1}/projects/{{id}}/", project, ok=204, allowed=ANALYSTS),
    Case("GET", f"{V1}/projects/{{id}}/footage/", project),
    Case("GET", f"{V1}/projects/{{id}}/comparison/", project),
    Case("POST", f"{V1}/projects/{{id}}/footage/", project,
         lambda w: {"file": SimpleUploadedFile("still.png", png_bytes(), content_type="image/png")},
         fmt="multipart", ok=201, allowed=ANALYSTS),
    Case("POST", f"{V1}/projects/{{id}}/footage/uploads/", project,
         lambda w: {"filename": "big-event.mp4", "size_bytes": 123456}, ok=201, allowed=ANALYSTS),
    Case("GET", f"{V1}/footage/", staff=200),
    Case("GET", f"{V1}/footage/{{id}}/", footage),
    Case("POST", f"{V1}/footage/{{id}}/complete/", footage, lambda w: {}, allowed=ANALYSTS),
    Case("PUT", f"{V1}/footage/{{id}}/content/", uploading, lambda w: b"abcd", fmt="raw", allowed=ANALYSTS),
    # Analyses
    Case("GET", f"{V1}/analyses/", staff=200),
    Case("POST", f"{V1}/analyses/", data=lambda w: {"footage": w.a.footage.pk}, ok=201, allowed=ANALYSTS,
         staff=400),
    Case("GET", f"{V1}/analyses/{{id}}/", analysis),
    Case("POST", f"{V1}/analyses/{{id}}/cancel/", queued, allowed=ANALYSTS),
    Case("GET", f"{V1}/analyses/{{id}}/timeline/", analysis),
    Case("GET", f"{V1}/analyses/{{id}}/observations/", analysis),
    Case("GET", f"{V1}/analyses/{{id}}/observations/", analysis, query="?format=csv"),
    Case("GET", f"{V1}/analyses/{{id}}/moments/", analysis),
    Case("POST", f"{V1}/analyses/{{id}}/moments/", analysis, lambda w: {"name": "Q&A", "t_start": 2.5, "t_end": 5.0},
         ok=201, allowed=ANALYSTS),
    Case("DELETE", f"{V1}/analyses/{{id}}/moments/{{moment_id}}/", marked_moment, ok=204, allowed=ANALYSTS),
    Case("GET", f"{V1}/analyses/{{id}}/moments/comparison/", analysis),
    # Platform records: read for members, write for platform admins
    Case("GET", f"{V1}/model-versions/", allowed=CALLERS),
    Case("GET", f"{V1}/model-versions/{{id}}/", lambda w: {"id": w.model_version.pk}, allowed=CALLERS),
    Case("POST", f"{V1}/model-versions/{{id}}/activate/", lambda w: {"id": w.candidate_version.pk}, lambda w: {},
         allowed=("staff",)),
    Case("POST", f"{V1}/model-versions/rollback/", allowed=("staff",)),
    Case("GET", f"{V1}/datasets/", allowed=CALLERS),
    Case("POST", f"{V1}/datasets/", data=lambda w: {"name": "tiny-fer", "file": fer_csv()}, fmt="multipart",
         ok=201, allowed=("staff",)),
    Case("GET", f"{V1}/datasets/{{id}}/", lambda w: {"id": w.labelled_dataset.pk}, allowed=CALLERS),
    Case("DELETE", f"{V1}/datasets/{{id}}/", lambda w: {"id": w.labelled_dataset.pk}, ok=204, allowed=("staff",)),
    Case("GET", f"{V1}/evaluations/", allowed=CALLERS),
    Case("POST", f"{V1}/evaluations/",
         data=lambda w: {"model_version": w.model_version.pk, "dataset": w.labelled_dataset.pk},
         ok=201, allowed=("staff",)),
    Case("GET", f"{V1}/evaluations/{{id}}/", lambda w: {"id": w.evaluation.pk}, allowed=CALLERS),
    Case("GET", f"{V1}/bias-audits/", allowed=CALLERS),
    Case("POST", f"{V1}/bias-audits/",
         data=lambda w: {"model_version": w.model_version.pk, "dataset": w.audit_dataset.pk},
         ok=201, allowed=("staff",)),
    Case("GET", f"{V1}/bias-audits/{{id}}/", lambda w: {"id": w.audit.pk}, allowed=CALLERS),
    # Webhooks: admins and owners
    Case("GET", f"{V1}/webhooks/", allowed=MEMBERS, staff=200),   # a list: others see none (tested apart)
    Case("POST", f"{V1}/webhooks/",
         data=lambda w: {"organisation": w.a.org.slug, "url": "https://example.com/hook",
                         "events": ["analysis.succeeded", "analysis.failed"]},
         ok=201, allowed=ADMINS, staff=400),
    Case("GET", f"{V1}/webhooks/{{id}}/", endpoint, allowed=ADMINS),
    Case("PATCH", f"{V1}/webhooks/{{id}}/", endpoint, lambda w: {"is_active": False}, allowed=ADMINS),
    Case("DELETE", f"{V1}/webhooks/{{id}}/", endpoint, ok=204, allowed=ADMINS),
    Case("GET", f"{V1}/webhooks/{{id}}/deliveries/", endpoint, allowed=ADMINS),
    Case("GET", f"{V1}/live-sessions/", staff=200),
    Case("POST", f"{V1}/live-sessions/", data=lambda w: {"project": w.a.project.pk, "setting": "audience",
                                                         "stream_url": "rtsp://camera.example/stage"},
         ok=201, allowed=ANALYSTS, staff=400),
    Case("GET", f"{V1}/live-sessions/{{id}}/", live),
    Case("POST", f"{V1}/live-sessions/{{id}}/pause/", live, lambda w: {}, allowed=ANALYSTS),
    Case("POST", f"{V1}/live-sessions/{{id}}/resume/", live, lambda w: {}, allowed=ANALYSTS),
    Case("POST", f"{V1}/live-sessions/{{id}}/stop/", live, lambda w: {}, ok=202, allowed=ANALYSTS),
    Case("POST", f"{V1}/images/", data=lambda w: {"url": "https://127.0.0.1/x.jpg"}, ok=400, allowed=ANALYSTS,
         staff=403),
    Case("POST", f"{V1}/webhooks/{{id}}/rotate-secret/", endpoint, allowed=ADMINS),
    Case("POST", f"{V1}/webhooks/{{id}}/deliveries/{{delivery_id}}/redeliver/", delivery, allowed=ADMINS),
]

# Operations whose path names an object of one organisation (a detail endpoint of organisation-owned data).
ORG_DETAIL_CASES = [c for c in CASES if c._two_args()]
