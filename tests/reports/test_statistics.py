"""Crowd statistics end to end: finalize stores intervals over face tracks, attention and derived
valence per window and for the footage; the report, its exports and the API show them with their
definitions, mark windows with too few tracks, and say "not available" where there is no head pose."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from analysis.models import TimelineBucket
from reports import exports
from reports import selectors as reports

from .conftest import make_crowd_analysis

pytestmark = pytest.mark.django_db


def _figures(html: str) -> dict[str, dict]:
    return {fid: json.loads(payload) for fid, payload in re.findall(
        r'<script type="application/json" class="js-figure" data-target="([\w-]+)">(.*?)</script>', html, re.S)}


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_finalize_stores_intervals_attention_and_affect_per_window(crowd_analysis):
    rows = list(TimelineBucket.objects.filter(analysis=crowd_analysis).order_by("index"))
    assert len(rows) == 10
    first, busy, last = rows[0], rows[6], rows[9]
    assert first.too_few_tracks is False and first.unique_tracks == 10
    low, high = first.intervals["sad"]
    assert low < first.emotion_shares["sad"] == 0.7 < high <= 1.0
    assert set(first.intervals) >= {"happy", "sad", "neutral", "positive", "negative"}
    assert first.attention == 0.5 and first.pose_observations == 40
    assert first.attention_interval[0] < 0.5 < first.attention_interval[1]
    assert first.valence < 0 < busy.valence and busy.attention == 0.9
    assert last.too_few_tracks is True and last.intervals == {} and last.unique_tracks == 2
    assert last.valence > 0 and last.valence_interval is None

    stats = crowd_analysis.summary["statistics"]
    assert stats["tracks"] == 22 and stats["method"]["unit"] == "face track"
    assert stats["intervals"]["positive"][0] < 136 / 368 < stats["intervals"]["positive"][1]
    assert stats["attention"]["value"] == pytest.approx(252 / 368, abs=1e-4)
    engagement = stats["engagement"]
    assert engagement["face_time_share"] == 1.0 and engagement["valence_trend"]["direction"] == "rising"
    assert [m["kind"] for m in engagement["strongest_moments"]] == ["highest_valence", "lowest_valence"]
    assert engagement["strongest_moments"][0]["t_start"] >= 10 and engagement["strongest_moments"][1]["t_end"] <= 10


def test_report_shows_intervals_too_few_tracks_attention_and_derived_affect(client, crowd_viewer, crowd_analysis):
    client.force_login(crowd_viewer)
    html = client.get(f"/analyses/{crowd_analysis.pk}/report/").content.decode()
    # key figures keep their numbers and gain their 95% intervals
    assert 'data-kpi="positive_share">37%<' in html and 'data-kpi="neutral_share">25%<' in html
    ci = re.search(r'data-ci="positive_share">±(\d+) pts <span class="muted">\(95%: (\d+)–(\d+)%\)', html)
    assert ci and int(ci.group(2)) < 37 < int(ci.group(3))
    # the engagement summary, each figure with its definition
    assert 'data-kpi="face_time">100%<' in html and 'data-kpi="attention">68%<' in html
    assert 'data-ci="attention"' in html and 'data-kpi="valence_trend">rising<' in html
    assert "Share of the sampled frames in which at least one face was found" in html
    assert "Mean derived valence in the second half" in html and "Most positive window" in html
    assert "derived from the seven expression probabilities, not measured" in html
    # charts: bands (a filled trace between the interval's edges), attention, valence and arousal
    figures = _figures(html)
    assert list(figures)[-3:] == ["fig-intervals", "fig-attention", "fig-affect"]
    bands = [t for t in figures["fig-intervals"]["data"] if t.get("fill") == "tonexty"]
    assert [t["name"] for t in bands] == ["positive (95% lower)", "negative (95% lower)", "neutral (95% lower)"]
    positive_line = next(t for t in figures["fig-intervals"]["data"] if t["name"] == "positive")
    assert positive_line["y"][9] is None                     # the too-few-tracks window is not drawn as sure
    too_few = next(t for t in figures["fig-intervals"]["data"] if t["name"].startswith("too few tracks"))
    assert [y is not None for y in too_few["y"]] == [False] * 9 + [True]
    attention = next(t for t in figures["fig-attention"]["data"] if t["name"] == "facing the camera")
    assert attention["y"][0] == 0.5 and attention["y"][6] == 0.9
    assert {t["name"] for t in figures["fig-affect"]["data"]} >= {"valence (derived)", "arousal (derived)"}
    assert "not measured" in figures["fig-affect"]["layout"]["yaxis"]["title"]["text"]
    assert "Valence and arousal (derived, not measured)" in html


def test_without_head_poses_attention_is_not_available(client, db):
    from accounts.models import Role
    from tests.factories import member_of

    analysis = make_crowd_analysis(with_pose=False)
    assert analysis.summary["statistics"]["attention"]["observations_with_pose"] == 0
    assert TimelineBucket.objects.filter(analysis=analysis, attention__isnull=False).count() == 0
    client.force_login(member_of(analysis.footage.project.organisation, Role.VIEWER))
    html = client.get(f"/analyses/{analysis.pk}/report/").content.decode()
    assert 'data-kpi="attention">not available<' in html and "gives no face landmarks" in html
    assert "fig-attention" not in _figures(html) and "fig-affect" in _figures(html)
    rows = _csv(client.get(f"/analyses/{analysis.pk}/export/timeline.csv"))
    assert {r["attention"] for r in rows} == {""} and {r["pose_observations"] for r in rows} == {"0"}
    observations = _csv(client.get(f"/analyses/{analysis.pk}/export/observations.csv"))
    assert {(r["yaw"], r["pitch"]) for r in observations} == {("", "")}


def test_an_analysis_finalized_before_the_statistics_says_so(client, viewer, scene_analysis):
    client.force_login(viewer)
    html = client.get(f"/analyses/{scene_analysis.pk}/report/").content.decode()
    assert "finalized before crowd statistics were stored" in html
    assert not {"fig-intervals", "fig-attention", "fig-affect"} & set(_figures(html))
    assert reports.analysis_statistics(analysis=scene_analysis)["available"] is False
    assert reports.analysis_timeline(analysis=scene_analysis).has_statistics is False


def test_exports_carry_the_intervals_and_the_engagement_summary(client, crowd_viewer, crowd_analysis):
    client.force_login(crowd_viewer)
    rows = _csv(client.get(f"/analyses/{crowd_analysis.pk}/export/timeline.csv"))
    assert list(rows[0]) == list(exports.TIMELINE_COLUMNS) and len(rows) == 10
    assert float(rows[0]["sad_low"]) < float(rows[0]["share_sad"]) < float(rows[0]["sad_high"])
    assert rows[0]["too_few_tracks"] == "0" and rows[9]["too_few_tracks"] == "1" and rows[9]["positive_low"] == ""
    assert rows[0]["attention"] == "0.5" and float(rows[0]["valence"]) < 0 < float(rows[6]["valence"])
    observations = _csv(client.get(f"/analyses/{crowd_analysis.pk}/export/observations.csv"))
    assert {r["yaw"] for r in observations if r["track_id"] == "1"} == {"70.0"}
    doc = json.loads(client.get(f"/analyses/{crowd_analysis.pk}/export/report.json").content)
    assert doc["statistics"]["engagement"]["valence_trend"]["direction"] == "rising"
    assert doc["timeline"]["buckets"][0]["intervals"]["sad"] == rows_interval(rows[0], "sad")
    assert "not measured" in doc["note"] and {"attention", "valence", "interval"} <= set(doc["definitions"])


def rows_interval(row: dict, name: str) -> list[float]:
    return [float(row[f"{name}_low"]), float(row[f"{name}_high"])]


def test_api_gives_the_new_fields(client, crowd_viewer, crowd_analysis):
    client.force_login(crowd_viewer)
    detail = client.get(f"/api/v1/analyses/{crowd_analysis.pk}/").json()
    assert detail["statistics"]["tracks"] == 22
    assert detail["statistics"]["engagement"]["strongest_moments"][0]["kind"] == "highest_valence"
    timeline = client.get(f"/api/v1/analyses/{crowd_analysis.pk}/timeline/").json()
    first, last = timeline["buckets"][0], timeline["buckets"][-1]
    assert first["intervals"]["sad"][0] < 0.7 and first["attention"] == 0.5 and first["too_few_tracks"] is False
    assert set(first) >= {"attention_interval", "pose_observations", "valence", "valence_interval", "arousal",
                          "arousal_interval"}
    assert last["too_few_tracks"] is True and last["intervals"] == {}
    observation = client.get(f"/api/v1/analyses/{crowd_analysis.pk}/observations/?track=1").json()["results"][0]
    assert observation["yaw"] == 70.0 and observation["pitch"] == 0.0


def test_the_schema_documents_the_new_fields(client, crowd_viewer):
    client.force_login(crowd_viewer)
    schema = client.get("/api/schema/?format=json").content.decode()
    for name in ("CrowdStatistics", "Engagement", "StrongestMoment", "attention_interval", "valence_interval",
                 "too_few_tracks", "observations_with_pose", "yaw", "pitch"):
        assert name in schema, name
