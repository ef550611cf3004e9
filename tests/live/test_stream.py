"""A stream URL session end to end: a loopback HTTP MJPEG camera made from a real clip feeds a session
started through the API; the live worker (the real one, with the real model) analyses it; the camera
goes away mid-way and comes back, and the session says "reconnecting", then runs again; stopping it
leaves a complete report."""
import asyncio
import threading

import pytest
from channels.layers import InMemoryChannelLayer
from django.core.cache import cache
from rest_framework.test import APIClient

from analysis.models import Analysis, AnalysisSegment, TimelineBucket
from live.inference import FrameAnalyser
from live.messaging import HEARTBEAT_KEY
from live.models import LiveSession
from live.worker.service import LiveWorker

from .conftest import MjpegCamera, clip_frames, wait_for


@pytest.fixture
def live_worker(transactional_db, settings):
    """The live worker on its own event loop thread, holding the model in this process."""
    settings.EMO7ION_LIVE_CHUNK_SECONDS = 4.0   # several chunks (segments) in a short test
    worker = LiveWorker(analyser=FrameAnalyser(), layer=InMemoryChannelLayer())
    thread = threading.Thread(target=lambda: asyncio.run(worker.run()), daemon=True)
    thread.start()
    yield worker
    worker.stop()
    thread.join(60)
    cache.delete(HEARTBEAT_KEY)


def state_of(session_id: int) -> LiveSession:
    return LiveSession.objects.get(pk=session_id)


@pytest.mark.slow
def test_a_stream_session_reconnects_after_a_drop_and_stops_with_a_complete_report(
        live_worker, client, analyst_a, project_a, shipped_model):
    camera = MjpegCamera(clip_frames(), fps=10)
    camera.start()
    api = APIClient()
    api.force_authenticate(analyst_a)
    try:
        answer = api.post("/api/v1/live-sessions/", {
            "project": project_a.pk, "stream_url": camera.url, "setting": "audience", "target_fps": 4,
            "detector": "haar"}, format="json")
        assert answer.status_code == 201, answer.content
        session_id = answer.json()["id"]

        wait_for(lambda: state_of(session_id).state == "running", timeout=180, what="the stream to run")
        wait_for(lambda: state_of(session_id).frames_analysed >= 8, timeout=120, what="frames analysed and stored")

        camera.stop()
        wait_for(lambda: state_of(session_id).state == "reconnecting", timeout=30, what='"reconnecting"')
        assert "trying again" in api.get(f"/api/v1/live-sessions/{session_id}/").json()["state_message"]
        before = state_of(session_id).frames_analysed

        camera.start()
        wait_for(lambda: state_of(session_id).state == "running", timeout=60, what="the stream to resume")
        wait_for(lambda: state_of(session_id).frames_analysed >= before + 8, timeout=120,
                 what="frames analysed after the reconnect")
    finally:
        camera.stop()

    stopped = api.post(f"/api/v1/live-sessions/{session_id}/stop/")
    assert stopped.status_code == 202
    wait_for(lambda: state_of(session_id).state == "stopped", timeout=60, what="the session to stop")
    body = api.get(f"/api/v1/live-sessions/{session_id}/").json()
    assert body["report_url"] and body["analysis_status"] == "succeeded"
    assert body["frames_received"] >= body["frames_analysed"] >= 16

    analysis = Analysis.objects.get(pk=body["analysis"])
    assert analysis.kind == "live"
    segments = AnalysisSegment.objects.filter(analysis=analysis)
    assert segments.count() >= 2 and not segments.exclude(status="done").exists()
    summary = analysis.summary
    assert summary["frames_analysed"] >= 16 and summary["faces_detected"] >= 1
    assert summary["frames_analysed"] == sum(len(s.frame_times) for s in segments)
    buckets = api.get(f"/api/v1/analyses/{analysis.pk}/timeline/").json()["buckets"]
    assert buckets and sum(b["faces"] for b in buckets) == summary["faces_detected"]
    assert TimelineBucket.objects.filter(analysis=analysis, frames__gt=0).exists()
    client.force_login(analyst_a)
    report = client.get(body["report_url"])
    assert report.status_code == 200
    page = report.content.decode()
    assert 'id="fig-timeline"' in page
    assert "The raw footage is not stored" in page     # frames never were: no thumbnails of anyone
