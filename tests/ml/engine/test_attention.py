"""Head pose from five landmarks: known angles on synthetic projections of the generic face (with a
camera, a face and landmark noise that differ from what head_pose assumes), and real photos where we
know which way the crowd looks."""
from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from ml.engine.attention import FACING_YAW_DEG, GENERIC_FACE_MM, angles_of, facing, head_pose, rotation_for

from .conftest import photo


def _look_at(ray: np.ndarray) -> np.ndarray:
    """The rotation taking the camera's axis (0, 0, 1) onto `ray`: a face there 'facing the camera'
    with rotation_for(0, 0) points back along the ray."""
    r = ray / np.linalg.norm(ray)
    axis = np.cross([0.0, 0.0, 1.0], r)
    c = float(r[2])
    if np.linalg.norm(axis) < 1e-12:
        return np.eye(3)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def _landmarks(yaw, pitch, *, focal=1200.0, offset=(0.0, 0.0), depth_scale=1.0, noise=0.0, rng=None):
    """Project the generic face (depths scaled by `depth_scale`) turned by (yaw, pitch) relative to the
    line to the camera, 2 m away, `offset` pixels from the image centre; a face-sized box around it."""
    camera = np.array([[focal, 0, 960.0], [0, focal, 540.0], [0, 0, 1]])
    distance = 2000.0
    ray = np.array([offset[0] * distance / focal, offset[1] * distance / focal, distance])
    rotation = _look_at(ray) @ rotation_for(yaw, pitch)
    rvec, _ = cv2.Rodrigues(rotation)
    points, _ = cv2.projectPoints(GENERIC_FACE_MM * [1.0, 1.0, depth_scale], rvec, ray.reshape(3, 1), camera, None)
    points = points.reshape(5, 2)
    width = 150.0 * focal / distance
    if noise:
        points = points + rng.normal(0.0, noise * width, points.shape)
    box = (points[2, 0] - width / 2, points[2, 1] - 0.65 * width, width, 1.3 * width)
    return points, box


def test_rotation_and_angles_agree():
    for yaw, pitch in itertools.product([-70, -20, 0, 35], [-25, 0, 40]):
        assert angles_of(rotation_for(yaw, pitch)) == pytest.approx((yaw, pitch), abs=1e-9)


@pytest.mark.parametrize("yaw", [-60, -45, -30, -15, 15, 30, 45, 60])
def test_yaw_sign_follows_the_nose(yaw):
    """Physical meaning, not only self-consistency: a face turned to the image's right shows its nose
    tip right of the eyes' midpoint, and its yaw is positive."""
    points, box = _landmarks(yaw, 0)
    assert np.sign(points[2, 0] - points[:2, 0].mean()) == np.sign(yaw)
    assert np.sign(head_pose(points, box)[0]) == np.sign(yaw)


def test_yaw_within_15_degrees_on_synthetic_projections_at_known_angles():
    rng = np.random.default_rng(3)
    worst = 0.0
    cases = itertools.product([-60, -40, -20, 0, 20, 40, 60], [-20, 0, 20], [0.85, 1.0, 1.2], [800.0, 2500.0],
                              [(0.0, 0.0), (300.0, -150.0)])
    for yaw, pitch, depth, focal, offset in cases:
        # A face 15-20% flatter or deeper than the model, a camera it does not know, 1.5% landmark noise.
        points, box = _landmarks(yaw, pitch, focal=focal, offset=offset, depth_scale=depth, noise=0.004, rng=rng)
        got = head_pose(points, box)
        assert got is not None, (yaw, pitch, depth, focal, offset)
        if abs(yaw) >= 20:
            assert np.sign(got[0]) == np.sign(yaw), (yaw, pitch, got)
        worst = max(worst, abs(got[0] - yaw))
    assert worst <= 15.0


def test_exact_generic_face_is_recovered_and_no_landmarks_is_no_pose():
    points, box = _landmarks(25, -10)
    assert head_pose(points, box) == pytest.approx((25.0, -10.0), abs=0.3)
    assert head_pose(None, box) is None                                # Haar: no landmarks
    assert head_pose(np.zeros((5, 2)), box) is None                    # degenerate
    assert head_pose([[1, 2], [3, 4]], box) is None                    # not five points
    assert head_pose(points, {"x": box[0], "y": box[1], "w": box[2], "h": box[3]}) == head_pose(points, box)


def test_facing_is_one_zero_or_not_available():
    out = facing([0.0, FACING_YAW_DEG + 1, None, 10.0], [0.0, 0.0, None, -45.0])
    assert out[0] == 1.0 and out[1] == 0.0 and np.isnan(out[2]) and out[3] == 0.0


def _attention_of(detector, prefix: str) -> tuple[float, int]:
    image = cv2.imread(str(photo(prefix)))
    poses = [head_pose(b.landmarks, b) for b in detector.detect(image)]
    known = [p for p in poses if p is not None]
    return float(np.mean(facing([p[0] for p in known], [p[1] for p in known]))), len(known)


def test_a_selfie_faces_the_camera_and_a_concert_audience_in_profile_does_not(yunet):
    selfie, selfie_faces = _attention_of(yunet, "12")
    concert, concert_faces = _attention_of(yunet, "06")
    assert selfie_faces >= 5 and concert_faces >= 5
    assert selfie > concert
    assert selfie >= 0.6 and concert <= 0.3
