"""Attention: which way a face points, from YuNet's five landmarks, and whether it faces the camera.

Head pose comes from `cv2.solvePnP` (SQPnP): the rotation that best maps a generic 3-D face onto the five
landmarks YuNet gives (in its order: right eye, left eye, nose tip, right mouth corner, left mouth
corner, "right" being the person's right, i.e. the image's left for a face looking at the camera).

The generic face (GENERIC_FACE_MM, millimetres; x to the image's right, y down, z away from the
camera, origin at the nose tip, for a face looking straight into the camera):

- x and y: the five-point reference layout used to align faces for ArcFace (Deng et al. 2019,
  "ArcFace: Additive Angular Margin Loss for Deep Face Recognition", CVPR; the `arcface_dst` template
  of the InsightFace code, a mean of aligned frontal faces in a 112 x 112 crop), scaled so the eyes
  are 63 mm apart, the mean adult interpupillary distance (Dodgson 2004, "Variation and extrema of
  human interpupillary distance", Proc. SPIE 5291), and made left-right symmetric;
- z (depth behind the nose tip: eyes 20 mm, mouth corners 24 mm): from the generic head model widely
  used with solvePnP (Mallick 2016, "Head Pose Estimation using OpenCV and Dlib", LearnOpenCV: outer
  eye corners 135 and mouth corners 125 units behind the nose tip, 450 units between the eye corners,
  i.e. about 28 and 26 mm for a 95 mm biocular width), moved forward for the pupils, which sit about
  8 mm in front of the outer eye corners.

Camera: unknown, so the principal point is the face box's centre and the focal length
FOCAL_BOX_WIDTHS box widths (a face about 1.5 m away). The angles are therefore measured against the
line from the camera to that face, which is what "facing the camera" means, wherever in the frame
the face is; a wrong focal length changes them little because a face is shallow next to its
distance (weak perspective).

Limits, stated on the report:
- one average adult face: a flatter or deeper face, a child's face or an open mouth (mouth corners
  move) biases the angles by a few degrees, pitch more than yaw;
- the five points are nearly coplanar, so pitch rests on the nose tip alone and is the less certain
  angle; yaw is the one to trust;
- YuNet's landmarks themselves degrade past about 60 degrees of yaw (a profile): such faces still
  read as "not facing", which is what matters here, but their exact angle is not meaningful;
- "facing the camera" is a proxy for "facing the stage" only when the camera sits near the stage;
- Haar boxes have no landmarks: their observations have no pose ("not available"), never "not facing".
"""
from __future__ import annotations

import math

import cv2
import numpy as np

# YuNet's landmark order; the model below follows it.
LANDMARK_NAMES = ("right_eye", "left_eye", "nose_tip", "right_mouth_corner", "left_mouth_corner")
GENERIC_FACE_MM = np.array([
    (-31.5, -36.0, 20.0),   # right eye (image left)
    (31.5, -36.0, 20.0),    # left eye
    (0.0, 0.0, 0.0),        # nose tip
    (-26.0, 36.7, 24.0),    # right mouth corner
    (26.0, 36.7, 24.0),     # left mouth corner
], dtype=np.float64)
EYE_DISTANCE_MM = 63.0
FOCAL_BOX_WIDTHS = 10.0
# "Facing the camera": within these angles of the line to the camera (degrees).
FACING_YAW_DEG = 30.0
FACING_PITCH_DEG = 30.0
# A pose whose landmarks the model cannot reproduce within this share of the eye distance is no pose.
MAX_REPROJECTION_ERROR = 0.25


def rotation_for(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """The rotation that turns the generic face (looking into the camera) to face `yaw_deg` to the
    image's right and `pitch_deg` up: the convention `head_pose` answers in."""
    yaw, pitch = math.radians(yaw_deg), math.radians(pitch_deg)
    turn = np.array([[math.cos(-yaw), 0.0, math.sin(-yaw)], [0.0, 1.0, 0.0],
                     [-math.sin(-yaw), 0.0, math.cos(-yaw)]])
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(-pitch), -math.sin(-pitch)],
                     [0.0, math.sin(-pitch), math.cos(-pitch)]])
    return turn @ tilt


def angles_of(rotation: np.ndarray) -> tuple[float, float]:
    """(yaw, pitch) in degrees of the direction the face points (its -z axis): yaw > 0 towards the
    image's right, pitch > 0 upwards; (0, 0) looks straight into the camera."""
    dx, dy, dz = rotation @ np.array([0.0, 0.0, -1.0])
    return math.degrees(math.atan2(dx, -dz)), math.degrees(math.atan2(-dy, math.hypot(dx, dz)))


def camera_for(box, focal_box_widths: float = FOCAL_BOX_WIDTHS) -> np.ndarray:
    """The assumed pinhole camera: principal point at the box centre, focal length in box widths."""
    x, y, w, h = _box_xywh(box)
    f = max(1.0, focal_box_widths * w)
    return np.array([[f, 0.0, x + w / 2.0], [0.0, f, y + h / 2.0], [0.0, 0.0, 1.0]])


def head_pose(landmarks, box) -> tuple[float, float] | None:
    """(yaw, pitch) in degrees, rounded to 0.1, of a face from its five YuNet landmarks ((5, 2) image
    coordinates) and its box (a FaceBox, (x, y, w, h), or a mapping with x, y, w, h); None when there
    are no landmarks (Haar) or they admit no plausible pose."""
    if landmarks is None:
        return None
    points = np.asarray(landmarks, np.float64)
    if points.shape != (5, 2) or not np.isfinite(points).all():
        return None
    scale = max(float(np.linalg.norm(points[1] - points[0])), float(np.linalg.norm((points[3] + points[4]) / 2 - (points[0] + points[1]) / 2)))
    if scale < 1.0:
        return None
    camera = camera_for(box)
    # SQPnP (Terzakis & Lourakis 2020) finds the global least-squares pose without a starting guess, so
    # the nearly coplanar five points cannot trap it in the mirror solution; one call, about 40 us.
    ok, rvec, tvec = cv2.solvePnP(GENERIC_FACE_MM, points.reshape(5, 1, 2), camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or float(tvec[2, 0]) <= 0:
        return None
    projected, _ = cv2.projectPoints(GENERIC_FACE_MM, rvec, tvec, camera, None)
    error = float(np.sqrt(((projected.reshape(5, 2) - points) ** 2).sum(axis=1).mean())) / scale
    if error > MAX_REPROJECTION_ERROR:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    yaw, pitch = angles_of(rotation)
    if abs(yaw) > 90.0:  # the back of a head has no landmarks: a solution facing away is a bad fit
        return None
    return round(yaw, 1), round(pitch, 1)


def facing(yaw, pitch, *, max_yaw: float = FACING_YAW_DEG, max_pitch: float = FACING_PITCH_DEG) -> np.ndarray:
    """1.0 where a pose faces the camera, 0.0 where it does not, NaN where there is no pose (arrays
    or scalars; None counts as no pose)."""
    yaw = np.asarray(yaw, np.float64)  # None becomes NaN
    pitch = np.asarray(pitch, np.float64)
    known = np.isfinite(yaw) & np.isfinite(pitch)
    inside = (np.abs(np.nan_to_num(yaw)) <= max_yaw) & (np.abs(np.nan_to_num(pitch)) <= max_pitch)
    return np.where(known, inside.astype(np.float64), np.nan)


def _box_xywh(box) -> tuple[float, float, float, float]:
    if hasattr(box, "w"):
        return float(box.x), float(box.y), float(box.w), float(box.h)
    if isinstance(box, dict):
        return float(box["x"]), float(box["y"]), float(box["w"]), float(box["h"])
    x, y, w, h = list(box)[:4]
    return float(x), float(y), float(w), float(h)
