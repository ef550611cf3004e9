"""Upload: stored under the organisation's prefix, validated by content, rejected with a reason a
person understands, and never lost from the record."""
from __future__ import annotations

import hashlib

import pytest
from django.core.files.storage import default_storage

from analysis import media
from analysis.models import Footage

from .conftest import clip, upload, truncated_copy


def test_real_clip_is_stored_hashed_and_probed(project_a, alice):
    path = clip("07_*")
    footage = upload(project_a, path, alice)

    assert footage.status == Footage.Status.READY, footage.rejection_reason
    assert footage.rejection_reason == ""
    assert footage.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert footage.size_bytes == path.stat().st_size
    assert footage.kind == Footage.Kind.VIDEO
    assert footage.fps == pytest.approx(30.0)
    assert footage.frame_count == 72
    assert footage.duration_s == pytest.approx(2.4, abs=0.05)
    assert (footage.width, footage.height) == (640, 360)
    # Organisation-scoped key, and the stored bytes are the uploaded ones.
    assert footage.file.name.startswith(f"org-{project_a.organisation_id}/project-{project_a.pk}/footage/")
    assert footage.file.name.endswith(path.name)
    with default_storage.open(footage.file.name, "rb") as fh:
        assert hashlib.sha256(fh.read()).hexdigest() == footage.sha256
    assert footage.uploaded_by == alice


def test_still_image_is_footage_of_kind_image(project_a, alice):
    from tests.conftest import shared_glob
    photo = shared_glob("media/photos", "12_*")
    footage = upload(project_a, photo, alice)
    assert footage.status == Footage.Status.READY, footage.rejection_reason
    assert footage.kind == Footage.Kind.IMAGE
    assert footage.duration_s == 0.0 and footage.frame_count == 1


def test_two_uploads_of_one_name_do_not_overwrite_each_other(project_a, alice):
    path = clip("07_*")
    first, second = upload(project_a, path, alice), upload(project_a, path, alice)
    assert first.file.name != second.file.name
    assert default_storage.exists(first.file.name) and default_storage.exists(second.file.name)


def _empty(d):
    path = d / "empty.mp4"
    path.write_bytes(b"")
    return path


def _text_named_mp4(d):
    path = d / "notes.mp4"
    path.write_text("these are my meeting notes, not a video\n" * 20)
    return path


def _cut_in_half(d):
    return truncated_copy(clip("01_*"), d / "cut.mp4")


@pytest.mark.parametrize("make, expected", [(_empty, "empty"), (_text_named_mp4, "not a video or image"),
                                            (_cut_in_half, None)])
def test_bad_files_are_rejected_with_a_reason_and_kept_on_record(project_a, alice, tmp_path, make, expected):
    path = make(tmp_path)
    footage = upload(project_a, path, alice)

    assert footage.status == Footage.Status.REJECTED
    reason = footage.rejection_reason
    assert reason and path.name in reason, reason  # names the person's file, not a cache path
    if expected:
        assert expected in reason
    else:
        assert "truncated" in reason or "corrupt" in reason or "cut short" in reason, reason
    # The record of the rejected upload survives, from the database's point of view too.
    stored = Footage.objects.get(pk=footage.pk)
    assert stored.status == Footage.Status.REJECTED and stored.rejection_reason == reason
    assert stored.original_name == path.name and stored.uploaded_by == alice


def test_file_over_the_size_limit_is_rejected_without_storing_it(project_a, alice, settings):
    path = clip("07_*")
    settings.EMO7ION_MAX_UPLOAD_BYTES = 100_000
    footage = upload(project_a, path, alice)

    assert footage.status == Footage.Status.REJECTED
    assert "largest file this site accepts is 97.7\xa0KB" in footage.rejection_reason
    assert "203.5\xa0KB" in footage.rejection_reason
    assert not footage.file  # nothing was written to storage
    assert Footage.objects.filter(pk=footage.pk, status="rejected").exists()


def test_validation_of_a_missing_stored_object_rejects_clearly(project_a, alice):
    footage = Footage.objects.create(project=project_a, original_name="gone.mp4", file="org-1/nowhere/gone.mp4")
    from analysis.services import footage_validate_stored
    footage = footage_validate_stored(footage=footage)
    assert footage.status == Footage.Status.REJECTED
    assert "did not arrive" in footage.rejection_reason


def test_local_path_for_reads_local_storage_in_place(project_a, alice):
    footage = upload(project_a, clip("07_*"), alice)
    assert str(media.local_path_for(footage)) == default_storage.path(footage.file.name)
