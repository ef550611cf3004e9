"""Moments on the report pages: marking and deleting them through the page's form, the side-by-side
table with intervals and flagged differences, their exports, and the project comparison's intervals
and flags between footage."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.utils.html import escape

from accounts.models import Role
from analysis.models import Moment
from reports.exports import MOMENT_COLUMNS
from tests.analysis.test_moments import finalized_crowd
from tests.factories import ProjectFactory, member_of

from .conftest import make_crowd_analysis

pytestmark = pytest.mark.django_db


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_marking_moments_on_the_report_page_compares_them(client, crowd, crowd_analyst):
    client.force_login(crowd_analyst)
    page = client.get(f"/analyses/{crowd.pk}/report/").content.decode()
    assert 'id="moment-form"' in page and "No moments marked yet" in page

    response = client.post(f"/analyses/{crowd.pk}/marked-moments/",
                           {"name": "Before the break", "t_start": "0:00", "t_end": "0:10", "page": "report"})
    assert response.status_code == 302 and response["Location"] == f"/analyses/{crowd.pk}/report/#marked-moments"
    client.post(f"/analyses/{crowd.pk}/marked-moments/", {"name": "After the break", "t_start": "10", "t_end": "0:18"})
    assert [(m.name, m.t_start, m.t_end, m.created_by) for m in Moment.objects.order_by("t_start")] == [
        ("Before the break", 0.0, 10.0, crowd_analyst), ("After the break", 10.0, 18.0, crowd_analyst)]

    html = client.get(f"/analyses/{crowd.pk}/report/").content.decode()
    section = html[html.index('id="marked-moments"'):html.index("</section>", html.index('id="marked-moments"'))]
    text = text_of(section)
    assert "Before the break" in text and "0:00–0:10 · 10 tracks" in text and "0:10–0:18 · 10 tracks" in text
    happy_row = re.search(r'<tr data-metric="happy">(.*?)</tr>', section, re.S).group(1)
    assert re.findall(r'<td class="num">(\d+%)', happy_row) == ["0%", "70%"]
    assert "95%:" in happy_row
    flagged = re.search(r"<ul class=\"differences\" data-flagged-differences>(.*?)</ul>", section, re.S).group(1)
    assert 'data-difference="happy"' in flagged and 'data-difference="valence"' in flagged
    assert "Happy : Before the break 0% → After the break 70% (+70 pts; permutation test p = 0.001)" in text_of(flagged)
    assert 'data-difference="attention"' not in flagged   # 5 of 10 vs 9 of 10 facing: not clear
    assert "not measured" in text and "do not overlap" in text
    # The key moments keep their own name: the two concepts never read alike.
    assert "Key moments" in html and "Your moments, side by side" in html
    # The moments' export is offered once there are moments.
    assert f"/analyses/{crowd.pk}/export/moments.csv" in html


def test_a_refused_moment_shows_the_page_again_with_the_reason(client, crowd, crowd_analyst):
    client.force_login(crowd_analyst)
    client.post(f"/analyses/{crowd.pk}/marked-moments/", {"name": "Q&A", "t_start": "0", "t_end": "5"})
    for data, field, words in [
        ({"name": "q&a", "t_start": "5", "t_end": "8"}, "name", "already has a moment called “q&amp;a”"),
        ({"name": "Backwards", "t_start": "0:08", "t_end": "0:05"}, "t_end", "must end after it starts"),
        ({"name": "Too long", "t_start": "0:10", "t_end": "1:00"}, "t_end", "which is 20.0 s long"),
        ({"name": "Odd time", "t_start": "1:75", "t_end": "2:00"}, "t_start", "minutes:seconds (1:35)"),
        ({"name": "", "t_start": "0", "t_end": "5"}, "name", "This field is required"),
    ]:
        response = client.post(f"/analyses/{crowd.pk}/marked-moments/", {**data, "page": "analysis"})
        assert response.status_code == 400, data
        html = response.content.decode()
        errors = re.search(rf'data-field-errors="{field}">(.*?)</ul>', html, re.S)
        assert errors and words in errors.group(1), (data, errors and errors.group(1))
        assert f'value="{escape(data["name"])}"' in html or not data["name"]   # what was typed is kept
        assert 'id="analysis-status"' in html   # the page that sent the form (the analysis page)
    assert Moment.objects.count() == 1


def test_deleting_a_moment_from_the_page(client, crowd, crowd_analyst):
    moment = Moment.objects.create(analysis=crowd, name="Opening act", t_start=0, t_end=10)
    client.force_login(crowd_analyst)
    html = client.get(f"/analyses/{crowd.pk}/").content.decode()
    assert f"/analyses/{crowd.pk}/marked-moments/{moment.pk}/delete/" in html
    response = client.post(f"/analyses/{crowd.pk}/marked-moments/{moment.pk}/delete/", {"page": "analysis"})
    assert response.status_code == 302 and response["Location"] == f"/analyses/{crowd.pk}/#marked-moments"
    assert not Moment.objects.exists()
    assert client.post(f"/analyses/{crowd.pk}/marked-moments/{moment.pk}/delete/").status_code == 404


def test_viewers_see_moments_but_cannot_mark_them_and_other_organisations_see_nothing(client, crowd):
    Moment.objects.create(analysis=crowd, name="Opening act", t_start=0, t_end=10)
    viewer = member_of(crowd.footage.project.organisation, Role.VIEWER)
    client.force_login(viewer)
    html = client.get(f"/analyses/{crowd.pk}/report/").content.decode()
    assert "Opening act" in html and 'id="moment-form"' not in html and "/delete/" not in html
    assert client.post(f"/analyses/{crowd.pk}/marked-moments/",
                       {"name": "Q&A", "t_start": "10", "t_end": "18"}).status_code == 403
    moment = Moment.objects.get()
    assert client.post(f"/analyses/{crowd.pk}/marked-moments/{moment.pk}/delete/").status_code == 403

    outsider = member_of(ProjectFactory().organisation, Role.OWNER)
    client.force_login(outsider)
    for response in (client.post(f"/analyses/{crowd.pk}/marked-moments/", {"name": "X", "t_start": "0", "t_end": "5"}),
                     client.post(f"/analyses/{crowd.pk}/marked-moments/{moment.pk}/delete/"),
                     client.get(f"/analyses/{crowd.pk}/export/moments.csv")):
        assert response.status_code == 404
    assert Moment.objects.count() == 1


def test_moments_export_as_csv_and_in_the_report_json(client, crowd, crowd_analyst):
    Moment.objects.create(analysis=crowd, name="Before the break", t_start=0, t_end=10)
    Moment.objects.create(analysis=crowd, name="Finale", t_start=18, t_end=20)
    client.force_login(crowd_analyst)
    response = client.get(f"/analyses/{crowd.pk}/export/moments.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0]) == list(MOMENT_COLUMNS)
    before, finale = rows
    assert (before["name"], before["tracks"], before["observations"], before["too_few_tracks"]) == \
        ("Before the break", "10", "200", "0")
    assert float(before["share_sad"]) == pytest.approx(0.7)
    assert float(before["share_sad_low"]) < 0.7 < float(before["share_sad_high"])
    assert float(before["attention"]) == pytest.approx(0.5) and float(before["valence"]) < 0
    assert finale["too_few_tracks"] == "1" and finale["share_happy"] == "1.0" and finale["share_happy_low"] == ""

    document = json.loads(client.get(f"/analyses/{crowd.pk}/export/report.json").content)
    marked = document["marked_moments"]
    assert [m["name"] for m in marked["moments"]] == ["Before the break", "Finale"]
    assert marked["moments"][0]["statistics"]["shares"]["sad"]["interval"] is not None
    assert marked["differences"][0]["flagged"] == []    # two people in the finale: nothing is clear
    assert marked["method"]["unit"] == "face track"


def test_project_comparison_shows_intervals_and_the_differences_from_the_footage_above(client):
    project = ProjectFactory()
    first = make_crowd_analysis(project=project)
    finalized_crowd(project=project, faces_at=lambda t: [(k, "happy", 0.0) for k in range(12)], name="encore.mp4")
    client.force_login(member_of(project.organisation, Role.VIEWER))
    html = client.get(f"/projects/{project.pk}/report/").content.decode()
    rows = re.findall(r"<tr>\s*<td>\d+</td>(.*?)</tr>", html, re.S)
    assert len(rows) == 2
    # Every row carries its numbers with 95% intervals over face tracks.
    for row in rows:
        for metric in ("positive", "negative", "neutral", "attention", "valence"):
            assert f'data-ci="{metric}">95%:' in row, metric
    assert 'data-stat="positive">37%' in rows[0] and 'data-stat="positive">100%' in rows[1]
    # The first row has nothing above it; the encore is clearly happier than the gala.
    assert "data-difference=" not in rows[0]
    assert 'data-difference="happy"' in rows[1] and 'data-difference="valence"' in rows[1]
    assert "Happy 33% → 100%" in text_of(rows[1])
    assert "Clear differences" in html and "permutation test" in html
    assert first.footage.original_name in html and "encore.mp4" in html
