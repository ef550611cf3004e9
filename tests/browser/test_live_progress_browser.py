"""The report page of a running analysis follows its progress without a reload, then turns into the report."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import Role
from analysis.models import Analysis
from tests.factories import DEFAULT_PASSWORD, AnalysisFactory, FootageFactory, ModelVersionFactory, member_of
from tests.reports.conftest import DURATION, FPS, SAMPLE_FPS, add_scene

from .conftest import screenshot, sign_in, wait_for_charts

pytestmark = pytest.mark.browser


def test_report_page_follows_progress_then_shows_the_report(browser_page, live_server, transactional_db):
    page = browser_page
    footage = FootageFactory(duration_s=DURATION, fps=FPS, original_name="keynote.mp4")
    analysis = AnalysisFactory(footage=footage, model_version=ModelVersionFactory(), sample_fps=SAMPLE_FPS,
                               status=Analysis.Status.RUNNING, progress=0.2, segment_count=4, segments_done=0)
    user = member_of(footage.project.organisation, Role.VIEWER)
    sign_in(page, live_server.url, user.username, DEFAULT_PASSWORD)

    page.goto(f"{live_server.url}/analyses/{analysis.pk}/report/")
    expect(page.locator("[data-progress-percent]")).to_have_text("20%")
    page.evaluate("window.__sameDocument = true")   # gone if the page reloads

    Analysis.objects.filter(pk=analysis.pk).update(progress=0.65, segments_done=2)
    expect(page.locator("[data-progress-percent]")).to_have_text("65%", timeout=15_000)
    expect(page.locator("[data-progress-detail]")).to_have_text("2 of 4 segments done")
    assert page.evaluate("window.__sameDocument === true"), "progress must update in place, not by reloading"
    assert page.locator("[data-progress-bar]").evaluate("el => el.style.width") == "65%"
    screenshot(page, "06-report-running", full_page=False)

    add_scene(analysis)
    Analysis.objects.filter(pk=analysis.pk).update(status=Analysis.Status.SUCCEEDED, progress=1.0, segments_done=4)
    page.locator("#key-figures").wait_for(timeout=15_000)   # the page reloads into the report
    assert wait_for_charts(page, 4) == 4
    assert page.locator('[data-kpi="faces_seen"]').inner_text() == "80"
    assert page.outside_requests == [] and page.console_errors == []
