"""Moments through API v1: mark, list, compare and delete named time ranges of an analysis; the
refusals name their field; another organisation's analysis is a 404; the schema documents it all."""
from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from accounts.models import Role
from analysis.models import Moment
from tests.factories import AnalysisFactory, member_of
from tests.reports.conftest import make_crowd_analysis

from .conftest import client_for

pytestmark = pytest.mark.django_db


def url(analysis, rest: str = "") -> str:
    return f"/api/v1/analyses/{analysis.pk}/moments/{rest}"


def test_mark_list_compare_and_delete(crowd, crowd_analyst):
    client = client_for(crowd_analyst)
    created = client.post(url(crowd), {"name": "After the break", "t_start": 10, "t_end": 18}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["analysis"], body["name"], body["t_start"], body["t_end"]) == (crowd.pk, "After the break", 10.0, 18.0)
    stats = body["statistics"]
    assert stats["tracks"] == 10 and stats["observations"] == 160 and not stats["too_few_tracks"]
    assert stats["shares"]["happy"]["value"] == pytest.approx(0.7)
    low, high = stats["shares"]["happy"]["interval"]
    assert low < 0.7 < high
    assert stats["attention"]["value"] == pytest.approx(0.9) and stats["attention"]["observations_with_pose"] == 160
    assert stats["valence"]["value"] > 0 and len(stats["valence"]["interval"]) == 2
    assert client.post(url(crowd), {"name": "Before the break", "t_start": 0, "t_end": 10},
                       format="json").status_code == 201

    listed = client.get(url(crowd)).json()
    assert listed["count"] == 2
    assert [m["name"] for m in listed["results"]] == ["Before the break", "After the break"]   # time order

    comparison = client.get(url(crowd, "comparison/")).json()
    before, after = (m["id"] for m in comparison["moments"])
    assert comparison["analysis"] == crowd.pk and "valence" in comparison["names"]
    (pair,) = comparison["differences"]
    assert (pair["first"], pair["second"]) == (before, after)
    assert {"happy", "sad", "valence"} <= set(pair["flagged"])
    happy = next(m for m in pair["metrics"] if m["metric"] == "happy")
    assert happy["difference"] == pytest.approx(0.7) and happy["separated"] and happy["p_value"] < 0.01
    attention = next(m for m in pair["metrics"] if m["metric"] == "attention")
    assert not attention["flagged"]
    assert comparison["method"]["alpha"] == 0.05

    assert client.delete(url(crowd, f"{after}/")).status_code == 204
    assert [m["name"] for m in client.get(url(crowd)).json()["results"]] == ["Before the break"]
    assert client.get(url(crowd, "comparison/")).json()["differences"] == []
    assert client.delete(url(crowd, f"{after}/")).status_code == 404


@pytest.mark.parametrize("payload, field, words", [
    ({"name": "Backwards", "t_start": 8, "t_end": 5}, "t_end", "end after it starts"),
    ({"name": "Standing still", "t_start": 5, "t_end": 5}, "t_end", "end after it starts"),
    ({"name": "Past the end", "t_start": 10, "t_end": 60}, "t_end", "within the footage, which is 20.0 s long"),
    ({"name": "Before the start", "t_start": -2, "t_end": 5}, "t_start", "cannot start before"),
    ({"t_start": 0, "t_end": 5}, "name", "required"),
    ({"name": "   ", "t_start": 0, "t_end": 5}, "name", "may not be blank"),
    ({"name": "x" * 101, "t_start": 0, "t_end": 5}, "name", "no more than 100"),
    ({"name": "Soon", "t_start": "soon", "t_end": 5}, "t_start", "valid number"),
    ({"name": "No end", "t_start": 0}, "t_end", "required"),
])
def test_refusals_name_the_field(crowd, crowd_analyst, payload, field, words):
    response = client_for(crowd_analyst).post(url(crowd), payload, format="json")
    assert response.status_code == 400
    assert list(response.json()) == [field] and words in response.json()[field][0], response.json()
    assert not Moment.objects.exists()


def test_names_are_unique_per_analysis_and_only_a_succeeded_analysis_takes_moments(crowd, crowd_analyst):
    client = client_for(crowd_analyst)
    assert client.post(url(crowd), {"name": "Q&A", "t_start": 0, "t_end": 5}, format="json").status_code == 201
    again = client.post(url(crowd), {"name": "q&a", "t_start": 5, "t_end": 10}, format="json")
    assert again.status_code == 400 and "already has a moment called “q&a”" in again.json()["name"][0]
    running = AnalysisFactory(footage__project=crowd.footage.project, status="running")
    refused = client.post(url(running), {"name": "Early", "t_start": 0, "t_end": 5}, format="json")
    assert refused.status_code == 400 and "once the analysis has succeeded" in refused.json()["detail"]


def test_another_organisations_analysis_is_a_404(crowd, crowd_analyst):
    moment = Moment.objects.create(analysis=crowd, name="Opening act", t_start=0, t_end=10)
    outsider = member_of(AnalysisFactory().footage.project.organisation, Role.OWNER)
    client = client_for(outsider)
    for response in (client.get(url(crowd)), client.get(url(crowd, "comparison/")),
                     client.post(url(crowd), {"name": "Mine now", "t_start": 0, "t_end": 5}, format="json"),
                     client.delete(url(crowd, f"{moment.pk}/"))):
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    assert Moment.objects.filter(pk=moment.pk).exists() and Moment.objects.count() == 1

    # A moment is only found through its own analysis.
    own = make_crowd_analysis()
    owner = member_of(own.footage.project.organisation, Role.OWNER)
    assert client_for(owner).delete(url(own, f"{moment.pk}/")).status_code == 404


def test_viewers_read_moments_but_do_not_mark_them(crowd):
    Moment.objects.create(analysis=crowd, name="Opening act", t_start=0, t_end=10)
    client = client_for(member_of(crowd.footage.project.organisation, Role.VIEWER))
    assert client.get(url(crowd)).json()["results"][0]["statistics"]["tracks"] == 10
    refused = client.post(url(crowd), {"name": "Q&A", "t_start": 10, "t_end": 18}, format="json")
    assert refused.status_code == 403 and Moment.objects.count() == 1


def test_schema_documents_moments():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths, components = schema["paths"], schema["components"]["schemas"]
    create = paths["/api/v1/analyses/{id}/moments/"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/MomentCreateRequest")
    assert set(components["MomentCreateRequest"]["required"]) == {"name", "t_start", "t_end"}
    assert create["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/Moment")
    listed = paths["/api/v1/analyses/{id}/moments/"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["$ref"].endswith("/PaginatedMomentList")
    assert "204" in paths["/api/v1/analyses/{id}/moments/{moment_id}/"]["delete"]["responses"]
    comparison = paths["/api/v1/analyses/{id}/moments/comparison/"]["get"]["responses"]["200"]
    assert comparison["content"]["application/json"]["schema"]["$ref"].endswith("/MomentComparison")
    assert {"shares", "attention", "valence", "arousal", "too_few_tracks"} <= set(components["GroupStatistics"]["properties"])
    assert {"difference", "p_value", "separated", "flagged"} <= set(components["Difference"]["properties"])


def test_the_project_comparison_gives_each_footage_its_intervals_and_flags_changes():
    """Two footage of one project, a mixed crowd then an all-happy one: the API gives the report page's
    statistics, each footage's intervals, and flags the happy share and valence between them."""
    from tests.analysis.test_moments import finalized_crowd
    from tests.factories import ProjectFactory

    project = ProjectFactory()
    mixed = make_crowd_analysis(project=project)
    happy = finalized_crowd(project=project, faces_at=lambda t: [(k, "happy", 0.0) for k in range(12)],
                            name="encore.mp4")
    viewer = member_of(project.organisation, Role.VIEWER)
    answer = client_for(viewer).get(f"/api/v1/projects/{project.pk}/comparison/")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["project"] == project.pk
    assert [(a["id"], a["footage_name"]) for a in body["analyses"]] == [
        (mixed.pk, mixed.footage.original_name), (happy.pk, "encore.mp4")]
    mixed_happy = body["analyses"][0]["statistics"]["shares"]["happy"]
    assert mixed_happy["interval"] == mixed.summary["statistics"]["intervals"]["happy"]
    assert body["analyses"][1]["statistics"]["shares"]["happy"]["value"] == 1.0
    (pair,) = body["differences"]
    assert (pair["first"], pair["second"]) == (mixed.pk, happy.pk)
    assert {"happy", "valence"} <= set(pair["flagged"])

    outsider = member_of(ProjectFactory().organisation, Role.ANALYST)
    assert client_for(outsider).get(f"/api/v1/projects/{project.pk}/comparison/").status_code == 404
