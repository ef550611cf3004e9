"""Key-moment thumbnails from real footage: the frame, boxes drawn, faces blurred by default; rendered by
the worker when the analysis finishes, and only read back by pages."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from accounts.models import Role
from analysis.models import Analysis, FaceObservation
from analysis.signals import analysis_finished, analysis_results_stored
from ml.engine.detectors import make_detector
from reports import thumbnails
from tests.conftest import shared_path
from tests.factories import AnalysisFactory, FootageFactory, ModelVersionFactory, member_of

from .conftest import probs_for, store_timeline

FRAME = 30


@pytest.fixture(scope="module")
def webcam_clip():
    return shared_path("media", "videos", "07_webcam_neutral_to_smile_pyfeat.mp4")


@pytest.fixture(scope="module")
def face_frame(webcam_clip):
    """(frame, [box]) with the face a real detector finds in it."""
    frame = thumbnails.read_frame(webcam_clip, frame_index=FRAME)
    faces = make_detector("haar").detect(frame)
    assert len(faces) == 1, "the webcam clip shows one face"
    f = faces[0]
    return frame, [{"x": f.x, "y": f.y, "w": f.w, "h": f.h, "top_emotion": "happy"}]


def _decode(data: bytes) -> np.ndarray:
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img


def _inner(img: np.ndarray, box: dict, margin: float = 0.2) -> np.ndarray:
    """The face box without its border (where the box lines are drawn)."""
    mx, my = int(box["w"] * margin), int(box["h"] * margin)
    return img[box["y"] + my: box["y"] + box["h"] - my, box["x"] + mx: box["x"] + box["w"] - mx].astype(np.float32)


def _detail(region: np.ndarray) -> float:
    return float(cv2.Laplacian(cv2.cvtColor(region.astype(np.uint8), cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())


def test_blur_changes_the_face_and_keeps_the_rest(face_frame):
    frame, boxes = face_frame
    box = boxes[0]
    assert frame.shape[1] <= thumbnails.THUMBNAIL_MAX_WIDTH  # 640 wide: no resize, pixels line up
    clear = _decode(thumbnails.render_thumbnail(frame, boxes, blur=False))
    blurred = _decode(thumbnails.render_thumbnail(frame, boxes, blur=True))
    raw_face, clear_face, blurred_face = _inner(frame, box), _inner(clear, box), _inner(blurred, box)
    # Unblurred: the face is the raw crop up to JPEG noise. Blurred: far from it, and its detail is gone.
    assert np.abs(clear_face - raw_face).mean() < 4
    assert np.abs(blurred_face - raw_face).mean() > 4 * np.abs(clear_face - raw_face).mean()
    assert _detail(blurred_face) < 0.1 * _detail(raw_face)
    # Away from the face (left edge of the frame) nothing is blurred.
    away = (slice(0, 80), slice(0, 80))
    assert np.abs(blurred[away].astype(np.float32) - frame[away].astype(np.float32)).mean() < 4


def test_boxes_are_drawn_in_the_emotion_colour(face_frame):
    frame, boxes = face_frame
    img = _decode(thumbnails.render_thumbnail(frame, boxes, blur=True))
    box = boxes[0]
    # middle of the box's right edge: happy's orange (#E69F00 -> BGR 0, 159, 230), give or take JPEG
    b, g, r = img[box["y"] + box["h"] // 2, box["x"] + box["w"]].astype(int)
    assert r > 180 and 110 < g < 200 and b < 80


def test_still_images_and_unreadable_frames(tmp_path, face_frame):
    frame, _ = face_frame
    still = tmp_path / "still.jpg"
    cv2.imwrite(str(still), frame)
    assert thumbnails.read_frame(still, frame_index=0, is_image=True).shape == frame.shape
    not_media = tmp_path / "notes.mp4"
    not_media.write_text("not a video")
    with pytest.raises(thumbnails.FootageUnavailable):
        thumbnails.read_frame(not_media, frame_index=0)
    with pytest.raises(thumbnails.FootageUnavailable):
        thumbnails.read_frame(not_media, frame_index=0, is_image=True)


@pytest.fixture
def stored_analysis(db, settings, tmp_path, webcam_clip, face_frame):
    """A succeeded analysis of the real clip stored in (temporary) local storage, one face observed at FRAME."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    footage = FootageFactory(original_name="webcam.mp4", duration_s=2.4, fps=30.0, frame_count=72, width=640,
                             height=360)
    with open(webcam_clip, "rb") as fh:
        footage.file.save("webcam.mp4", File(fh), save=True)
    analysis = AnalysisFactory(footage=footage, model_version=ModelVersionFactory(), sample_fps=5.0,
                               status=Analysis.Status.SUCCEEDED, progress=1.0)
    box = face_frame[1][0]
    FaceObservation.objects.create(analysis=analysis, segment_index=0, t=FRAME / 30.0, frame_index=FRAME, track_id=0,
                                   x=box["x"], y=box["y"], w=box["w"], h=box["h"], detector_score=0.9,
                                   top_emotion="happy", **probs_for("happy", 0.8))
    store_timeline(analysis, 0.25)   # what finalize stores for 2.4 s sampled at 5 fps: 10 windows of 0.25 s
    return analysis


def test_thumbnail_is_rendered_once_then_served_from_the_cache(stored_analysis, face_frame):
    analysis = stored_analysis
    assert analysis.footage.project.organisation.blur_faces is True   # the default
    key = thumbnails.thumbnail_key(analysis, FRAME, blur=True)
    assert not default_storage.exists(key)
    first = thumbnails.moment_thumbnail(analysis=analysis, frame_index=FRAME)
    assert default_storage.exists(key)
    assert key.startswith(f"org-{analysis.footage.project.organisation_id}/")
    # Remove the footage from disk: the cached thumbnail still answers, so it did not re-read the video.
    analysis.footage.file.storage.delete(analysis.footage.file.name)
    assert thumbnails.moment_thumbnail(analysis=analysis, frame_index=FRAME) == first
    assert thumbnails.footage_thumbnails_delete(footage=analysis.footage) == 1 and not default_storage.exists(key)


def test_turning_blur_off_never_serves_the_blurred_copy_and_vice_versa(stored_analysis, face_frame):
    frame, boxes = face_frame
    blurred = _decode(thumbnails.moment_thumbnail(analysis=stored_analysis, frame_index=FRAME))
    org = stored_analysis.footage.project.organisation
    org.blur_faces = False
    org.save()
    clear = _decode(thumbnails.moment_thumbnail(analysis=stored_analysis, frame_index=FRAME))
    raw_face = _inner(frame, boxes[0])
    assert np.abs(_inner(clear, boxes[0]) - raw_face).mean() < 4
    assert np.abs(_inner(blurred, boxes[0]) - raw_face).mean() > 8


def test_faces_the_analysis_did_not_record_are_blurred_too(stored_analysis, face_frame):
    """The observation's box sits in a corner: the face itself must still come out blurred."""
    frame, boxes = face_frame
    FaceObservation.objects.filter(analysis=stored_analysis).update(x=0, y=0, w=60, h=60)
    img = _decode(thumbnails.moment_thumbnail(analysis=stored_analysis, frame_index=FRAME))
    raw_face = _inner(frame, boxes[0])
    assert _detail(_inner(img, boxes[0])) < 0.1 * _detail(raw_face)


def test_thumbnail_view_and_retention(client, stored_analysis):
    # The worker that finalizes sends analysis_results_stored; reports renders the key moments' thumbnails then.
    analysis_results_stored.send(sender=Analysis, analysis=stored_analysis)
    viewer = member_of(stored_analysis.footage.project.organisation, Role.VIEWER)
    client.force_login(viewer)
    response = client.get(f"/analyses/{stored_analysis.pk}/report/moments/{FRAME}.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert _decode(response.content).shape[:2] == (360, 640)
    page = client.get(f"/analyses/{stored_analysis.pk}/report/").content.decode()
    assert f"/analyses/{stored_analysis.pk}/report/moments/{FRAME}.jpg" in page

    # Retention deleted the raw footage: the report says so and shows no frames.
    footage = stored_analysis.footage
    footage.file_deleted_at = timezone.now()
    footage.save()
    with pytest.raises(thumbnails.FootageUnavailable, match="retention policy"):
        thumbnails.moment_thumbnail(analysis=stored_analysis, frame_index=FRAME)
    assert client.get(f"/analyses/{stored_analysis.pk}/report/moments/{FRAME}.jpg").status_code == 404
    page = client.get(f"/analyses/{stored_analysis.pk}/report/").content.decode()
    assert "deleted on" in page and "retention policy" in page
    assert "/report/moments/" not in page
    assert "Frame not shown: the raw footage is no longer stored" in page     # a placeholder, not an error


class HeavyWorkInARequest(AssertionError):
    pass


@pytest.fixture
def no_heavy_work(monkeypatch):
    """Spies that fail the test if anything decodes video, runs a face detector, fetches footage or
    opens any stored object (the only stored objects a report page could open are footage and JPEGs)."""
    from django.core.files.storage import Storage

    def refuse(what):
        def spy(*args, **kwargs):
            raise HeavyWorkInARequest(f"{what} was called")
        return spy

    monkeypatch.setattr("ml.runtime.get_detector", refuse("ml.runtime.get_detector"))
    monkeypatch.setattr("ml.engine.detectors.make_detector", refuse("ml.engine.detectors.make_detector"))
    monkeypatch.setattr("analysis.media.local_path_for", refuse("analysis.media.local_path_for"))
    monkeypatch.setattr(Storage, "open", refuse("Storage.open"))
    monkeypatch.setattr(cv2, "VideoCapture", refuse("cv2.VideoCapture"))


def test_report_pages_never_call_the_detector_or_open_footage(client, stored_analysis, no_heavy_work):
    """Item 8: the thumbnails were stored at finalize; the page GETs only read the database."""
    key = thumbnails.thumbnail_key(stored_analysis, FRAME, blur=True)
    viewer = member_of(stored_analysis.footage.project.organisation, Role.VIEWER)
    client.force_login(viewer)
    for url in (f"/analyses/{stored_analysis.pk}/report/", f"/analyses/{stored_analysis.pk}/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert f"/analyses/{stored_analysis.pk}/report/moments/{FRAME}.jpg" in response.content.decode()
    # The spies are honest: rendering a thumbnail, as the page once did on demand, trips them.
    assert not default_storage.exists(key)
    with pytest.raises(HeavyWorkInARequest):
        thumbnails.moment_thumbnail(analysis=stored_analysis, frame_index=FRAME)


def test_finishing_an_analysis_stores_its_thumbnails_and_the_image_request_only_reads_them(
        client, stored_analysis, monkeypatch):
    key = thumbnails.thumbnail_key(stored_analysis, FRAME, blur=True)
    analysis_results_stored.send(sender=Analysis, analysis=stored_analysis)
    assert default_storage.exists(key)
    monkeypatch.setattr("ml.runtime.get_detector", lambda *a, **k: pytest.fail("the detector ran in a request"))
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a, **k: pytest.fail("video was decoded in a request"))
    client.force_login(member_of(stored_analysis.footage.project.organisation, Role.VIEWER))
    response = client.get(f"/analyses/{stored_analysis.pk}/report/moments/{FRAME}.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    with default_storage.open(key, "rb") as fh:
        assert response.content == fh.read()


def test_a_thumbnail_never_stored_is_a_placeholder_image(client, stored_analysis, monkeypatch):
    monkeypatch.setattr("ml.runtime.get_detector", lambda *a, **k: pytest.fail("the detector ran in a request"))
    monkeypatch.setattr(cv2, "VideoCapture", lambda *a, **k: pytest.fail("video was decoded in a request"))
    client.force_login(member_of(stored_analysis.footage.project.organisation, Role.VIEWER))
    response = client.get(f"/analyses/{stored_analysis.pk}/report/moments/{FRAME}.jpg")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"
    assert b"No thumbnail was stored for this frame" in response.content
    assert not default_storage.exists(thumbnails.thumbnail_key(stored_analysis, FRAME, blur=True))


def test_failed_analyses_get_no_thumbnails_and_a_render_error_never_reaches_the_worker(stored_analysis,
                                                                                         monkeypatch):
    key = thumbnails.thumbnail_key(stored_analysis, FRAME, blur=True)
    Analysis.objects.filter(pk=stored_analysis.pk).update(status=Analysis.Status.FAILED)
    stored_analysis.refresh_from_db()
    analysis_finished.send(sender=Analysis, analysis=stored_analysis)
    assert not default_storage.exists(key)

    Analysis.objects.filter(pk=stored_analysis.pk).update(status=Analysis.Status.SUCCEEDED)
    stored_analysis.refresh_from_db()
    monkeypatch.setattr("reports.services.moment_thumbnails_render",
                        lambda **kwargs: (_ for _ in ()).throw(RuntimeError("disk full")))
    analysis_results_stored.send(sender=Analysis, analysis=stored_analysis)   # logged, not raised
    assert not default_storage.exists(key)


@pytest.mark.services
def test_thumbnails_from_footage_in_s3(db, s3_storage, settings, tmp_path, webcam_clip, face_frame):
    """With S3 storage (moto's server): the frame comes from the local sha256-keyed copy of the object,
    and the thumbnail is cached as a private object beside the organisation's footage."""
    import boto3

    from analysis.media import local_copy_of_new

    settings.EMO7ION_CACHE_DIR = str(tmp_path / "cache")
    footage = FootageFactory(original_name="webcam.mp4", duration_s=2.4, fps=30.0, frame_count=72)
    with open(webcam_clip, "rb") as fh:
        footage.file.save("webcam.mp4", File(fh), save=False)
    copy = local_copy_of_new(footage.file.name)
    footage.sha256, footage.size_bytes = copy.sha256, copy.size_bytes
    footage.save()
    analysis = AnalysisFactory(footage=footage, status=Analysis.Status.SUCCEEDED)
    box = face_frame[1][0]
    FaceObservation.objects.create(analysis=analysis, segment_index=0, t=1.0, frame_index=FRAME, track_id=0,
                                   x=box["x"], y=box["y"], w=box["w"], h=box["h"], detector_score=0.9,
                                   top_emotion="happy", **probs_for("happy", 0.8))
    data = thumbnails.moment_thumbnail(analysis=analysis, frame_index=FRAME)
    img = _decode(data)
    assert _detail(_inner(img, box)) < 0.1 * _detail(_inner(face_frame[0], box))
    s3 = boto3.client("s3", endpoint_url=s3_storage["endpoint"], aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=s3_storage["bucket"])["Contents"]]
    key = thumbnails.thumbnail_key(analysis, FRAME, blur=True)
    assert key in keys
    assert s3.get_object(Bucket=s3_storage["bucket"], Key=key)["Body"].read() == data


def test_retention_deletes_the_stored_thumbnails_with_the_raw_file(client, stored_analysis):
    """analysis deletes the raw file and says so (footage_file_deleted); reports deletes the frames it made."""
    from analysis import services

    key = thumbnails.thumbnail_key(stored_analysis, FRAME, blur=True)
    analysis_results_stored.send(sender=Analysis, analysis=stored_analysis)
    assert default_storage.exists(key)
    assert services.footage_delete_file(footage=stored_analysis.footage) is True
    assert not default_storage.exists(key)
    client.force_login(member_of(stored_analysis.footage.project.organisation, Role.VIEWER))
    page = client.get(f"/analyses/{stored_analysis.pk}/report/").content.decode()
    assert "retention policy" in page and "Frame not shown" in page and "/report/moments/" not in page
