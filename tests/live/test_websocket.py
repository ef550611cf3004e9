"""Through a real ASGI server (daphne, as `make demo` and production serve the site): a browser-camera
session's real JPEG frames go over a real WebSocket and come back as faces; another organisation's
session is a 404 over the WebSocket; a photo of seven faces is scored by the same live worker; and
stopping the session over the API leaves its report.

Both ways of running the worker: "embedded" (in-memory channel layer: the server runs it, its model
in a child process) and "external" (Redis channel layer and a `manage.py live_worker` process)."""
import struct
import time

import pytest
import requests
from django.conf import settings

from accounts.services import api_token_create
from live.services import live_session_start
from tests.conftest import missing

from .conftest import WebSocketClient, clip_frames, jpeg, photo_bytes, session_cookie, wait_for


def frame_message(frame) -> bytes:
    return struct.pack("<d", time.time() * 1000.0) + jpeg(frame)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["embedded", "external"])
def test_frames_over_a_websocket_come_back_as_faces(asgi_server, mode, analyst_a, analyst_b, project_a,
                                                     shipped_model):
    if mode == "external" and not settings.REDIS_URL:
        missing("the external live worker needs Redis (REDIS_URL) for its channel layer")
    server = asgi_server(mode)
    session = live_session_start(project=project_a, started_by=analyst_a, source="browser", setting="audience",
                                 target_fps=4)
    _, token = api_token_create(user=analyst_a)
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"

    camera = WebSocketClient(f"{server.ws_url}/ws/live/{session.pk}/", origin=server.url,
                             cookie=session_cookie(analyst_a))
    try:
        hello = camera.wait_for(lambda m: m["type"] == "state", timeout=30, what="the session's state")
        assert (hello["state"], hello["can_send"]) == ("starting", True)

        # 4 frames a second, as the page sends them, until faces come back (the model loads meanwhile).
        frames = clip_frames()
        deadline, sent = time.monotonic() + 240, 0
        while time.monotonic() < deadline and not any(
                m.get("type") == "result" and m["face_count"] for m in list(camera.messages) if isinstance(m, dict)):
            camera.send_bytes(frame_message(frames[sent % len(frames)]))
            sent += 1
            time.sleep(0.25)
        result = camera.wait_for(lambda m: m["type"] == "result" and m["face_count"] >= 1, timeout=5,
                                 what=f"a result with a face ({sent} frames sent); server log:\n{server.log()}")
        face = result["faces"][0]
        assert len(face["box"]) == 4 and face["emotion"] in result["labels"]
        assert sum(face["p"]) == pytest.approx(1.0, abs=1e-3)
        assert sum(result["shares"].values()) == pytest.approx(1.0, abs=1e-3)
        assert (result["width"], result["height"]) == (frames[0].shape[1], frames[0].shape[0])
        assert result["latency_ms"] >= 0 and result["client_ms"] > 0
        camera.wait_for(lambda m: m["type"] == "state" and m["state"] == "running", timeout=10, what='"running"')

        # Another organisation's session: the same answer as one that does not exist.
        outsider = WebSocketClient(f"{server.ws_url}/ws/live/{session.pk}/", origin=server.url,
                                   cookie=session_cookie(analyst_b))
        refused = outsider.wait_for(lambda m: m["type"] == "error", timeout=20, what="the 404")
        assert refused["status"] == 404
        assert outsider.wait_closed() == 4404
        assert not any(m.get("type") == "result" for m in outsider.messages if isinstance(m, dict))
        outsider.close()

        # A photo, scored by the same worker.
        if not settings.EMO7ION_YUNET_MODEL:
            missing("the seven faces of the crowd photo are YuNet's count (EMO7ION_YUNET_MODEL)")
        scored = http.post(f"{server.url}/api/v1/images/", files={"file": ("crowd.jpg", photo_bytes(), "image/jpeg")},
                           data={"detector": "yunet", "annotated": "true"}, timeout=120)
        assert scored.status_code == 200, scored.text
        body = scored.json()
        assert body["face_count"] == 7 and len(body["faces"]) == 7
        assert all(set(f["probabilities"]) == set(body["labels"]) for f in body["faces"])
        assert body["annotated_image"].startswith("data:image/jpeg;base64,")

        # Stop: the worker stores what is left and finalizes; the page hears "stopped" with the report.
        stop = http.post(f"{server.url}/api/v1/live-sessions/{session.pk}/stop/", timeout=60)
        assert stop.status_code == 202, stop.text
        stopped = camera.wait_for(lambda m: m["type"] == "state" and m["state"] == "stopped", timeout=60,
                                  what='"stopped"')
        assert stopped["report_url"] == f"/analyses/{session.analysis_id}/"
    finally:
        camera.close()
    timeline = wait_for(lambda: http.get(f"{server.url}/api/v1/analyses/{session.analysis_id}/timeline/",
                                         timeout=30).json(), what="the timeline")
    assert timeline["status"] == "succeeded" and sum(b["faces"] for b in timeline["buckets"]) >= 1
    report = http.get(server.url + stopped["report_url"], headers={"Cookie": session_cookie(analyst_a)}, timeout=30)
    assert report.status_code == 200 and 'id="fig-timeline"' in report.text
