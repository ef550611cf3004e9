"""In a real browser: an analyst marks two moments on a crowd's report through the page's form and reads
them side by side, with their 95% intervals and the differences flagged; a refused range says why; and
the comparison fits a phone's screen. Screenshots are kept under var/screenshots/."""
from __future__ import annotations

import pytest

from accounts.models import Role
from analysis.models import Moment
from tests.factories import DEFAULT_PASSWORD, ProjectFactory, member_of

from .conftest import SCREENSHOTS, screenshot, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def mark_moment(page, name: str, start: str, end: str) -> None:
    form = page.locator("#moment-form")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=t_start]").fill(start)
    form.locator("input[name=t_end]").fill(end)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()


def test_moments_marked_on_the_report_compare_side_by_side(browser_page, live_server):
    """The crowd of tests/reports/conftest.py: 0-10 s ten sad or neutral people, 10-18 s ten happy ones."""
    from tests.reports.conftest import make_crowd_analysis

    page = browser_page
    project = ProjectFactory(name="Gala night")
    analysis = make_crowd_analysis(project=project)
    user = member_of(project.organisation, Role.ANALYST, username="organiser")
    sign_in(page, live_server.url, user.username, DEFAULT_PASSWORD)
    page.goto(f"{live_server.url}/analyses/{analysis.pk}/report/")
    assert page.locator("[data-no-marked-moments]").is_visible()

    mark_moment(page, "Before the break", "0:00", "0:10")
    assert page.url.endswith(f"/analyses/{analysis.pk}/report/#marked-moments")
    assert "Moment “Before the break” marked." in page.locator(".messages").inner_text()
    mark_moment(page, "After the break", "0:10", "0:18")

    # A range that ends before it starts is refused with its reason, and nothing is stored.
    mark_moment(page, "Backwards", "0:15", "0:12")
    assert "must end after it starts" in page.locator('[data-field-errors="t_end"]').inner_text()
    assert page.locator("#moment-form input[name=name]").input_value() == "Backwards"
    assert Moment.objects.filter(analysis=analysis).count() == 2

    section = page.locator("#marked-moments")
    table = section.locator("[data-moment-comparison]")
    headers = table.locator("thead th[data-moment] .moment-name").all_inner_texts()
    assert headers == ["Before the break", "After the break"]
    happy = table.locator('tr[data-metric="happy"] td')
    assert [happy.nth(i).inner_text().split("\n")[0] for i in range(2)] == ["0%", "70%"]
    assert "95%:" in happy.nth(1).inner_text()
    flagged = section.locator("[data-flagged-differences] li")
    metrics = [flagged.nth(i).get_attribute("data-difference") for i in range(flagged.count())]
    assert {"happy", "sad", "valence"} <= set(metrics) and "attention" not in metrics
    assert "Before the break 0% → After the break 70%" in section.locator('[data-difference="happy"]').inner_text()
    section.scroll_into_view_if_needed()
    screenshot(page, "08-moment-comparison")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    section.screenshot(path=str(SCREENSHOTS / "09-moment-comparison-section.png"))

    # On a phone the page does not scroll sideways (the table scrolls inside its card) and the form is usable.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/analyses/{analysis.pk}/report/#marked-moments")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than a phone screen"
    for field in ("name", "t_start", "t_end"):
        box = page.locator(f"#moment-form input[name={field}]").bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, field
    page.locator("#marked-moments").scroll_into_view_if_needed()
    screenshot(page, "10-moment-comparison-phone", full_page=False)

    assert page.outside_requests == [], f"pages reached outside the server: {page.outside_requests}"
    # The refused range above was answered 400 (a form with errors), as it should be; nothing else failed.
    expected = [e for e in page.console_errors if e.startswith("HTTP 400") and "/marked-moments/" in e]
    assert len(expected) == 1 and [e for e in page.console_errors if e not in expected] == [], page.console_errors
