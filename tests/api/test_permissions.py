"""Who may do what, for every operation of API v1: each role of organisation A, a platform admin
who belongs to no organisation, anonymous callers, and the owner of another organisation."""
import pytest

from .cases import CALLERS, CASES, ORG_DETAIL_CASES
from .conftest import client_for


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("caller", CALLERS)
def test_role_table(world, case, caller):
    response = case.send(client_for(world.users[caller]), world)
    expected = case.expected(caller)
    assert response.status_code == expected, (caller, case.id, getattr(response, "data", response.content[:300]))
    if expected in (403, 404):
        assert response["Content-Type"].startswith("application/json")
        assert response.json()["detail"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_anonymous_callers_are_refused(world, case):
    response = case.send(client_for(None), world)
    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize("case", ORG_DETAIL_CASES, ids=lambda c: c.id)
def test_another_organisations_object_is_a_404(world, case):
    """The owner of organisation B can do everything in B, and nothing at all to A's objects: each is
    a 404, exactly like an id that does not exist."""
    response = case.send(client_for(world.users["outsider"]), world)
    assert response.status_code == 404, (case.id, response.content[:300])
    assert response.json() == {"detail": "Not found."}


@pytest.mark.parametrize("case", ORG_DETAIL_CASES, ids=lambda c: c.id)
def test_the_same_operation_on_ones_own_organisation_works(world, case):
    """Control for the 404s above: B's owner reaching B's own objects through the same operation succeeds."""
    client = client_for(world.users["outsider"])
    url = case.template.format(**case.params(world, world.b)) + case.query
    body = case.data(world) if case.data else None
    if case.fmt == "raw":
        response = client.generic(case.method, url, body or b"", content_type="application/octet-stream")
    else:
        response = getattr(client, case.method.lower())(url, body, format="multipart" if case.fmt == "multipart" else "json")
    assert response.status_code == case.ok, (case.id, response.content[:300])


def test_webhook_list_shows_only_organisations_where_the_role_manages_webhooks(world):
    ids = lambda user: [e["id"] for e in client_for(user).get("/api/v1/webhooks/").json()["results"]]
    assert ids(world.users["owner"]) == [world.a.endpoint.pk]
    assert ids(world.users["admin"]) == [world.a.endpoint.pk]
    assert ids(world.users["analyst"]) == []
    assert ids(world.users["viewer"]) == []
    assert ids(world.users["outsider"]) == [world.b.endpoint.pk]


@pytest.mark.parametrize("path", ["/api/v1/projects/", "/api/v1/footage/", "/api/v1/analyses/",
                                  "/api/v1/organisations/"])
def test_lists_hold_only_the_callers_organisations(world, path):
    def names(user):
        return {row.get("organisation") or row.get("slug") or row.get("project") for row in
                client_for(user).get(path).json()["results"]}

    a_rows = client_for(world.users["viewer"]).get(path).json()["results"]
    b_rows = client_for(world.users["outsider"]).get(path).json()["results"]
    assert a_rows and b_rows
    assert not {r["id"] for r in a_rows} & {r["id"] for r in b_rows}
    assert client_for(world.users["staff"]).get(path).json()["results"] == []


def test_payload_naming_another_organisations_object_reads_like_a_missing_one(world):
    """Creating inside B's project or from B's footage, as A's owner: the same 400 as for an id or
    slug that does not exist, so the answer confirms nothing."""
    client = client_for(world.users["owner"])
    theirs = client.post("/api/v1/analyses/", {"footage": world.b.footage.pk}, format="json")
    missing = client.post("/api/v1/analyses/", {"footage": 987654}, format="json")
    assert theirs.status_code == missing.status_code == 400
    assert theirs.json()["footage"][0].replace(str(world.b.footage.pk), "N") == \
        missing.json()["footage"][0].replace("987654", "N")
    theirs = client.post("/api/v1/projects/", {"organisation": world.b.org.slug, "name": "x"}, format="json")
    missing = client.post("/api/v1/projects/", {"organisation": "no-such-org", "name": "x"}, format="json")
    assert theirs.status_code == missing.status_code == 400
    assert theirs.json()["organisation"][0].replace(world.b.org.slug, "S") == \
        missing.json()["organisation"][0].replace("no-such-org", "S")
