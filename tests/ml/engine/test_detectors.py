"""Detectors on real photos: the issue's targets, and clear errors for bad names and files."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from ml.engine.detectors import (DETECTOR_NAMES, YUNET_SCORE_THRESHOLD, FaceBox, default_detector_name,
                                 detect_in_regions, make_detector, suppress_overlaps)
from ml.engine.errors import ConfigurationError, ImageReadError, ModelFileError, UnknownDetectorError
from ml.engine.tracker import iou_matrix

from .conftest import photo

# The seven faces in each of these photos, boxed by hand-checked YuNet output (x, y, w, h).
GROUND_TRUTH = {
    "12": [(80, 285, 129, 161), (0, 243, 76, 115), (356, 103, 134, 190), (212, 121, 95, 128),
           (488, 297, 126, 265), (0, 407, 64, 148), (521, 60, 89, 166)],
    "14": [(226, 51, 35, 49), (265, 122, 37, 47), (193, 105, 40, 55), (367, 125, 36, 47),
           (105, 134, 48, 58), (319, 114, 32, 44), (134, 73, 42, 53)],
    "15": [(101, 191, 28, 39), (164, 114, 26, 36), (202, 88, 29, 40), (300, 77, 35, 50),
           (318, 229, 37, 49), (183, 210, 29, 39), (392, 79, 43, 60)],
}


def match(found: list[FaceBox], truth: list[tuple], min_iou: float = 0.4) -> tuple[int, int, int]:
    """(true positives, false positives, missed) with one-to-one matching at min_iou."""
    if not found:
        return 0, 0, len(truth)
    iou = iou_matrix(np.array([b.as_tuple() for b in found], float), np.array(truth, float))
    from scipy.optimize import linear_sum_assignment
    rows, cols = linear_sum_assignment(-iou)
    tp = int(sum(iou[r, c] >= min_iou for r, c in zip(rows, cols)))
    return tp, len(found) - tp, len(truth) - tp


@pytest.mark.parametrize("prefix", sorted(GROUND_TRUTH))
def test_yunet_finds_all_seven_faces_and_nothing_else(yunet, prefix):
    image = cv2.imread(str(photo(prefix)))
    boxes = yunet.detect(image)
    tp, fp, missed = match(boxes, GROUND_TRUTH[prefix])
    assert (tp, fp, missed) == (7, 0, 0), [b.as_tuple() + (round(b.score, 2),) for b in boxes]
    assert all(b.score >= YUNET_SCORE_THRESHOLD for b in boxes)


def test_yunet_boxes_carry_landmarks_inside_the_face(yunet):
    image = cv2.imread(str(photo("15")))
    for box in yunet.detect(image):
        assert box.landmarks is not None and len(box.landmarks) == 5
        (rex, rey), (lex, ley), (nx, ny), (rmx, rmy), (lmx, lmy) = box.landmarks
        for px, py in box.landmarks:
            assert box.x - 2 <= px <= box.x + box.w + 2 and box.y - 2 <= py <= box.y + box.h + 2
        assert max(rey, ley) < min(rmy, lmy)  # eyes above the mouth: an upright face


def test_yunet_with_upscale_finds_the_staff_group(yunet_model_path):
    # ≈ 340 faces, most 10-20 px wide.
    detector = make_detector("yunet", yunet_model=yunet_model_path, upscale=2.0)
    boxes = detector.detect(cv2.imread(str(photo("02"))))
    assert len(boxes) >= 300
    assert len(boxes) <= 360  # and not a carpet of false positives


def test_haar_is_the_weak_fallback_on_crowds(haar):
    boxes = haar.detect(cv2.imread(str(photo("02"))))
    assert 10 <= len(boxes) <= 60  # the issue measured 24; this is why yunet is the default


def test_haar_finds_faces_on_a_group_photo(haar):
    boxes = haar.detect(cv2.imread(str(photo("14"))))
    tp, fp, _ = match(boxes, GROUND_TRUTH["14"])
    assert tp >= 5 and fp <= 1
    assert all(b.landmarks is None and 0 < b.score < 1 for b in boxes)


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_detectors_accept_grey_bgra_and_empty_frames(name, yunet_model_path):
    detector = make_detector(name, yunet_model=yunet_model_path)
    image = cv2.imread(str(photo("15")))
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    assert len(detector.detect(grey)) >= 5
    assert len(detector.detect(bgra)) == len(detector.detect(image))
    assert detector.detect(np.zeros((360, 640, 3), np.uint8)) == []


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_boxes_stay_inside_the_frame(name, yunet_model_path):
    detector = make_detector(name, yunet_model=yunet_model_path)
    image = cv2.imread(str(photo("12")))  # faces cut by the left and right edges
    h, w = image.shape[:2]
    for b in detector.detect(image):
        assert b.x >= 0 and b.y >= 0 and b.x + b.w <= w and b.y + b.h <= h and b.w > 0 and b.h > 0


def test_detector_sizes_change_between_frames(yunet):
    # One detector object serves frames of any size (setInputSize is handled inside).
    small = cv2.imread(str(photo("14")))
    large = cv2.imread(str(photo("02")))
    assert len(yunet.detect(small)) == 7
    assert len(yunet.detect(large)) > 250
    assert len(yunet.detect(small)) == 7


def test_not_an_image_is_a_clear_error(yunet):
    with pytest.raises(ImageReadError):
        yunet.detect(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ImageReadError):
        yunet.detect(np.zeros((10, 10, 3), np.float32))
    with pytest.raises(ImageReadError):
        yunet.detect("frame.jpg")


def test_unknown_detector_name():
    with pytest.raises(UnknownDetectorError, match="yunet, haar"):
        make_detector("retinaface")
    assert isinstance(UnknownDetectorError("x"), ValueError)


def test_yunet_without_a_model_file(tmp_path):
    with pytest.raises(ModelFileError, match="EMO7ION_YUNET_MODEL"):
        make_detector("yunet", yunet_model=None)
    with pytest.raises(ModelFileError, match="does not exist"):
        make_detector("yunet", yunet_model=tmp_path / "missing.onnx")


def test_yunet_with_a_corrupt_model_file(tmp_path, yunet_model_path):
    text = tmp_path / "detector.onnx"
    text.write_text("not an onnx file")
    with pytest.raises(ModelFileError, match="could not be loaded"):
        make_detector("yunet", yunet_model=text)
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(yunet_model_path.read_bytes()[:50_000])
    with pytest.raises(ModelFileError):
        make_detector("yunet", yunet_model=cut)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="empty"):
        make_detector("yunet", yunet_model=empty)


def test_yunet_runtimes_find_the_same_faces(yunet_model_path):
    """ONNX Runtime (the default where installed) and OpenCV's FaceDetectorYN run the same network and
    decode it the same way: the same boxes, scores and landmarks on a crowd, full size and downscaled,
    and on a frame size that is not a multiple of 32."""
    on_ort = make_detector("yunet", yunet_model=yunet_model_path, runtime="onnxruntime")
    on_opencv = make_detector("yunet", yunet_model=yunet_model_path, runtime="opencv")
    assert (on_ort.runtime, on_opencv.runtime) == ("onnxruntime", "opencv")
    assert make_detector("yunet", yunet_model=yunet_model_path).runtime == "onnxruntime"
    crowd = cv2.imread(str(photo("07")))
    odd = np.ascontiguousarray(cv2.imread(str(photo("15")))[:363, :471])
    for image, scale in ((crowd, 1.0), (crowd, 0.5), (odd, 2.0)):
        a, b = on_ort.detect_scaled(image, scale), on_opencv.detect_scaled(image, scale)
        assert len(a) == len(b) > 0
        assert [x.as_tuple() for x in a] == [x.as_tuple() for x in b]
        assert np.allclose([x.score for x in a], [x.score for x in b], atol=1e-3)
        assert np.allclose([x.landmarks for x in a], [x.landmarks for x in b], atol=0.5)
    assert len(on_ort.detect(crowd)) > 100  # a crowd, not a trivially empty comparison


def test_yunet_runtime_errors_are_clear(tmp_path, yunet_model_path):
    with pytest.raises(ConfigurationError, match="onnxruntime, opencv"):
        make_detector("yunet", yunet_model=yunet_model_path, runtime="tensorrt")
    # An ONNX file that is a network, but not YuNet's: refused when it is loaded, not mid-analysis.
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Relu", ["input"], ["out"])], "not-yunet",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 640, 640])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 640, 640])])
    other = tmp_path / "other.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)]), other)
    with pytest.raises(ModelFileError, match="not a YuNet network"):
        make_detector("yunet", yunet_model=other, runtime="onnxruntime")
    for runtime in ("onnxruntime", "opencv"):
        text = tmp_path / f"{runtime}.onnx"
        text.write_text("not an onnx file")
        with pytest.raises(ModelFileError, match="could not be loaded"):
            make_detector("yunet", yunet_model=text, runtime=runtime)


def test_bad_options_are_clear(yunet_model_path):
    with pytest.raises(ValueError, match="upscale"):
        make_detector("yunet", yunet_model=yunet_model_path, upscale=0.5)
    with pytest.raises(ValueError, match="Invalid option"):
        make_detector("haar", colour="red")


def test_default_detector_name(yunet_model_path, tmp_path):
    assert default_detector_name(yunet_model_path) == "yunet"
    assert default_detector_name(str(yunet_model_path)) == "yunet"
    assert default_detector_name(None) == "haar"
    assert default_detector_name("") == "haar"
    assert default_detector_name(tmp_path / "absent.onnx") == "haar"


@pytest.mark.parametrize("name, runtime", [("yunet", "onnxruntime"), ("yunet", "opencv"), ("haar", None)])
def test_one_detector_shared_by_threads(name, runtime, yunet_model_path):
    # Workers cache one detector per process; threads must not corrupt each other's frames.
    from concurrent.futures import ThreadPoolExecutor
    detector = make_detector(name, yunet_model=yunet_model_path, **({"runtime": runtime} if runtime else {}))
    images = [cv2.imread(str(photo(p))) for p in ("14", "15", "12", "16")]
    expected = [[b.as_tuple() for b in detector.detect(im)] for im in images]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda im: [b.as_tuple() for b in detector.detect(im)], images * 3))
    assert got == expected * 3


@pytest.mark.parametrize("name", DETECTOR_NAMES)
def test_detect_is_detect_scaled_at_the_base_scale(name, yunet_model_path):
    detector = make_detector(name, yunet_model=yunet_model_path)
    image = cv2.imread(str(photo("15")))  # 500 px wide: "auto" works at twice its size
    assert detector.base_scale(500, 375) == (2.0 if name == "yunet" else 1.0)
    assert detector.base_scale(1920, 1080) == 1.0
    assert [b.as_tuple() for b in detector.detect(image)] == \
           [b.as_tuple() for b in detector.detect_scaled(image, detector.base_scale(500, 375))]


def test_faces_in_regions_come_back_in_frame_coordinates(yunet):
    """Regions around four of the seven faces, looked at in one call: those four faces where a full
    detection puts them, and nothing that is not a face (a region that overlaps a neighbour may see
    it too, and overlapping regions see a face twice: one box per face once overlaps are merged); a
    region of empty wall finds nothing."""
    image = cv2.imread(str(photo("14")))
    truth = GROUND_TRUTH["14"][:4]
    regions = [(x - w, y - h, x + 2 * w, y + 2 * h, 2.0) for x, y, w, h in truth]
    boxes = suppress_overlaps(detect_in_regions(yunet, image, regions), 0.4)
    assert match(boxes, truth, min_iou=0.6)[0] == 4, [b.as_tuple() for b in boxes]
    assert match(boxes, GROUND_TRUTH["14"], min_iou=0.3)[1] == 0  # every box is one of the seven faces
    assert all(b.landmarks is not None for b in boxes)
    for b in boxes:  # the landmarks follow their box back into the frame
        assert all(b.x - 2 <= px <= b.x + b.w + 2 and b.y - 2 <= py <= b.y + b.h + 2 for px, py in b.landmarks)
    assert detect_in_regions(yunet, image, [(400, 250, 500, 334, 2.0)]) == []
    assert detect_in_regions(yunet, image, []) == []


def test_one_box_per_face_when_passes_overlap():
    a = FaceBox(10, 10, 40, 50, score=0.9)
    a_again = FaceBox(12, 11, 40, 48, score=0.7)
    b = FaceBox(100, 10, 40, 50, score=0.8)
    assert suppress_overlaps([a_again, b, a], 0.4) == [a, b]
    assert suppress_overlaps([], 0.4) == []
