"""In a real browser: sign in, upload a real clip through the project page, watch the analysis reach
100% (a real Celery worker), open the report, check every chart drew, download the CSV; and a crowd's
report with its interval bands, attention chart and derived valence/arousal.

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

# The report's charts: the four of every report, then the crowd statistics' (attention only where the
# detector gave face landmarks).
REPORT_CHARTS = ["fig-timeline", "fig-crowd", "fig-distribution", "fig-heatmap"]
STATISTICS_CHARTS = ["fig-intervals", "fig-attention", "fig-affect"]

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


def _chart_ids(page) -> list[str]:
    return page.eval_on_selector_all('script[type="application/json"].js-figure',
                                     "els => els.map(e => e.getAttribute('data-target'))")


def _all_charts_drawn(page) -> int:
    """Every chart the page embeds is drawn; the four of every report come first, then the statistics'."""
    # At 100% the poller reloads the page into its results: wait for that page's charts to be there.
    page.wait_for_selector('script[type="application/json"].js-figure', state="attached", timeout=30_000)
    ids = _chart_ids(page)
    assert ids[:4] == REPORT_CHARTS and set(ids[4:]) <= set(STATISTICS_CHARTS), ids
    assert wait_for_charts(page, len(ids)) == len(ids)
    return len(ids)


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
    # The analysis page reloaded into its results: the report's four charts (the one timeline builder's
    # among them), then the crowd statistics' charts finalize stored numbers for.
    assert _all_charts_drawn(page) >= 4
    page.locator("#moments").wait_for()
    wait_for_images(page, "#moments img")
    screenshot(page, "02-analysis-finished")

    # The report: every chart drawn, key figures, moments with thumbnails, tracks, model, exports.
    page.goto(f"{live_server.url}/analyses/{analysis_id}/report/")
    charts = _all_charts_drawn(page)
    assert charts >= 4 and {"fig-intervals", "fig-affect"} <= set(_chart_ids(page))
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
    assert wait_for_charts(page, charts) == charts

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
    wait_for_charts(page, charts)
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone screen"
    screenshot(page, "05-analysis-report-phone")

    assert page.outside_requests == [], f"pages reached outside the server: {page.outside_requests}"
    assert page.console_errors == [], page.console_errors


def test_report_shows_interval_bands_attention_and_derived_valence(browser_page, live_server):
    """A finalized crowd (tests/reports/conftest.py: 22 face tracks, head poses, one window with too few
    tracks): the bands, the too-few-tracks marks, the attention chart and valence/arousal are drawn."""
    from tests.reports.conftest import make_crowd_analysis

    page = browser_page
    project = ProjectFactory(name="Gala night")
    analysis = make_crowd_analysis(project=project)
    user = member_of(project.organisation, Role.VIEWER, username="reader")
    sign_in(page, live_server.url, user.username, DEFAULT_PASSWORD)
    page.goto(f"{live_server.url}/analyses/{analysis.pk}/report/")
    assert _chart_ids(page) == REPORT_CHARTS + STATISTICS_CHARTS
    assert _all_charts_drawn(page) == 7

    # Interval bands: plotly drew filled areas (the 95% bands) in the shares chart and the attention chart.
    for chart in ("fig-intervals", "fig-attention", "fig-affect"):
        filled = page.evaluate(f"document.getElementById('{chart}').data.filter(t => t.fill === 'tonexty').length")
        assert filled >= 1, chart
        assert page.locator(f"#{chart} path.js-fill").count() >= 1, chart
    # The window with too few tracks is a grey cross, not a sure point.
    crosses = page.evaluate("document.getElementById('fig-intervals').data"
                            ".find(t => t.name.startsWith('too few tracks')).y.filter(y => y !== null).length")
    assert crosses == 1

    # Key figures carry their ± and the engagement summary its definitions.
    assert page.locator('[data-ci="positive_share"]').inner_text().startswith("±")
    assert page.locator('[data-kpi="attention"]').inner_text() == "68%"
    assert page.locator('[data-kpi="valence_trend"]').inner_text() == "rising"
    note = page.locator("[data-derived-note]").inner_text()
    assert "derived from the seven expression probabilities, not measured" in note
    assert "Valence and arousal (derived, not measured)" in page.locator("#engagement").inner_text()
    page.locator("#engagement").scroll_into_view_if_needed()
    screenshot(page, "06-report-crowd-statistics")
    page.locator("#fig-intervals").screenshot(path=str(screenshot_dir() / "07-interval-bands.png"))

    assert page.outside_requests == [], f"pages reached outside the server: {page.outside_requests}"
    assert page.console_errors == [], page.console_errors


def screenshot_dir():
    from .conftest import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
