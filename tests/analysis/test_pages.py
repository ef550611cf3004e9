"""The pages: dashboard, projects, upload form, starting analyses, the analysis page and the small
JSON endpoints the pages poll."""
from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from accounts.models import Role
from analysis import services
from analysis.models import Analysis, Footage, Project
from tests.factories import ProjectFactory, member_of

from .conftest import clip, upload

PAGES_NEEDING_LOGIN = ["dashboard", "project-list"]


@pytest.mark.parametrize("name", PAGES_NEEDING_LOGIN)
def test_pages_need_sign_in(client, db, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response.url.startswith(reverse("login"))


def test_object_pages_need_sign_in(client, project_a, alice, model_version):
    footage = upload(project_a, clip("07_*"), alice)
    analysis = services.analysis_create(footage=footage, created_by=alice, enqueue=False)
    for url in [reverse("project-detail", args=[project_a.pk]), reverse("project-status", args=[project_a.pk]),
                reverse("analysis-detail", args=[analysis.pk]), reverse("analysis-status", args=[analysis.pk])]:
        response = client.get(url)
        assert response.status_code == 302 and reverse("login") in response.url, url


def test_dashboard_shows_my_organisations_projects_and_recent_analyses(client, alice, org_a, project_a, model_version):
    footage = upload(project_a, clip("07_*"), alice)
    analysis = services.analysis_create(footage=footage, created_by=alice, enqueue=False)
    client.force_login(alice)
    html = client.get("/").content.decode()
    assert "Org A" in html and "Analyst" in html
    assert reverse("project-detail", args=[project_a.pk]) in html and "Festival A" in html
    assert reverse("analysis-detail", args=[analysis.pk]) in html and footage.original_name in html


def test_analyst_creates_a_project_in_their_organisation(client, alice, org_a):
    client.force_login(alice)
    response = client.post(reverse("project-list"), {"organisation": org_a.pk, "name": "Summer gig",
                                                     "description": "main stage"})
    project = Project.objects.get(name="Summer gig")
    assert response.status_code == 302 and response.url == reverse("project-detail", args=[project.pk])
    assert project.organisation == org_a and project.created_by == alice
    assert "Summer gig" in client.get(reverse("project-list")).content.decode()


def test_viewer_cannot_create_projects_or_upload(client, org_a, project_a):
    viewer = member_of(org_a, Role.VIEWER)
    client.force_login(viewer)
    page = client.get(reverse("project-list")).content.decode()
    assert "New project" not in page
    assert client.post(reverse("project-list"), {"organisation": org_a.pk, "name": "x"}).status_code == 403
    detail = client.get(reverse("project-detail", args=[project_a.pk])).content.decode()
    assert 'id="upload-form"' not in detail
    with open(clip("07_*"), "rb") as fh:
        assert client.post(reverse("footage-upload", args=[project_a.pk]), {"file": fh}).status_code == 403
    assert not Footage.objects.exists()


def test_project_page_has_an_upload_form_with_a_progress_bar(client, alice, project_a):
    client.force_login(alice)
    html = client.get(reverse("project-detail", args=[project_a.pk])).content.decode()
    assert 'id="upload-form"' in html and 'enctype="multipart/form-data"' in html
    assert f'action="{reverse("footage-upload", args=[project_a.pk])}"' in html
    assert 'id="upload-progress"' in html and 'role="progressbar"' in html
    assert "/static/analysis/analysis.js" in html
    js = client.get("/static/analysis/analysis.js")
    assert js.status_code == 200
    body = b"".join(js.streaming_content) if js.streaming else js.content
    assert b"upload.addEventListener(\"progress\"" in body  # real XHR upload progress


def test_upload_through_the_form_stores_ready_footage(client, alice, project_a):
    client.force_login(alice)
    path = clip("07_*")
    with open(path, "rb") as fh:
        response = client.post(reverse("footage-upload", args=[project_a.pk]), {"file": fh})
    assert response.status_code == 302
    footage = Footage.objects.get()
    assert footage.status == "ready" and footage.project == project_a and footage.uploaded_by == alice
    page = client.get(response.url).content.decode()
    assert path.name in page and f"{path.name} uploaded and ready to analyse." in page
    assert f'action="{reverse("analysis-start", args=[footage.pk])}"' in page  # it can be analysed now


def test_xhr_upload_answers_json_and_a_rejection_keeps_its_reason(client, alice, project_a, tmp_path):
    client.force_login(alice)
    with open(clip("07_*"), "rb") as fh:
        ok = client.post(reverse("footage-upload", args=[project_a.pk]), {"file": fh},
                         headers={"x-requested-with": "XMLHttpRequest"})
    assert ok.status_code == 201 and ok.json()["status"] == "ready"

    bad = tmp_path / "holiday.mp4"
    bad.write_text("not really a video")
    with open(bad, "rb") as fh:
        rejected = client.post(reverse("footage-upload", args=[project_a.pk]), {"file": fh},
                               headers={"x-requested-with": "XMLHttpRequest"})
    assert rejected.status_code == 422
    assert rejected.json()["status"] == "rejected"
    assert "holiday.mp4 is not a video or image" in rejected.json()["rejection_reason"]
    page = client.get(reverse("project-detail", args=[project_a.pk])).content.decode()
    assert "holiday.mp4 is not a video or image" in page  # the reason stays on the project page


def test_upload_without_a_file_says_so(client, alice, project_a):
    client.force_login(alice)
    response = client.post(reverse("footage-upload", args=[project_a.pk]), {},
                           headers={"x-requested-with": "XMLHttpRequest"})
    assert response.status_code == 400 and "required" in response.json()["error"]


def test_start_analysis_form_queues_an_analysis_after_commit(client, alice, project_a, model_version,
                                                            django_capture_on_commit_callbacks):
    footage = upload(project_a, clip("07_*"), alice)
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("analysis-start", args=[footage.pk]), {"detector": "haar", "sample_fps": "3"})
    analysis = Analysis.objects.get()
    assert response.status_code == 302 and response.url == reverse("analysis-detail", args=[analysis.pk])
    assert (analysis.detector, analysis.sample_fps, analysis.status) == ("haar", 3.0, "queued")
    assert analysis.created_by == alice and analysis.model_version == model_version
    assert len(callbacks) == 1


def test_start_analysis_with_bad_input_explains(client, alice, project_a, model_version):
    footage = upload(project_a, clip("07_*"), alice)
    client.force_login(alice)
    response = client.post(reverse("analysis-start", args=[footage.pk]), {"detector": "haar", "sample_fps": "500"},
                           follow=True)
    assert not Analysis.objects.exists()
    assert "less than or equal to 30" in response.content.decode()


def test_analysis_page_while_running_polls_and_has_no_chart(client, alice, project_a, model_version):
    footage = upload(project_a, clip("07_*"), alice)
    analysis = services.analysis_create(footage=footage, created_by=alice, enqueue=False)
    services.analysis_plan(analysis_id=analysis.pk)
    Analysis.objects.filter(pk=analysis.pk).update(progress=0.42)
    client.force_login(alice)
    html = client.get(reverse("analysis-detail", args=[analysis.pk])).content.decode()
    assert "Running" in html and 'data-progress-state="running"' in html
    assert f'data-progress-url="{reverse("analysis-status", args=[analysis.pk])}"' in html
    assert "fig-timeline" not in html and "plotly.min.js" not in html
    status = client.get(reverse("analysis-status", args=[analysis.pk])).json()
    assert status == {"id": analysis.pk, "status": "running", "status_label": "Running", "progress": 0.42,
                      "error": "", "finished": False, "segments_done": 0, "segment_count": 1}
    project_status = client.get(reverse("project-status", args=[project_a.pk])).json()
    assert project_status["analyses"] == [status]


def test_analysis_page_shows_summary_and_a_plotly_timeline(client, alice, project_a, model_version):
    footage = upload(project_a, clip("07_*"), alice)
    analysis = services.analysis_run_inline(
        analysis=services.analysis_create(footage=footage, created_by=alice, detector="haar", sample_fps=5,
                                          enqueue=False))
    assert analysis.status == "succeeded", analysis.error
    client.force_login(alice)
    html = client.get(reverse("analysis-detail", args=[analysis.pk])).content.decode()
    assert "Succeeded" in html and 'id="summary"' in html
    assert f'<div class="v">{analysis.summary["faces_detected"]}</div>' in html
    assert '<script src="/static/plotly/plotly.min.js">' in html  # local copy, never a CDN
    assert "cdn" not in html.lower()
    # The report's timeline chart (the one timeline builder): stacked shares per stored bucket.
    timeline = json.loads(re.search(r'<script type="application/json" class="js-figure" data-target="fig-timeline">'
                                    r'(.*?)</script>', html, re.S).group(1))
    bars = [t for t in timeline["data"] if t["type"] == "bar"]
    assert [t["name"] for t in bars] == ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    assert timeline["layout"]["barmode"] == "stack"
    shown = [y for trace in bars for y in trace["y"] if y]
    assert shown and sum(shown) == pytest.approx(1.0 * sum(1 for b in analysis.buckets.all() if b.faces), rel=1e-3)
    # The colours are the shared palette's.
    from emo7ion_site.plotting import EMOTION_COLOURS
    assert {t["name"]: t["marker"]["color"] for t in bars} == EMOTION_COLOURS
    assert client.get("/static/plotly/plotly.min.js").status_code == 200


def test_cancel_from_the_page(client, alice, project_a, model_version):
    footage = upload(project_a, clip("07_*"), alice)
    analysis = services.analysis_create(footage=footage, created_by=alice, enqueue=False)
    client.force_login(alice)
    assert "Cancel analysis" in client.get(reverse("analysis-detail", args=[analysis.pk])).content.decode()
    response = client.post(reverse("analysis-cancel", args=[analysis.pk]))
    assert response.status_code == 302
    analysis.refresh_from_db()
    assert analysis.status == "cancelled" and "alice" in analysis.error
