"""`manage.py analyse` and `manage.py demo`."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from urllib.parse import urlparse

from accounts.models import Organisation, Role
from analysis.models import Analysis, Footage, Project
from tests.factories import member_of

from .conftest import clip

DESIGN_FIELDS = {"frames_analysed", "faces_detected", "unique_faces", "duration_s", "emotion_shares", "timeline",
                 "wall_time_s", "analysis_id"}


def run(*args) -> dict:
    out = io.StringIO()
    call_command(*args, stdout=out)
    text = out.getvalue()
    assert text.count("\n") == 1, "--json prints exactly one line: the JSON object (logs go to stderr)"
    return json.loads(text)


def test_analyse_prints_the_documented_json_with_faces_in_most_frames(db, model_version, yunet_model_path, settings):
    settings.EMO7ION_YUNET_MODEL = str(yunet_model_path)
    path = clip("01_*")
    result = run("analyse", str(path), "--json", "--detector", "yunet", "--sample-fps", "5")

    assert DESIGN_FIELDS <= set(result)
    analysis = Analysis.objects.get(pk=result["analysis_id"])
    assert analysis.status == "succeeded" and analysis.detector == "yunet"
    assert result["duration_s"] == pytest.approx(4.2, abs=0.05)
    assert result["frames_analysed"] == 21
    # A street crowd walking toward the camera: faces in most frames, several per frame.
    assert result["frames_with_faces"] >= 0.8 * result["frames_analysed"]
    assert result["faces_detected"] >= 3 * result["frames_analysed"]
    assert 1 <= result["unique_faces"] < result["faces_detected"]
    assert set(result["emotion_shares"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert sum(result["emotion_shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert result["timeline"] and {"t_start", "t_end", "faces", "emotion_shares"} <= set(result["timeline"][0])
    assert sum(b["faces"] for b in result["timeline"]) == result["faces_detected"]
    assert 0 < result["wall_time_s"] < 600
    assert result["wall_time_s"] == pytest.approx(analysis.summary["wall_time_s"], rel=0.5, abs=2)
    # Where the time went, per stage, and which detection schedule ran.
    assert {"decode", "detect", "classify", "store"} <= set(result["timings"])
    assert 0 < sum(result["timings"].values()) <= result["wall_time_s"] * 2.5  # stages overlap in threads
    assert result["schedule"] in ("adaptive", "full")
    # Without --project it lands in the local 'cli' organisation's scratch project.
    assert analysis.footage.project.organisation.slug == "cli"
    assert analysis.footage.original_name == path.name


def test_analyse_into_a_project_acts_as_its_owner_by_default(db, model_version, org_a, project_a):
    owner = member_of(org_a, Role.OWNER, username="olga")
    result = run("analyse", str(clip("07_*")), "--json", "--project", str(project_a.pk), "--detector", "haar",
                 "--sample-fps", "2")
    analysis = Analysis.objects.get(pk=result["analysis_id"])
    assert analysis.footage.project == project_a
    assert analysis.created_by == owner and analysis.footage.uploaded_by == owner


def test_analyse_as_a_named_analyst(db, model_version, alice, project_a):
    result = run("analyse", str(clip("07_*")), "--json", "--project", str(project_a.pk), "--user", "alice",
                 "--detector", "haar")
    assert Analysis.objects.get(pk=result["analysis_id"]).created_by == alice


def test_analyse_reports_bad_input_clearly(db, model_version, tmp_path):
    bad = tmp_path / "notes.mp4"
    bad.write_text("hello")
    out = io.StringIO()
    with pytest.raises(CommandError, match="notes.mp4 was rejected: notes.mp4 is not a video or image"):
        call_command("analyse", str(bad), "--json", stdout=out)
    error = json.loads(out.getvalue())
    assert "not a video or image" in error["error"]
    assert Footage.objects.get(pk=error["footage_id"]).status == "rejected"  # kept on record
    with pytest.raises(CommandError, match="does not exist"):
        call_command("analyse", str(tmp_path / "missing.mp4"), stdout=io.StringIO())
    with pytest.raises(CommandError, match="no user named 'nobody'"):
        call_command("analyse", str(bad), "--user", "nobody", stdout=io.StringIO())


def test_demo_prepares_a_login_and_an_analysed_footage_idempotently(db, model_version, settings, tmp_path):
    first = run("demo", "--no-serve", "--json", "--port", "8123")
    assert set(first) == {"username", "password", "project_url", "analysis_url"}
    assert first["project_url"].startswith("http://127.0.0.1:8123/projects/")

    client = Client()
    assert client.login(username=first["username"], password=first["password"])
    project_page = client.get(urlparse(first["project_url"]).path)
    assert project_page.status_code == 200 and "emo7ion-demo-crowd.mp4" in project_page.content.decode()
    analysis_page = client.get(urlparse(first["analysis_url"]).path)
    assert analysis_page.status_code == 200 and 'id="fig-timeline"' in analysis_page.content.decode()
    analysis = Analysis.objects.get()
    assert analysis.status == "succeeded"
    # The demo crowd is 42 faces from scikit-image's LFW subset: faces in every sampled frame.
    assert analysis.summary["frames_with_faces"] == analysis.summary["frames_analysed"] > 0
    assert analysis.summary["faces_detected"] >= 4 * analysis.summary["frames_analysed"]

    again = run("demo", "--no-serve", "--json", "--port", "8123")
    assert again == first
    assert (Organisation.objects.filter(slug="demo").count(), Project.objects.count(), Footage.objects.count(),
            Analysis.objects.count()) == (1, 1, 1, 1)


def test_demo_without_a_model_says_how_to_get_one(db, settings, tmp_path):
    settings.EMO7ION_DEFAULT_MODEL = str(tmp_path / "absent.keras")
    with pytest.raises(CommandError, match="default emotion model is not installed"):
        call_command("demo", "--no-serve", "--json", stdout=io.StringIO())
