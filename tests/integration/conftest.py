"""Helpers for the end-to-end tests (real worker processes, real services)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import PY, ROOT, shared_glob


def clip(pattern: str) -> Path:
    return shared_glob("media/videos", pattern)


def stored_webcam_clip():
    """The 2.4 s webcam clip `07_*`, uploaded by an analyst of a new organisation to the default storage
    (local files, or S3 when a test points the storage there); ready to analyse."""
    from django.core.files import File

    from accounts.models import Role
    from analysis import services
    from tests.factories import OrganisationFactory, ProjectFactory, member_of

    org = OrganisationFactory()
    user = member_of(org, Role.ANALYST)
    with open(clip("07_*"), "rb") as fh:
        footage = services.footage_create_from_upload(project=ProjectFactory(organisation=org), uploaded_by=user,
                                                      uploaded_file=File(fh, name="webcam.mp4"))
    assert footage.status == "ready", footage.rejection_reason
    return footage


OBSERVATION_FIELDS = ("segment_index", "t", "frame_index", "track_id", "segment_track_id", "x", "y", "w", "h",
                      "detector_score", "top_emotion")
BUCKET_FIELDS = ("t_start", "t_end", "frames", "faces", "unique_tracks", "emotion_counts", "emotion_shares")


def analysis_results(analysis):
    """What an analysis produced, comparable between runs: its observations (floats rounded), its summary's
    shares and its timeline buckets."""
    from analysis.models import Analysis, FaceObservation, TimelineBucket
    rows = FaceObservation.objects.filter(analysis=analysis).order_by("segment_index", "t", "x", "y")
    observations = [tuple(round(v, 6) if isinstance(v, float) else v for v in row)
                    for row in rows.values_list(*OBSERVATION_FIELDS, *FaceObservation.PROB_FIELDS)]
    buckets = list(TimelineBucket.objects.filter(analysis=analysis).order_by("index").values_list(*BUCKET_FIELDS))
    return observations, Analysis.objects.get(pk=analysis.pk).summary["emotion_shares"], buckets


def timeline_bars(html: str) -> list[float]:
    """The emotion-timeline bar heights (shares) the analysis page hands to plotly.js (non-empty buckets only)."""
    match = re.search(r'<script type="application/json" class="js-figure" data-target="fig-timeline">(.*?)</script>',
                      html, re.S)
    assert match, "the analysis page has no timeline figure data"
    figure = json.loads(match.group(1))
    assert 'id="fig-timeline"' in html
    return [y for trace in figure["data"] if trace["type"] == "bar" for y in trace["y"] if y]


@pytest.fixture
def start_beat(settings, tmp_path):
    """Factory: start `celery beat` on the test broker (with extra env, e.g. a shortened watchdog interval);
    it is stopped when the test ends."""
    procs = []

    def _start(extra_env: dict) -> subprocess.Popen:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "emo7ion_site.settings.test",
               "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "TEST_TAG": settings.TEST_TAG, **extra_env}
        log = open(ROOT / "var" / f"beat-{settings.TEST_TAG}.log", "w")
        proc = subprocess.Popen([PY, "-m", "celery", "-A", "emo7ion_site", "beat", "--loglevel=INFO",
                                 "--schedule", str(tmp_path / "beat-schedule")],
                                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield _start
    for proc in procs:
        stop(proc)


def stop(proc: subprocess.Popen, grace_s: float = 20) -> None:
    """SIGTERM, and SIGKILL when it is still there after `grace_s`."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(grace_s)
    if proc.poll() is None:
        proc.kill()
