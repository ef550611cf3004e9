"""Face crops: framed like FER2013, square, grey, clipped at borders without stretching."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ml.engine.detectors import FaceBox
from ml.engine.errors import ImageReadError
from ml.engine.faces import crop_face_or_whole, crop_faces, face_square, framing_for
from ml.engine.tracker import iou_matrix

from .conftest import photo

# FER faces enlarged to 96 px (a typical face in HD footage) inside a frame.
EMBED_SCALE = 2
EMBED_PAD = 96


def fer_faces(fer_root: Path, per_class: int = 12) -> list[np.ndarray]:
    # Training images: the framing constants were measured on PublicTest (val) images.
    images = []
    for folder in sorted((fer_root / "train").iterdir()):
        for path in sorted(folder.glob("*.jpg"))[:per_class]:
            images.append(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE))
    return images


def embed(face: np.ndarray) -> np.ndarray:
    """A FER face enlarged into a bigger frame, as a face would appear in footage."""
    big = cv2.resize(face, None, fx=EMBED_SCALE, fy=EMBED_SCALE, interpolation=cv2.INTER_CUBIC)
    big = cv2.copyMakeBorder(big, EMBED_PAD, EMBED_PAD, EMBED_PAD, EMBED_PAD, cv2.BORDER_REPLICATE)
    return cv2.cvtColor(big, cv2.COLOR_GRAY2BGR)


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    a = a.astype(np.float64).ravel()
    b = b.astype(np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    return float((a @ b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-9))


@pytest.fixture(scope="module")
def yunet_native(yunet_model_path):
    """YuNet without auto-upscaling, so the face is seen at the size we put it in."""
    from ml.engine.detectors import make_detector
    return make_detector("yunet", yunet_model=yunet_model_path, upscale=1.0)


def test_crops_reproduce_fer2013_framing(yunet_native, fer_sample_dir):
    """Detect the face in an enlarged FER2013 image: the square we would crop should be the FER
    image's own frame. FER2013's framing varies from face to face (its crops came from another
    detector), so we check the estimate is unbiased in size and position, and that it is closer to
    FER's frame than the detector box itself or a loose crop."""
    side_true = 48 * EMBED_SCALE
    truth = np.array([[EMBED_PAD, EMBED_PAD, side_true, side_true]], float)
    scale, dx, dy, iou_ours, iou_box, iou_loose = [], [], [], [], [], []
    for face in fer_faces(fer_sample_dir):
        frame = embed(face)
        boxes = yunet_native.detect(frame)
        if not boxes:
            continue
        box = max(boxes, key=lambda b: b.score)
        cx, cy, side = face_square(box)
        scale.append(side / side_true)
        dx.append((cx - EMBED_PAD - side_true / 2) / side_true)
        dy.append((cy - EMBED_PAD - side_true / 2) / side_true)
        iou_ours.append(iou_matrix(np.array([[cx - side / 2, cy - side / 2, side, side]]), truth)[0, 0])
        iou_box.append(iou_matrix(np.array([box.as_tuple()], float), truth)[0, 0])
        big = side * 1.5
        iou_loose.append(iou_matrix(np.array([[cx - big / 2, cy - big / 2, big, big]]), truth)[0, 0])
    assert len(scale) >= 70  # of 84 faces
    assert np.median(scale) == pytest.approx(1.0, abs=0.05)
    assert abs(np.median(dx)) < 0.03 and abs(np.median(dy)) < 0.03
    assert np.median(iou_ours) > 0.7
    assert np.mean(iou_ours) > np.mean(iou_box)
    assert np.mean(iou_ours) > np.mean(iou_loose) + 0.2


def test_crop_pixels_are_the_fer_face(yunet_native, fer_sample_dir):
    """The crop's pixels correlate with the FER image they came from (not just any face)."""
    faces = fer_faces(fer_sample_dir, per_class=4)
    own, other = [], []
    for i, face in enumerate(faces):
        frame = embed(face)
        boxes = yunet_native.detect(frame)
        if not boxes:
            continue
        crop = crop_faces(frame, [max(boxes, key=lambda b: b.score)])[0]
        own.append(similarity(crop, face))
        other.append(similarity(crop, faces[(i + 7) % len(faces)]))
    assert np.median(own) > 0.5
    assert np.median(own) > np.median(other) + 0.3


def test_crop_shape_and_type(yunet):
    image = cv2.imread(str(photo("15")))
    boxes = yunet.detect(image)
    crops = crop_faces(image, boxes)
    assert crops.shape == (7, 48, 48) and crops.dtype == np.uint8
    assert crop_faces(image, boxes, size=64).shape == (7, 64, 64)
    assert crop_faces(image, []).shape == (0, 48, 48)
    # Grey input gives the same crops as colour input.
    assert np.array_equal(crop_faces(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), boxes), crops)


def test_crop_at_the_border_is_padded_not_stretched():
    # An image with a vertical edge at x = 15 (dark left, bright right) and a YuNet box of a face
    # cut by the left border: its FER square reaches about 9 px beyond the image.
    image = np.zeros((100, 100), np.uint8)
    image[:, 15:] = 200
    box = (0, 20, 20, 48)
    cx, _, side = face_square(box)
    x0 = cx - side / 2
    assert x0 < -8
    crop = crop_faces(image, [box])[0]
    assert crop.shape == (48, 48)
    # Padding (repeated dark edge) keeps the geometry: the edge is where it would be in an
    # unclipped square. Squeezing the clipped window into 48 px would move it left.
    expected_edge = (15 - x0) / side * 48
    bright_cols = np.flatnonzero(crop[24] > 100)
    assert abs(bright_cols[0] - expected_edge) <= 1.0
    squeezed_edge = 15 / (side + x0) * 48
    assert abs(bright_cols[0] - squeezed_edge) > 4


def test_box_entirely_outside_gives_a_blank_crop():
    crop = crop_faces(np.full((50, 50), 255, np.uint8), [(500, 500, 20, 20)])[0]
    assert crop.shape == (48, 48) and crop.max() == 0


def test_framing_depends_on_the_detector():
    yunet_box = FaceBox(100, 100, 76, 96, 0.9, landmarks=((0, 0),) * 5)
    haar_box = FaceBox(100, 100, 97, 97, 0.9, landmarks=None)
    assert framing_for(yunet_box) == "yunet" and framing_for(haar_box) == "haar"
    assert framing_for((0, 0, 40, 55)) == "yunet"  # a tall tuple box
    # Both imply a FER frame of about 100 px.
    assert face_square(yunet_box)[2] == pytest.approx(100, rel=0.02)
    assert face_square(haar_box)[2] == pytest.approx(100, rel=0.02)


def test_crop_face_or_whole_keeps_fer_images_whole(yunet, fer_sample_dir):
    # 48 px FER images are already classifier-size crops: used as they are.
    for face in fer_faces(fer_sample_dir, per_class=2):
        assert np.array_equal(crop_face_or_whole(face, yunet), face)


def test_crop_face_or_whole_frames_audit_portraits(yunet):
    """Portraits with background (JAFFE/TFEID, 256 px) are cropped to the FER-framed face: the crop
    is smaller than the portrait and is the face the detector sees in it."""
    from tests.conftest import shared_path
    folder = shared_path("datasets", "audit", "jaffe-tfeid")
    for path in sorted(folder.glob("*.jpg"))[::50]:
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        crop = crop_face_or_whole(grey, yunet)
        whole = cv2.resize(grey, (48, 48), interpolation=cv2.INTER_AREA)
        assert crop.shape == (48, 48)
        assert not np.array_equal(crop, whole)
        box = max(yunet.detect(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)), key=lambda b: b.score)
        assert similarity(crop, crop_faces(grey, [box])[0]) > 0.9, path.name


def test_crop_face_or_whole_uses_the_whole_image_when_no_face(yunet):
    blank = np.full((120, 90), 128, np.uint8)
    blank[40:80, 30:60] = 10
    expected = cv2.resize(blank, (48, 48), interpolation=cv2.INTER_AREA)
    assert np.array_equal(crop_face_or_whole(blank, yunet), expected)
    assert np.array_equal(crop_face_or_whole(blank, None), expected)


def test_crop_face_or_whole_finds_the_face_in_a_larger_photo(yunet):
    image = cv2.imread(str(photo("14")), cv2.IMREAD_GRAYSCALE)
    crop = crop_face_or_whole(image, yunet)
    assert crop.shape == (48, 48)
    # It is one of the seven faces, not the whole scene.
    boxes = yunet.detect(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR))
    sims = [similarity(c, crop) for c in crop_faces(image, boxes)]
    assert max(sims) > 0.9


def test_not_an_image():
    with pytest.raises(ImageReadError):
        crop_faces(np.zeros((0,), np.uint8), [(0, 0, 1, 1)])
    with pytest.raises(ImageReadError):
        crop_faces(np.zeros((10, 10), np.float64), [(0, 0, 5, 5)])
