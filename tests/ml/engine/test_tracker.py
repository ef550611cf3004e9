"""Tracking: Hungarian IoU/centroid association, max age, and stitching across segments."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ml.engine.tracker import IouTracker, association_cost, iou_matrix, stitch_tracks

from .conftest import video


def test_iou_matrix_values():
    a = np.array([[0, 0, 10, 10], [100, 100, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [50, 50, 5, 5]], float)
    iou = iou_matrix(a, b)
    assert iou.shape == (2, 3)
    assert iou[0, 0] == pytest.approx(1.0)
    assert iou[0, 1] == pytest.approx(50 / 150)
    assert iou[0, 2] == 0 and iou[1].sum() == 0


def test_two_faces_keep_their_ids_while_moving():
    tracker = IouTracker()
    a, b = [100.0, 100.0], [300.0, 100.0]
    history = []
    for step in range(10):
        boxes = [(a[0], a[1], 50, 60), (b[0], b[1], 50, 60)]
        if step % 2:  # detector order is arbitrary
            boxes = boxes[::-1]
            ids = tracker.update(boxes)[::-1]
        else:
            ids = tracker.update(boxes)
        history.append(ids)
        a[0] += 8
        b[0] -= 8
    assert all(ids == [0, 1] for ids in history)
    assert tracker.track_count == 2


def test_hungarian_beats_greedy_on_a_crossing():
    # Greedy would give the new box that overlaps both tracks most to the first track and lose
    # the second; the optimal assignment keeps both.
    tracker = IouTracker(iou_threshold=0.1)
    tracker.update([(0, 0, 100, 100), (60, 0, 100, 100)])
    ids = tracker.update([(30, 0, 100, 100), (90, 0, 100, 100)])
    assert ids == [0, 1]


def test_fast_face_is_followed_by_its_centre():
    # At 2 samples per second a person walking toward the camera moves more than their width.
    tracker = IouTracker()
    ids = [tracker.update([(100 + 70 * k, 200, 60 + 4 * k, 70 + 5 * k)])[0] for k in range(6)]
    assert ids == [0] * 6


def test_far_jump_is_a_new_face():
    tracker = IouTracker()
    assert tracker.update([(100, 100, 40, 40)]) == [0]
    assert tracker.update([(600, 400, 40, 40)]) == [1]


def test_size_change_too_large_is_a_new_face():
    tracker = IouTracker()
    tracker.update([(100, 100, 20, 20)])
    assert tracker.update([(90, 90, 80, 80)]) == [1]  # 4x larger, little overlap


def test_max_age_in_sampled_frames():
    tracker = IouTracker(max_age=2)
    box = (100, 100, 50, 50)
    assert tracker.update([box]) == [0]
    tracker.update([])
    tracker.update([])
    assert tracker.update([box]) == [0]  # missed for 2 frames: same face
    for _ in range(3):
        tracker.update([])
    assert tracker.update([box]) == [1]  # missed for 3 > max_age: a new track


def test_forbidden_pairs_cost():
    cost = association_cost(np.array([[0, 0, 10, 10]], float), np.array([[500, 500, 10, 10]], float))
    assert cost[0, 0] >= 1e6


def test_one_person_in_a_real_clip_is_one_track(yunet):
    from ml.engine.video import iter_sampled_frames
    tracker = IouTracker()
    ids = []
    for _, _, frame in iter_sampled_frames(video("03"), 2.0):
        ids += tracker.update(yunet.detect(frame))
    assert len(ids) >= 38
    assert set(ids) == {0}


def test_boundary_boxes():
    tracker = IouTracker(max_age=1)
    tracker.update([(0, 0, 10, 10)])             # track 0 starts in the first frame
    tracker.update([(0, 0, 10, 10), (200, 200, 20, 20)])  # track 1 starts in frame 2 (within max_age+1)
    tracker.update([(200, 200, 20, 20)])
    tracker.update([(200, 200, 20, 20), (400, 0, 10, 10)])  # track 2 starts late
    first, last = tracker.boundary_boxes()
    assert set(first) == {0, 1}
    assert set(last) == {1, 2}  # track 0 was last seen 2 frames ago (> max_age)
    assert last[1] == (200, 200, 20, 20)


def test_stitch_joins_tracks_across_a_boundary():
    seg0 = {"first_frame_boxes": {0: (10, 10, 50, 50), 1: (300, 10, 50, 50)},
            "last_frame_boxes": {1: (320, 10, 50, 50), 2: (600, 300, 40, 40)}, "track_count": 3}
    seg1 = {"first_frame_boxes": {0: (605, 302, 40, 40), 1: (330, 12, 50, 50)},
            "last_frame_boxes": {1: (340, 12, 50, 50)}, "track_count": 3}
    seg2 = {"first_frame_boxes": {0: (345, 12, 50, 50)}, "last_frame_boxes": {}, "track_count": 1}
    maps = stitch_tracks([seg0, seg1, seg2])
    assert maps[0] == {0: 0, 1: 1, 2: 2}
    assert maps[1] == {0: 2, 1: 1, 2: 3}  # local 0 continues global 2, local 1 continues global 1
    assert maps[2] == {0: 1}               # still the same face, two boundaries later
    # Footage-wide ids are dense and stitching is deterministic.
    assert sorted({g for m in maps for g in m.values()}) == [0, 1, 2, 3]
    assert stitch_tracks([seg0, seg1, seg2]) == maps


def test_stitch_accepts_json_round_tripped_boxes():
    seg0 = {"first_frame_boxes": {}, "last_frame_boxes": {5: [10, 10, 50, 50]}, "track_count": 6}
    seg1 = {"first_frame_boxes": {0: [12, 10, 50, 50]}, "last_frame_boxes": {}, "track_count": 1}
    via_json = json.loads(json.dumps([seg0, seg1]))
    assert stitch_tracks(via_json) == stitch_tracks([seg0, seg1])
    assert stitch_tracks(via_json)[1] == {0: 5}


def test_stitch_does_not_join_across_an_empty_segment():
    seg0 = {"first_frame_boxes": {}, "last_frame_boxes": {0: (10, 10, 50, 50)}, "track_count": 1}
    empty = {"first_frame_boxes": {}, "last_frame_boxes": {}, "track_count": 0}
    seg2 = {"first_frame_boxes": {0: (10, 10, 50, 50)}, "last_frame_boxes": {}, "track_count": 1}
    assert stitch_tracks([seg0, empty, seg2]) == [{0: 0}, {}, {0: 1}]


def test_stitch_tuples_and_missing_counts():
    maps = stitch_tracks([({0: (0, 0, 10, 10)}, {0: (0, 0, 10, 10)}), ({0: (1, 0, 10, 10)}, {})])
    assert maps == [{0: 0}, {0: 0}]
