"""A member of organisation A can neither see nor change anything of organisation B, on every
page and through `manage.py analyse --project`. Another organisation's object is a 404."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import Role
from analysis import services
from analysis.models import Analysis, Footage, Project
from tests.factories import member_of

from .conftest import clip, upload


@pytest.fixture
def b_world(project_b, bob, model_version):
    """Organisation B's project, footage and a finished analysis."""
    footage = upload(project_b, clip("07_*"), bob, name="b-secret-clip.mp4")
    analysis = services.analysis_run_inline(analysis=services.analysis_create(
        footage=footage, created_by=bob, detector="haar", sample_fps=2, enqueue=False))
    assert analysis.status == "succeeded"
    running = services.analysis_create(footage=footage, created_by=bob, detector="haar", enqueue=False)
    return {"project": project_b, "footage": footage, "analysis": analysis, "running": running}


def b_urls(b):
    p, f, a, r = b["project"].pk, b["footage"].pk, b["analysis"].pk, b["running"].pk
    return {
        "get": [reverse("project-detail", args=[p]), reverse("project-status", args=[p]),
                reverse("analysis-detail", args=[a]), reverse("analysis-status", args=[a]),
                reverse("analysis-detail", args=[r]), reverse("analysis-status", args=[r])],
        "post": [reverse("footage-upload", args=[p]), reverse("analysis-start", args=[f]),
                 reverse("analysis-cancel", args=[r]), reverse("analysis-cancel", args=[a])],
    }


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.ANALYST, Role.VIEWER])
def test_every_page_of_another_organisation_is_a_404(client, org_a, b_world, role):
    member = member_of(org_a, role)
    client.force_login(member)
    urls = b_urls(b_world)
    for url in urls["get"]:
        assert client.get(url).status_code == 404, url
    for url in urls["post"]:
        with open(clip("07_*"), "rb") as fh:
            data = {"file": fh, "detector": "haar", "sample_fps": "2"}
            assert client.post(url, data).status_code == 404, url
    # Nothing changed in B.
    assert Footage.objects.filter(project=b_world["project"]).count() == 1
    assert Analysis.objects.filter(footage__project=b_world["project"]).count() == 2
    assert Analysis.objects.get(pk=b_world["running"].pk).status == "queued"


def test_lists_and_dashboard_show_nothing_of_another_organisation(client, alice, project_a, b_world):
    client.force_login(alice)
    for url in ["/", reverse("project-list")]:
        html = client.get(url).content.decode()
        assert "Festival A" in html
        assert "Secret B" not in html and "b-secret-clip.mp4" not in html and "Org B" not in html, url
        assert reverse("project-detail", args=[b_world["project"].pk]) not in html


def test_project_form_offers_only_my_organisations(client, alice, org_a, org_b, b_world):
    client.force_login(alice)
    html = client.get(reverse("project-list")).content.decode()
    assert f'value="{org_a.pk}"' in html and f'value="{org_b.pk}"' not in html
    response = client.post(reverse("project-list"), {"organisation": org_b.pk, "name": "Planted"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not Project.objects.filter(name="Planted").exists()


def test_a_member_of_both_sees_both(client, org_a, org_b, project_a, b_world):
    both = member_of(org_a, Role.VIEWER)
    from tests.factories import MembershipFactory
    MembershipFactory(user=both, organisation=org_b, role=Role.VIEWER)
    client.force_login(both)
    assert client.get(reverse("project-detail", args=[project_a.pk])).status_code == 200
    assert client.get(reverse("analysis-detail", args=[b_world["analysis"].pk])).status_code == 200
    # ...but a viewer may not change anything: seen, so 403 rather than 404.
    assert client.post(reverse("analysis-cancel", args=[b_world["running"].pk])).status_code == 403


def test_analyse_command_refuses_another_organisations_project(alice, project_a, b_world):
    path = str(clip("07_*"))
    before = Footage.objects.count()
    with pytest.raises(CommandError, match=f"Project {b_world['project'].pk} not found among the projects alice can use"):
        call_command("analyse", path, "--project", str(b_world["project"].pk), "--user", "alice", "--json",
                     stdout=io.StringIO())
    with pytest.raises(CommandError, match="Project 999999 not found"):
        call_command("analyse", path, "--project", "999999", "--user", "alice", stdout=io.StringIO())
    assert Footage.objects.count() == before  # nothing was stored anywhere


def test_analyse_command_refuses_a_viewer(org_a, project_a, model_version):
    viewer = member_of(org_a, Role.VIEWER, username="vera")
    with pytest.raises(CommandError, match="vera's role does not allow"):
        call_command("analyse", str(clip("07_*")), "--project", str(project_a.pk), "--user", "vera",
                     stdout=io.StringIO())
