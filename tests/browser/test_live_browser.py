"""The live page in Debian's chromium with a fake camera: a .y4m made at test time from a real webcam
clip (../shared/media/videos/07_*). Signed in, the person goes live in the audience setting, sees the
face count and the crowd gauge update within 5 s, stops, opens the report, and finds its timeline."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest

from accounts.models import Role
from tests.conftest import shared_glob
from tests.factories import DEFAULT_PASSWORD, OrganisationFactory, ProjectFactory, member_of
from tests.live.conftest import asgi_server, shipped_model  # noqa: F401 (fixtures: daphne, the shipped model)

from .conftest import CHROMIUM, CHROMIUM_ARGS, missing, screenshot, sign_in, wait_for_charts

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def webcam_y4m(path: Path, seconds: float = 6.0) -> Path:
    """The clip as raw YUV 4:2:0 frames (what chromium's fake capture device plays, in a loop)."""
    capture = cv2.VideoCapture(str(shared_glob("media/videos", "07_*")))
    fps = int(round(capture.get(cv2.CAP_PROP_FPS) or 30))
    frames = []
    while len(frames) < seconds * fps:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.resize(frame, (640, 480)))
    capture.release()
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W640 H480 F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


@pytest.fixture
def camera_browser(tmp_path):
    executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
    if not executable:
        missing("Debian's chromium is missing (apt-get install -y chromium; `make test` does)")
    from playwright.sync_api import sync_playwright
    video = webcam_y4m(tmp_path / "webcam.y4m")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, args=[
            *CHROMIUM_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"])
        yield browser
        browser.close()


def test_go_live_with_the_camera_then_read_the_report(camera_browser, asgi_server, shipped_model):
    server = asgi_server("embedded")
    organisation = OrganisationFactory(name="Harbour Festival")
    member_of(organisation, Role.ANALYST, username="camille")
    project = ProjectFactory(organisation=organisation, name="Opening night")
    context = camera_browser.new_context(viewport={"width": 390, "height": 844})   # a phone's screen
    context.grant_permissions(["camera"], origin=server.url)
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((server.url, server.ws_url, "data:", "blob:")) else None)

    sign_in(page, server.url, "camille", DEFAULT_PASSWORD)
    page.goto(f"{server.url}/projects/{project.pk}/live/")
    page.check("input[name=setting][value=audience]")
    page.check("input[name=source][value=browser]")
    page.click("#go-live")
    page.wait_for_url("**/live/*/")
    assert page.locator("#live-notice").is_visible()
    assert "never stored" in page.content()
    # The embedded worker loads its model once; what is timed below is the camera's frames coming back.
    page.wait_for_function(
        """(url) => fetch(url).then(r => r.json()).then(s => s.worker_ready)""",
        arg=page.url + "state/", timeout=240_000, polling=1000)

    page.click("#live-camera")
    page.wait_for_function("() => Number(document.getElementById('face-count').textContent) >= 1", timeout=5_000)
    page.wait_for_function("() => Number(document.getElementById('live-gauge').dataset.faces) >= 1", timeout=5_000)
    assert page.locator("#live-state").inner_text() == "Running"
    wait_for_charts(page, 1)
    page.wait_for_timeout(2_500)           # a few seconds on the timeline
    screenshot(page, "live-session-phone")

    page.click("#live-stop")
    page.wait_for_selector("#live-report:not([hidden])", timeout=60_000)
    page.click("#live-report-link")
    page.wait_for_load_state("load")
    assert wait_for_charts(page, 2) >= 2
    timeline_points = page.evaluate(
        "() => document.getElementById('fig-timeline').data.reduce((n, trace) => n + (trace.y || []).length, 0)")
    assert timeline_points > 0
    assert errors == [] and outside == []
