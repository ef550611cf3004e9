"""In a real browser: sign in, upload a real clip through the project page, watch the analysis reach
100% (a real Celery worker), open the report, check every chart drew, download the CSV.

Screenshots are kept under var/screenshots/ as artefacts.
"""
from __future__ import annotations

import csv
import io
import re
import time

import pytest

from accounts.models import Role
from analysis.models import Analysis, FaceObservation
from ml.engine.labels import EMOTIONS
from reports.exports import OBSERVATION_COLUMNS
from tests.conftest import shared_glob
from tests.factories import DEFAULT_PASSWORD, ProjectFactory, member_of

from .conftest import screenshot, sign_in, wait_for_charts, wait_for_images

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANALYSIS_TIMEOUT_S = 300


@pytest.fixture
def isolated_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMO7ION_CACHE_DIR = str(tmp_path / "cache")


def _watch_progress(page, timeout_s: float) -> list[int]:
    """Percentages the analysis page showed, sampled until it shows 100% (it reloads itself at the end)."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            text = page.locator("#analysis-status [data-progress-percent]").first.inner_text(timeout=2_000)
        except Exception:  # the page is reloading between two reads
            text = ""
        match = re.match(r"(\d+)%", text.strip())
        if match:
            value = int(match.group(1))
            if not seen or seen[-1] != value:
                seen.append(value)
            if value == 100:
                return seen
        status = page.locator("#analysis-status [data-progress-status]").first
        if status.count() and status.inner_text().strip().lower() in ("failed", "cancelled"):
            raise AssertionError(f"the analysis ended {status.inner_text()}: "
                                 f"{page.locator('#analysis-status [data-progress-error]').first.inner_text()}")
        time.sleep(0.25)
    raise AssertionError(f"progress did not reach 100% within {timeout_s}s (saw {seen})")


def test_upload_analyse_and_read_the_report(browser_page, live_server, start_worker, model_version, isolated_media):
    page = browser_page
    clip = shared_glob("media/videos", "03_*")
    project = ProjectFactory(name="Spring gala")
    user = member_of(project.organisation, Role.ANALYST, username="organiser")
    start_worker()

    sign_in(page, live_server.url, user.username, DEFAULT_PASSWORD)

    # Upload through the project page's form (the page reloads with the new footage row).
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.set_input_files("#upload-form input[type=file]", str(clip))
    page.click("#upload-form button[type=submit]")
    row = page.locator("tr[id^=footage-]").filter(has_text=clip.name)
    row.locator(".badge.ready").wait_for(timeout=120_000)
    screenshot(page, "01-project-uploaded")

    # Start the analysis; the analysis page shows live progress.
    row.locator("form.start-analysis button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/analyses/\d+/$"))
    analysis_id = int(re.search(r"/analyses/(\d+)/", page.url).group(1))
    seen = _watch_progress(page, ANALYSIS_TIMEOUT_S)
    assert seen[-1] == 100 and seen == sorted(seen), f"progress went {seen}"
    analysis = Analysis.objects.get(pk=analysis_id)
    assert analysis.status == Analysis.Status.SUCCEEDED, analysis.error
    # The analysis page reloaded into its results: the report's four charts (the one timeline builder's among them).
    assert wait_for_charts(page, 4) == 4
    page.locator("#moments").wait_for()
    wait_for_images(page, "#moments img")
    screenshot(page, "02-analysis-finished")

    # The report: every chart drawn, key figures, moments with thumbnails, tracks, model, exports.
    page.goto(f"{live_server.url}/analyses/{analysis_id}/report/")
    charts = wait_for_charts(page, 4)
    assert charts == 4
    n_obs = FaceObservation.objects.filter(analysis_id=analysis_id).count()
    assert n_obs > 0, "the clip shows a face in most frames"
    assert page.locator('[data-kpi="faces_seen"]').inner_text().replace(",", "") == str(n_obs)
    assert "not a person's inner state" in page.locator(".note").inner_text()
    assert wait_for_images(page, "#moments img") >= 1, "key moments show their frames"
    assert page.locator("#tracks tbody tr").count() >= 1
    screenshot(page, "03-analysis-report")

    # Sorting the track table swaps the table in place (no reload: the charts stay drawn).
    page.locator("#tracks th a", has_text="First seen").click()
    page.locator('#tracks th[aria-sort="ascending"]').wait_for()
    assert wait_for_charts(page, 4) == 4

    # The observations CSV downloads with every observation in it.
    with page.expect_download() as download_info:
        page.click('a[data-export="observations"]')
    body = open(download_info.value.path(), encoding="utf-8").read()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == list(OBSERVATION_COLUMNS)
    assert len(rows) == n_obs
    for r in rows:
        assert r["top_emotion"] in EMOTIONS
        assert sum(float(r[f"p_{e}"]) for e in EMOTIONS) == pytest.approx(1.0, abs=2e-3)
        assert 0 <= float(r["t"]) <= analysis.footage.duration_s + 0.01

    # The project report draws its comparison and aggregated timeline.
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    page.click(f'a[href="/projects/{project.pk}/report/"]')
    page.wait_for_url(f"**/projects/{project.pk}/report/")
    assert wait_for_charts(page, 2) == 2
    assert page.locator("table.comparison tbody tr").count() == 1
    screenshot(page, "04-project-report")

    # Small screens: the report reflows instead of scrolling sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/analyses/{analysis_id}/report/")
    wait_for_charts(page, 4)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone screen"
    screenshot(page, "05-analysis-report-phone")

    assert page.outside_requests == [], f"pages reached outside the server: {page.outside_requests}"
    assert page.console_errors == [], page.console_errors
