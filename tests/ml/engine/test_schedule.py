"""The detection schedule (`ml.engine.schedule`) on real footage and photos, with the real YuNet:
the adaptive schedule keeps the full schedule's faces while the detector looks at fewer pixels,
picks up a face that enters within k frames, and adapts k to how the scene behaves."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from ml.engine.errors import ConfigurationError
from ml.engine.schedule import SCHEDULES, AdaptiveOptions, AdaptiveSchedule, FullSchedule, make_schedule
from ml.engine.tracker import IouTracker, iou_matrix

from .conftest import photo, video
from .test_detectors import GROUND_TRUTH


class PixelCounter:
    """The real detector, counting the pixels it is asked to look at (a spy, not a stand-in)."""

    def __init__(self, inner):
        self.inner, self.name, self.pixels = inner, inner.name, 0.0

    def base_scale(self, width, height):
        return self.inner.base_scale(width, height)

    def detect(self, image):
        return self.detect_scaled(image, self.base_scale(image.shape[1], image.shape[0]))

    def detect_scaled(self, image, scale):
        self.pixels += image.shape[0] * image.shape[1] * scale * scale
        return self.inner.detect_scaled(image, scale)


def run(schedule, frames, fps: float = 25.0) -> list[list]:
    return [schedule.step(frame, i / fps)[0] for i, frame in enumerate(frames)]


def frames_of(path, every: int = 1):
    """The frames of a clip, one after another (never all in memory: 1080p frames are 6 MB each)."""
    capture = cv2.VideoCapture(str(path))
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if index % every == 0:
            yield frame
        index += 1
    capture.release()


def matched(reference: list, found: list, min_iou: float = 0.3) -> int:
    if not reference or not found:
        return 0
    iou = iou_matrix(np.array([b.as_tuple() for b in reference], float), np.array([b.as_tuple() for b in found], float))
    rows, cols = linear_sum_assignment(-iou)
    return int((iou[rows, cols] >= min_iou).sum())


@pytest.mark.slow
def test_adaptive_keeps_the_full_schedules_faces_on_the_crowd_clip_with_far_less_detection(yunet):
    """The crowd clip, every frame (105 frames of 1080p): the full schedule's 817 faces are today's
    numbers; the adaptive one finds at least 95% of them, nearly all the same boxes, while the
    detector looks at well under half the pixels."""
    full_spy, adaptive_spy = PixelCounter(yunet), PixelCounter(yunet)
    full = run(FullSchedule(full_spy, IouTracker()), frames_of(video("01")))
    adaptive_schedule = AdaptiveSchedule(adaptive_spy, IouTracker())
    adaptive = run(adaptive_schedule, frames_of(video("01")))

    full_faces, adaptive_faces = sum(map(len, full)), sum(map(len, adaptive))
    same = sum(matched(f, a) for f, a in zip(full, adaptive))
    assert full_faces == 817
    assert adaptive_faces >= 0.95 * full_faces, (adaptive_faces, full_faces)
    assert same >= 0.92 * full_faces, (same, full_faces)
    assert adaptive_spy.pixels <= 0.5 * full_spy.pixels, adaptive_spy.pixels / full_spy.pixels
    stats = adaptive_schedule.stats()
    assert stats["frames"] == 105 and stats["full_detections"] < 105 and stats["region_frames"] > 0
    assert all(b.score >= 0.6 for boxes in adaptive for b in boxes)


def shaken(image: np.ndarray, n: int) -> list[np.ndarray]:
    """A still photo as n frames of a hand-held camera: it shakes by up to 2 pixels."""
    shifts = [0, 1, 2, 1, 0, -1, -2, -1]
    return [cv2.warpAffine(image, np.float32([[1, 0, shifts[i % 8]], [0, 1, shifts[(i + 2) % 8]]]),
                           (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE) for i in range(n)]


@pytest.mark.parametrize("prefix", ["12", "14", "15"])
def test_every_face_of_the_group_photos_is_found_in_every_frame(yunet, prefix):
    """The held-out-style group photos, filmed still: between full detections every face is
    followed in its region (these photos are small, so the detector works at twice their size)."""
    frames = shaken(cv2.imread(str(photo(prefix))), 16)
    schedule = AdaptiveSchedule(yunet, IouTracker())
    found = run(schedule, frames)
    truth = GROUND_TRUTH[prefix]
    for i, (frame, boxes) in enumerate(zip(frames, found)):
        expected = yunet.detect(frame)  # the full detection of the same frame
        got = [tuple(b.as_tuple()) for b in boxes]
        hits = sum(1 for t in truth if got and iou_matrix(np.array([t], float), np.array(got, float)).max() >= 0.4)
        full_hits = sum(1 for t in truth if expected and iou_matrix(
            np.array([t], float), np.array([b.as_tuple() for b in expected], float)).max() >= 0.4)
        assert hits >= full_hits, (i, got)
    assert sum(len(b) for b in found[:1]) == 7  # the first frame: all seven
    assert schedule.stats()["region_frames"] >= 8  # most frames were followed, not detected in full


def test_a_face_entering_mid_way_is_found_at_the_next_full_detection(yunet):
    """Six people sit still; a seventh appears at frame 33. The schedule, which has grown k on the
    quiet scene, finds the newcomer at its next full detection: within k frames."""
    image = cv2.imread(str(photo("14")))
    x, y, w, h = GROUND_TRUTH["14"][4]
    hidden = image.copy()
    hidden[y - 10:y + h + 10, x - 10:x + w + 10] = cv2.blur(image[y - 10:y + h + 10, x - 10:x + w + 10], (61, 61))
    schedule = AdaptiveSchedule(yunet, IouTracker())
    entry, found_at, k_at_entry, full_frames = 33, None, None, []
    for i in range(70):
        frame = hidden if i < entry else image
        boxes, _ = schedule.step(frame, i / 25.0)
        if schedule.counts["full_detections"] > len(full_frames):
            full_frames.append(i)
        if i == entry:
            k_at_entry = schedule.k
        seen = any(abs(b.x - x) <= 8 and abs(b.y - y) <= 8 for b in boxes)
        assert not (seen and i < entry)
        if seen and found_at is None:
            found_at = i
    assert k_at_entry is not None and k_at_entry >= 3  # a quiet scene lets k grow
    assert found_at is not None
    assert found_at in full_frames and found_at - entry < max(k_at_entry, schedule.k)
    assert found_at - entry <= AdaptiveOptions().k_max


def test_k_grows_on_a_quiet_scene_and_drops_when_the_scene_changes(yunet):
    quiet = shaken(cv2.imread(str(photo("14"))), 60)
    other = shaken(cv2.imread(str(photo("15"))), 6)
    schedule = AdaptiveSchedule(yunet, IouTracker())
    run(schedule, quiet)
    assert schedule.k >= 8
    full_before = schedule.counts["full_detections"]
    for i, frame in enumerate(other):
        schedule.step(frame, (60 + i) / 25.0)
        if i == 1:
            # Every followed face was lost at once: the very next frame was a full detection.
            assert schedule.counts["full_detections"] > full_before
    assert schedule.k <= 2  # seven new faces at once: follow less, detect more


def test_at_a_low_sample_rate_every_frame_is_a_full_detection(yunet):
    """At 2 frames per second people move too far to be followed in their regions: new faces must not
    wait, so each sampled frame is detected in full (at the adapted resolution)."""
    schedule = AdaptiveSchedule(yunet, IouTracker())
    found = run(schedule, frames_of(video("01"), every=12), fps=25.0 / 12)
    assert schedule.stats()["full_detections"] == len(found) == 9


def test_schedule_names_and_fallback(yunet):
    assert SCHEDULES == ("full", "adaptive")
    assert make_schedule("full", yunet, IouTracker()).name == "full"
    assert make_schedule("Adaptive", yunet, IouTracker()).name == "adaptive"
    with pytest.raises(ConfigurationError, match="full, adaptive"):
        make_schedule("sometimes", yunet, IouTracker())
    with pytest.raises(ConfigurationError, match="k_maximum"):
        make_schedule("adaptive", yunet, IouTracker(), {"k_maximum": 3})

    class DetectOnly:
        """A detector that cannot detect at a chosen scale: the full schedule runs, and says so."""
        name = "test"

        def detect(self, frame):
            return yunet.detect(frame)

    assert make_schedule("adaptive", DetectOnly(), IouTracker()).name == "full"
    options = make_schedule("adaptive", yunet, IouTracker(), {"k_max": 5}).options
    assert options.k_max == 5 and options.k_min == 1
