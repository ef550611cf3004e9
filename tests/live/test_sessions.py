"""Starting live sessions: the setting is asked for, prohibited settings are refused with the reason on
the page and through the API, research needs consent, owners can switch live analysis off, and another
organisation's session is a 404. No model runs here: these are the rules before any frame."""
import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from analysis.models import Analysis, TimelineBucket
from live.messaging import HEARTBEAT_KEY
from live.models import LiveSession

pytestmark = pytest.mark.django_db

PAGE_FORM = {"source": "browser", "setting": "audience", "target_fps": "4", "detector": "haar", "stream_url": "",
             "setting_note": ""}


@pytest.fixture(autouse=True)
def no_live_worker():
    """No worker heartbeat: a stop finalizes in the request (what happens when no worker runs)."""
    cache.delete(HEARTBEAT_KEY)
    yield
    cache.delete(HEARTBEAT_KEY)


def api_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def stream_body(project, **fields) -> dict:
    return {"project": project.pk, "stream_url": "rtsp://camera.local/stream", "setting": "audience",
            "detector": "haar", **fields}


@pytest.mark.parametrize("setting", ["education", "workplace"])
def test_a_prohibited_setting_is_refused_on_the_page_with_the_reason(client, analyst_a, project_a, shipped_model,
                                                                       setting):
    client.force_login(analyst_a)
    page = client.get(f"/projects/{project_a.pk}/live/")
    assert page.status_code == 200
    assert 'value="audience"' in page.content.decode()      # the setting is asked for
    answer = client.post(f"/projects/{project_a.pk}/live/", {**PAGE_FORM, "setting": setting})
    assert answer.status_code == 400
    text = answer.content.decode()
    assert 'id="live-refusal"' in text
    assert "not allowed in this setting" in text and "Article 5(1)(f)" in text
    assert not LiveSession.objects.exists() and not Analysis.objects.exists()


@pytest.mark.parametrize("setting", ["education", "workplace"])
def test_a_prohibited_setting_is_refused_through_the_api(analyst_a, project_a, shipped_model, setting):
    answer = api_for(analyst_a).post("/api/v1/live-sessions/", stream_body(project_a, setting=setting), format="json")
    assert answer.status_code == 400, answer.content
    body = answer.json()
    assert "Article 5(1)(f)" in body["detail"]
    assert body["setting"] == [body["detail"]]
    assert not LiveSession.objects.exists()


def test_the_platform_setting_decides_what_is_prohibited(settings, analyst_a, project_a, shipped_model):
    settings.EMO7ION_LIVE_PROHIBITED_SETTINGS = ["education", "workplace", "other"]
    refused = api_for(analyst_a).post("/api/v1/live-sessions/", stream_body(project_a, setting="other"), format="json")
    assert refused.status_code == 400
    assert "this platform's policy" in refused.json()["detail"]


def test_research_needs_the_consent_of_the_people_filmed(analyst_a, project_a, shipped_model):
    api = api_for(analyst_a)
    refused = api.post("/api/v1/live-sessions/", stream_body(project_a, setting="research"), format="json")
    assert refused.status_code == 400 and "informed consent" in refused.json()["detail"]
    started = api.post("/api/v1/live-sessions/", stream_body(project_a, setting="research", consent_confirmed=True),
                       format="json")
    assert started.status_code == 201, started.content


def test_a_stream_session_starts_as_a_running_live_analysis(analyst_a, project_a, shipped_model):
    api = api_for(analyst_a)
    answer = api.post("/api/v1/live-sessions/", stream_body(
        project_a, stream_url="rtsp://viewer:s3cret@10.0.0.5:554/stream", target_fps=2), format="json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert (body["state"], body["source"], body["setting"], body["target_fps"]) == ("starting", "stream", "audience", 2)
    assert body["stream_url"] == "rtsp://viewer:***@10.0.0.5:554/stream"    # the password is never shown
    analysis = Analysis.objects.get(pk=body["analysis"])
    assert (analysis.kind, analysis.status, analysis.sample_fps) == ("live", "running", 2.0)
    assert not analysis.footage.file                                        # frames are never stored
    assert api.get(f"/api/v1/live-sessions/{body['id']}/").json()["state"] == "starting"
    assert api.get(f"/api/v1/analyses/{analysis.pk}/").status_code == 200
    invalid = api.post("/api/v1/live-sessions/", stream_body(project_a, stream_url="file:///etc/passwd"), format="json")
    assert invalid.status_code == 400 and "stream_url" in invalid.json()


def test_owners_switch_live_analysis_off(client, owner_a, analyst_a, org_a, project_a, shipped_model):
    client.force_login(analyst_a)
    refused = client.post(f"/accounts/organisations/{org_a.slug}/",
                          {"name": org_a.name, "blur_faces": "on", "live_analysis_allowed": ""})
    assert refused.status_code == 403                                      # only owners change settings
    assert api_for(analyst_a).patch(f"/api/v1/organisations/{org_a.slug}/", {"live_analysis_allowed": False},
                                    format="json").status_code == 403
    org_a.refresh_from_db()
    assert org_a.live_analysis_allowed

    client.force_login(owner_a)
    saved = client.post(f"/accounts/organisations/{org_a.slug}/", {"name": org_a.name, "blur_faces": "on"})
    assert saved.status_code == 302
    org_a.refresh_from_db()
    assert not org_a.live_analysis_allowed

    client.force_login(analyst_a)
    page = client.get(f"/projects/{project_a.pk}/live/")
    assert 'id="live-off"' in page.content.decode() and 'id="live-start-form"' not in page.content.decode()
    assert client.post(f"/projects/{project_a.pk}/live/", PAGE_FORM).status_code == 400
    refused = api_for(analyst_a).post("/api/v1/live-sessions/", stream_body(project_a), format="json")
    assert refused.status_code == 400 and "switched off" in refused.json()["detail"]
    assert not LiveSession.objects.exists()

    owner_api = api_for(owner_a)
    assert owner_api.patch(f"/api/v1/organisations/{org_a.slug}/", {"live_analysis_allowed": True},
                           format="json").status_code == 200
    assert api_for(analyst_a).post("/api/v1/live-sessions/", stream_body(project_a), format="json").status_code == 201


def test_another_organisations_session_is_a_404(client, analyst_a, analyst_b, project_a, shipped_model):
    client.force_login(analyst_a)
    assert client.post(f"/projects/{project_a.pk}/live/", PAGE_FORM).status_code == 302
    session = LiveSession.objects.get()
    page = client.get(f"/live/{session.pk}/")
    assert page.status_code == 200
    assert "Live expression analysis in progress" in page.content.decode()
    assert "never stored" in page.content.decode()

    client.force_login(analyst_b)
    for url in (f"/live/{session.pk}/", f"/live/{session.pk}/state/", f"/projects/{project_a.pk}/live/"):
        assert client.get(url).status_code == 404, url
    assert client.post(f"/live/{session.pk}/stop/").status_code == 404
    api = api_for(analyst_b)
    assert api.get(f"/api/v1/live-sessions/{session.pk}/").status_code == 404
    assert api.post(f"/api/v1/live-sessions/{session.pk}/stop/").status_code == 404
    assert api.get("/api/v1/live-sessions/").json()["results"] == []
    session.refresh_from_db()
    assert session.state == "starting"


def test_stopping_with_no_worker_stores_a_complete_report(client, analyst_a, project_a, shipped_model):
    """Stop finalizes through the analysis services: the report, API and exports work for the session."""
    client.force_login(analyst_a)
    client.post(f"/projects/{project_a.pk}/live/", PAGE_FORM)
    session = LiveSession.objects.get()
    assert client.post(f"/live/{session.pk}/pause/").status_code == 302
    session.refresh_from_db()
    assert session.state == "paused"
    answer = client.post(f"/live/{session.pk}/stop/", HTTP_ACCEPT="application/json")
    assert answer.json()["state"] == "stopped" and answer.json()["report_url"] == f"/analyses/{session.analysis_id}/"
    analysis = Analysis.objects.get(pk=session.analysis_id)
    assert analysis.status == "succeeded" and analysis.summary["frames_analysed"] == 0
    assert TimelineBucket.objects.filter(analysis=analysis).exists()
    assert client.get(f"/analyses/{analysis.pk}/").status_code == 200
    assert client.get(f"/analyses/{analysis.pk}/export/report.json").status_code == 200
    assert client.post(f"/live/{session.pk}/resume/").status_code == 302   # a stopped session stays stopped
    session.refresh_from_db()
    assert session.state == "stopped"
