"""Exports: the observations CSV streams every row, the timeline CSV one row per window, the JSON the numbers."""
from __future__ import annotations

import csv
import io
import json

import pytest

from analysis.models import Analysis, FaceObservation
from ml.engine.labels import EMOTIONS
from reports import exports

pytestmark = pytest.mark.django_db


def _csv(response) -> list[dict]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_observations_csv_streams_every_observation(client, viewer, scene_analysis):
    client.force_login(viewer)
    response = client.get(f"/analyses/{scene_analysis.pk}/export/observations.csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"] and "observations.csv" in response["Content-Disposition"]
    rows = _csv(response)
    assert len(rows) == 80
    assert list(rows[0]) == list(exports.OBSERVATION_COLUMNS)
    first = rows[0]
    assert (first["t"], first["frame_index"], first["track_id"], first["top_emotion"]) == ("0.0", "0", "0", "happy")
    assert float(first["p_happy"]) == 0.7
    assert sum(float(first[f"p_{e}"]) for e in EMOTIONS) == pytest.approx(1.0, abs=1e-3)
    assert [float(r["t"]) for r in rows] == sorted(float(r["t"]) for r in rows)
    assert sum(r["top_emotion"] == "happy" for r in rows) == 30


def test_timeline_csv_has_one_row_per_window(client, viewer, scene_analysis):
    client.force_login(viewer)
    rows = _csv(client.get(f"/analyses/{scene_analysis.pk}/export/timeline.csv"))
    assert len(rows) == 20
    assert list(rows[0]) == list(exports.TIMELINE_COLUMNS)
    assert sum(int(r["faces"]) for r in rows) == 80
    assert rows[5]["share_happy"] == "1.0" and rows[15]["count_angry"] == "2"


def test_report_json(client, viewer, scene_analysis):
    client.force_login(viewer)
    response = client.get(f"/analyses/{scene_analysis.pk}/export/report.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    doc = json.loads(response.content)
    assert doc["summary"]["faces_seen"] == 80 and doc["summary"]["unique_faces"] == 3
    assert doc["summary"]["dominant_emotion"] == "happy"
    assert doc["model_version"]["name"] == scene_analysis.model_version.name
    assert len(doc["timeline"]["buckets"]) == 20 and doc["timeline"]["bucket_s"] == 1.0
    assert {m["kind"] for m in doc["key_moments"]} == {"positive", "negative"}
    assert "inner state" in doc["note"]
    assert set(doc["definitions"]) >= {"faces_seen", "unique_faces", "positive", "negative", "neutral"}


@pytest.mark.parametrize("what", ["observations.csv", "timeline.csv", "report.json"])
def test_unfinished_analysis_has_no_exports(client, viewer, scene_analysis, what):
    # Partial results are never handed out as if they were the result.
    Analysis.objects.filter(pk=scene_analysis.pk).update(status=Analysis.Status.RUNNING)
    client.force_login(viewer)
    assert client.get(f"/analyses/{scene_analysis.pk}/export/{what}").status_code == 404


def test_one_csv_writer_and_one_rounding_for_the_page_and_the_api(client, viewer, scene_analysis):
    """The report's export and the API's ?format=csv are the same writer: the same columns, and every
    float rounded to CSV_DECIMALS (4) places, so a row reads the same wherever it was downloaded."""
    FaceObservation.objects.filter(analysis=scene_analysis, t=0.0, track_id=0).update(
        t=0.000049, p_happy=0.123456789, detector_score=0.987654321)
    client.force_login(viewer)
    page = _csv(client.get(f"/analyses/{scene_analysis.pk}/export/observations.csv"))
    api = _csv(client.get(f"/api/v1/analyses/{scene_analysis.pk}/observations/?format=csv"))
    assert exports.CSV_DECIMALS == 4
    assert page == api and len(page) == 80
    first = next(r for r in page if r["track_id"] == "0" and r["frame_index"] == "0")
    assert (first["t"], first["p_happy"], first["detector_score"]) == ("0.0", "0.1235", "0.9877")
    assert first["x"] == "40" and first["top_emotion"] == "happy"      # integers and labels as stored
