"""Report pages: what a person sees, and that nobody sees another organisation's report."""
from __future__ import annotations

import json
import re

import pytest

from accounts.models import Role
from analysis.models import Analysis
from tests.factories import AnalysisFactory, FootageFactory, ProjectFactory, member_of

pytestmark = pytest.mark.django_db

REPORT_URLS = ("/analyses/{a}/report/", "/analyses/{a}/report/tracks/", "/analyses/{a}/status/",
               "/analyses/{a}/report/moments/0.jpg", "/analyses/{a}/export/observations.csv",
               "/analyses/{a}/export/timeline.csv", "/analyses/{a}/export/report.json", "/projects/{p}/report/")


def _urls(analysis):
    return [u.format(a=analysis.pk, p=analysis.footage.project_id) for u in REPORT_URLS]


def test_report_page_shows_figures_charts_moments_tracks_model_and_exports(client, viewer, scene_analysis):
    client.force_login(viewer)
    response = client.get(f"/analyses/{scene_analysis.pk}/report/")
    assert response.status_code == 200
    html = response.content.decode()
    # key figures with their definitions
    assert 'data-kpi="faces_seen">80<' in html and 'data-kpi="unique_faces">3<' in html
    assert 'data-kpi="positive_share">38%<' in html and 'data-kpi="neutral_share">25%<' in html
    assert "Share of face observations whose most likely expression is happy or surprise" in html
    assert "an expression is not a person&#x27;s inner state" in html or "an expression is not a person's inner state" in html
    # four charts, each a container plus its figure JSON
    figures = re.findall(r'<script type="application/json" class="js-figure" data-target="([\w-]+)">(.*?)</script>',
                         html, re.S)
    assert [f[0] for f in figures] == ["fig-timeline", "fig-crowd", "fig-distribution", "fig-heatmap"]
    for fid, payload in figures:
        assert f'class="js-plotly-plot chart" id="{fid}"' in html
        assert json.loads(payload)["data"]
    # plotly from this site, never a CDN
    assert "/static/plotly/plotly.min.js" in html and "cdn" not in html.lower()
    # key moments (this footage row has no stored file, so the page says why there are no thumbnails)
    assert "Happy / surprise peak</strong> at <time>0:05</time>" in html
    assert "Negative peak</strong> at <time>0:15</time>" in html
    assert "The raw footage is not stored" in html and "/report/moments/" not in html
    # the track table and exports are there
    assert html.count("<tr>") >= 3 and "#0</td>" in html
    for what in ("observations.csv", "timeline.csv", "report.json"):
        assert f"/analyses/{scene_analysis.pk}/export/{what}" in html
    assert scene_analysis.model_version.name in html and f"/ml/models/{scene_analysis.model_version.pk}/" in html
    assert "Faces are blurred" in html
    assert "{#" not in html and "{%" not in html and "#}" not in html


def test_tracks_partial_sorts_and_pages(client, viewer, scene_analysis):
    client.force_login(viewer)
    html = client.get(f"/analyses/{scene_analysis.pk}/report/tracks/?tracks_sort=-first").content.decode()
    assert html.strip().startswith("<section") and 'id="tracks"' in html
    assert [int(t) for t in re.findall(r"<td>#(\d+)</td>", html)] == [2, 0, 1]
    assert 'aria-sort="descending"' in html
    # the same table on the full page, for browsers without JavaScript
    page = client.get(f"/analyses/{scene_analysis.pk}/report/?tracks_sort=-first").content.decode()
    assert [int(t) for t in re.findall(r"<td>#(\d+)</td>", page)] == [2, 0, 1]


def test_running_analysis_shows_live_progress_not_results(client, viewer, scene_analysis):
    Analysis.objects.filter(pk=scene_analysis.pk).update(status=Analysis.Status.RUNNING, progress=0.42,
                                                          segment_count=4, segments_done=1)
    client.force_login(viewer)
    html = client.get(f"/analyses/{scene_analysis.pk}/report/").content.decode()
    # The one progress endpoint (analysis-status), polled by the one poller (analysis/progress.js).
    assert f'data-progress-url="/analyses/{scene_analysis.pk}/status/"' in html
    assert "42%" in html and "1 of 4 segments done" in html
    assert "js-figure" not in html and "Key figures" not in html
    assert "/static/analysis/progress.js" in html
    state = client.get(f"/analyses/{scene_analysis.pk}/status/").json()
    assert state["status"] == "running" and state["progress"] == 0.42 and state["finished"] is False


def test_failed_analysis_says_why(client, viewer, scene_analysis):
    Analysis.objects.filter(pk=scene_analysis.pk).update(status=Analysis.Status.FAILED,
                                                          error="The file is not a video.")
    client.force_login(viewer)
    html = client.get(f"/analyses/{scene_analysis.pk}/report/").content.decode()
    assert "The file is not a video." in html and "js-figure" not in html


def test_project_report_compares_analyses(client, viewer, scene_analysis):
    client.force_login(viewer)
    html = client.get(f"/projects/{scene_analysis.footage.project_id}/report/").content.decode()
    assert scene_analysis.footage.original_name in html
    assert 'data-target="fig-project-shares"' in html and 'data-target="fig-project-timeline"' in html
    assert f"/analyses/{scene_analysis.pk}/report/" in html


def test_empty_project_report(client, org_member):
    org, user = org_member
    project = org.projects.first()
    client.force_login(user)
    html = client.get(f"/projects/{project.pk}/report/").content.decode()
    assert "No footage of this project has a finished analysis yet" in html


def test_another_organisations_report_and_exports_are_404(client, scene_analysis):
    outsider = member_of(ProjectFactory().organisation, Role.OWNER)
    client.force_login(outsider)
    for url in _urls(scene_analysis):
        assert client.get(url).status_code == 404, url


def test_anonymous_visitors_are_sent_to_sign_in(client, scene_analysis):
    for url in _urls(scene_analysis):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"], url


def test_every_role_may_read_reports(client, scene_analysis):
    org = scene_analysis.footage.project.organisation
    for role in Role.values:
        client.force_login(member_of(org, role))
        assert client.get(f"/analyses/{scene_analysis.pk}/report/").status_code == 200, role


def test_thumbnail_of_a_frame_without_faces_is_404(client, viewer, scene_analysis):
    client.force_login(viewer)
    assert client.get(f"/analyses/{scene_analysis.pk}/report/moments/7.jpg").status_code == 404


def test_report_of_a_member_of_several_organisations(client, scene_analysis):
    user = member_of(scene_analysis.footage.project.organisation, Role.VIEWER)
    other = AnalysisFactory(footage=FootageFactory(), status=Analysis.Status.SUCCEEDED)
    client.force_login(user)
    assert client.get(f"/analyses/{other.pk}/report/").status_code == 404
    member_of(other.footage.project.organisation, Role.VIEWER, username=user.username + "-x")
    assert client.get(f"/analyses/{scene_analysis.pk}/report/").status_code == 200


def test_analysis_page_includes_the_report_without_repeating_itself(client, viewer, scene_analysis):
    """/analyses/<id>/ (the foundation's page) shows the report body under its own summary and timeline."""
    client.force_login(viewer)
    html = client.get(f"/analyses/{scene_analysis.pk}/").content.decode()
    assert 'id="analysis-status"' in html                       # their status card stays
    assert 'id="moments"' in html and 'id="tracks"' in html and 'id="model"' in html and 'id="exports"' in html
    targets = re.findall(r'class="js-figure" data-target="([\w-]+)"', html)
    # one builder per chart: the page's timeline is the report's, drawn once
    assert targets == ["fig-timeline", "fig-crowd", "fig-distribution", "fig-heatmap"]
    assert 'id="figures-data"' not in html and 'id="emotion-timeline"' not in html
    assert 'data-kpi="positive_share"' in html and "Face observations: every face found" in html
    assert f'href="/analyses/{scene_analysis.pk}/report/"' in html
    assert "{#" not in html and "{%" not in html and "#}" not in html   # no template text leaks
    assert html.count("/static/plotly/plotly.min.js") == 1 and "/static/js/emo7ion-charts.js" in html
    # sorting the track table from the analysis page keeps the reader on it
    sorted_html = client.get(f"/analyses/{scene_analysis.pk}/?tracks_sort=-first").content.decode()
    assert [int(t) for t in re.findall(r"<td>#(\d+)</td>", sorted_html)] == [2, 0, 1]


def test_analysis_page_of_a_running_analysis_has_no_report(client, viewer, scene_analysis):
    Analysis.objects.filter(pk=scene_analysis.pk).update(status=Analysis.Status.RUNNING, progress=0.3)
    client.force_login(viewer)
    html = client.get(f"/analyses/{scene_analysis.pk}/").content.decode()
    assert 'id="moments"' not in html and "js-figure" not in html and "emo7ion-charts.js" not in html


def test_report_of_a_still_image(client, db):
    """A photo: one frame at t=0. Key figures and the distribution, no time charts pretending otherwise."""
    from analysis.models import FaceObservation, Footage
    from tests.factories import ModelVersionFactory

    from .conftest import probs_for, store_timeline

    footage = FootageFactory(kind=Footage.Kind.IMAGE, duration_s=0.0, fps=None, frame_count=1)
    analysis = AnalysisFactory(footage=footage, model_version=ModelVersionFactory(), sample_fps=2.0,
                               status=Analysis.Status.SUCCEEDED)
    FaceObservation.objects.bulk_create([FaceObservation(
        analysis=analysis, segment_index=0, t=0.0, frame_index=0, track_id=i, x=10 * i, y=0, w=8, h=8,
        detector_score=0.9, top_emotion=e, **probs_for(e, 0.7)) for i, e in enumerate(["happy", "happy", "sad"])])
    store_timeline(analysis, 60.0)   # finalize's rule for a still (duration 0): one bucket
    client.force_login(member_of(footage.project.organisation, Role.VIEWER))
    html = client.get(f"/analyses/{analysis.pk}/report/").content.decode()
    assert re.findall(r'class="js-figure" data-target="([\w-]+)"', html) == ["fig-distribution"]
    assert "A still image is one moment" in html
    assert 'data-kpi="faces_seen">3<' in html and 'data-kpi="positive_share">67%<' in html
    timeline = client.get(f"/analyses/{analysis.pk}/export/timeline.csv")
    assert b"".join(timeline.streaming_content).decode().count("\n") == 2   # header + one row


def test_report_of_footage_without_faces_says_so(client, db):
    analysis = AnalysisFactory(footage=FootageFactory(duration_s=30.0), status=Analysis.Status.SUCCEEDED)
    client.force_login(member_of(analysis.footage.project.organisation, Role.VIEWER))
    html = client.get(f"/analyses/{analysis.pk}/report/").content.decode()
    assert "No faces were found in this footage" in html
    assert "No moment stood out" in html and "No face tracks." in html
    assert len(re.findall(r'class="js-figure"', html)) == 4      # empty charts still draw their axes
    rows = b"".join(client.get(f"/analyses/{analysis.pk}/export/observations.csv").streaming_content).decode()
    from reports.exports import OBSERVATION_COLUMNS
    assert rows.strip().splitlines() == [",".join(OBSERVATION_COLUMNS)]


def test_model_section_links_the_evaluation_and_the_bias_audit(client, viewer, scene_analysis):
    from ml.models import BiasAudit, Evaluation, JobStatus

    mv = scene_analysis.model_version
    evaluation = Evaluation.objects.create(model_version=mv, status=JobStatus.SUCCEEDED, data_path="/data/val",
                                           metrics={"accuracy": 0.712, "n": 3435,
                                                    "per_class": {"fear": {"recall": 0.52}}})
    from ml import services
    services.model_version_set_reference(model_version=mv, evaluation=evaluation)
    audit = BiasAudit.objects.create(model_version=mv, status=JobStatus.SUCCEEDED, verdict="flagged")
    client.force_login(viewer)
    html = client.get(f"/analyses/{scene_analysis.pk}/report/").content.decode()
    assert "data-model-accuracy>0.712<" in html and "71.2% on data val, 3,435 faces" in html
    assert f'href="/ml/evaluations/{evaluation.pk}/"' in html and f'href="/ml/audits/{audit.pk}/"' in html
    assert "52%" in html and 'badge flagged' in html


def test_the_analysis_page_says_where_the_analysis_time_went(client, viewer, scene_analysis):
    scene_analysis.summary = {**scene_analysis.summary, "wall_time_s": 12.0, "schedule": "adaptive",
                              "timings": {"decode": 1.2, "detect": 6.5, "classify": 3.0, "store": 0.4}}
    scene_analysis.save(update_fields=["summary"])
    client.force_login(viewer)
    html = client.get(f"/analyses/{scene_analysis.pk}/").content.decode()
    assert "decode 1.2 s · detect 6.5 s · classify 3.0 s · store 0.4 s (adaptive detection)" in html
