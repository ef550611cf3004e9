"""Bad input ends with a clear status and message and crashes no worker: an empty file, a text
file named .mp4, a real mp4 cut in half, an audio recording saved as .mp4, a video in a codec no
decoder here knows and a file over the size limit are refused at upload with their reasons; forced past validation into a worker, each ends `failed` with a reason; the
faceless crowd clip ends `succeeded`; and afterwards the same worker still analyses a good clip.

Runs on whatever broker and database the settings name: the filesystem queue and SQLite on a
developer's machine, Redis and PostgreSQL under `make test`."""
from __future__ import annotations

import pytest
from django.core.files import File
from django.urls import reverse

from accounts.models import Role
from analysis import services
from analysis.models import Analysis, Footage
from tests.conftest import wait_until
from tests.factories import OrganisationFactory, ProjectFactory, member_of

from . import bad_media
from .conftest import clip

pytestmark = [pytest.mark.services, pytest.mark.slow]


def finished(analysis_id):
    return Analysis.objects.get(pk=analysis_id).is_finished


def test_bad_input_fails_clearly_and_the_worker_keeps_going(client, transactional_db, start_worker, model_version,
                                                           settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.EMO7ION_CACHE_DIR = str(tmp_path / "cache")
    worker = start_worker({"EMO7ION_CACHE_DIR": str(tmp_path / "cache")})
    org = OrganisationFactory()
    user = member_of(org, Role.ANALYST)
    project = ProjectFactory(organisation=org)
    client.force_login(user)

    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "minutes.mp4"
    text.write_text("Minutes of the meeting. Not a video.\n" * 50)
    cut = tmp_path / "cut-in-half.mp4"
    data = clip("01_*").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    big = clip("03_*")

    def web_upload(path):
        with open(path, "rb") as fh:
            response = client.post(reverse("footage-upload", args=[project.pk]), {"file": fh},
                                   headers={"x-requested-with": "XMLHttpRequest"})
        return response, Footage.objects.get(pk=response.json()["id"])

    settings.EMO7ION_MAX_UPLOAD_BYTES = 1_000_000
    response, too_big = web_upload(big)
    assert response.status_code == 422 and too_big.status == "rejected"
    assert "the largest file this site accepts is 976.6\xa0KB" in too_big.rejection_reason
    settings.EMO7ION_MAX_UPLOAD_BYTES = 2 * 1024 ** 3

    voice = bad_media.audio_only_mp4(tmp_path / "voice.mp4")
    exotic = bad_media.with_video_codec(clip("07_*"), tmp_path / "exotic.mp4", b"zzzz")
    expected = {empty: "empty.mp4 is empty", text: "minutes.mp4 is not a video or image",
                cut: "cut-in-half.mp4 is not a video or image", voice: "voice.mp4 has no video stream",
                exotic: "exotic.mp4 has a video stream in a format this server cannot decode"}
    rejected = []
    for path, reason in expected.items():
        response, footage = web_upload(path)
        assert response.status_code == 422 and footage.status == "rejected"
        assert reason in footage.rejection_reason, footage.rejection_reason
        rejected.append(footage)
    page = client.get(reverse("project-detail", args=[project.pk])).content.decode()
    for reason in expected.values():
        assert reason in page

    # Now push them past validation (as if the stored object broke after it was checked) and
    # into the worker: each analysis must fail with a reason, and the worker must survive.
    failing = []
    for footage in rejected:
        Footage.objects.filter(pk=footage.pk).update(status="ready", rejection_reason="", duration_s=4.2, fps=25,
                                                     frame_count=105)
        footage.refresh_from_db()
        failing.append(services.analysis_create(footage=footage, created_by=user, detector="haar", sample_fps=2))
    for analysis in failing:
        wait_until(lambda: finished(analysis.pk), timeout=240, what=f"analysis of {analysis.footage} to end")
        analysis.refresh_from_db()
        assert analysis.status == "failed", (analysis.footage.original_name, analysis.status)
        assert analysis.footage.original_name in analysis.error, analysis.error
        assert "unexpectedly" not in analysis.error  # a reason, not a crash report
        assert worker.poll() is None, "the worker died"

    def stored(path):
        with open(path, "rb") as fh:
            return services.footage_create_from_upload(project=project, uploaded_file=File(fh, name=path.name),
                                                       uploaded_by=user)

    crowd = stored(clip("08_*"))
    no_faces = services.analysis_create(footage=crowd, created_by=user, detector="haar", sample_fps=2)
    good_footage = stored(clip("07_*"))
    good = services.analysis_create(footage=good_footage, created_by=user, detector="haar", sample_fps=2)
    for analysis in (no_faces, good):
        wait_until(lambda: finished(analysis.pk), timeout=240, what=f"analysis of {analysis.footage} to end")
    no_faces.refresh_from_db()
    good.refresh_from_db()
    assert no_faces.status == "succeeded", no_faces.error
    assert good.status == "succeeded", good.error
    assert good.summary["faces_detected"] > 0
    assert worker.poll() is None
