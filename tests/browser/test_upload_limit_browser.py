"""In a real browser: a file over the size limit is refused on the page before any byte is sent."""
from __future__ import annotations

import pytest

from accounts.models import Role
from analysis.models import Footage
from tests.factories import DEFAULT_PASSWORD, ProjectFactory, member_of

from .conftest import sign_in

pytestmark = [pytest.mark.browser]


def test_oversized_file_is_refused_before_upload(browser_page, live_server, settings, transactional_db):
    settings.EMO7ION_MAX_UPLOAD_BYTES = 100_000
    page = browser_page
    project = ProjectFactory(name="Winter fair")
    user = member_of(project.organisation, Role.ANALYST, username="fair-organiser")
    sign_in(page, live_server.url, user.username, DEFAULT_PASSWORD)
    page.goto(f"{live_server.url}/projects/{project.pk}/")
    assert "up to 97.7\xa0KB" in page.locator("#upload-form").locator("..").inner_text()

    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.set_input_files("#upload-form input[type=file]",
                        files=[{"name": "fair.mp4", "mimeType": "video/mp4", "buffer": b"\x00" * 300_000}])
    page.click("#upload-form button[type=submit]")
    message = page.locator("#upload-progress .js-upload-text")
    message.wait_for()
    text = message.inner_text()
    assert "fair.mp4 is 293.0\xa0KB" in text and "the largest file this site accepts is 97.7\xa0KB" in text
    assert "Nothing was uploaded" in text
    assert page.locator("#upload-form button[type=submit]").is_enabled()  # choose another file and retry
    assert posts == [] and not Footage.objects.exists()
