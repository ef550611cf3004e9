"""The detection schedule: which sampled frames get a full face detection, and how the others are covered.

- `full` (what Emo7ion always did): the detector runs on every sampled frame at its full resolution.
- `adaptive` (the default for analyses; DeepStream's `interval` idea):
  - A full detection every k-th sampled frame. Between two of them, the tracker carries each face
    forward and a cheap re-detection confirms it: the detector runs on a padded region around where
    the track is predicted, all regions of a frame in one call (`detectors.detect_in_regions`). A
    face only becomes an observation where a detector saw it in that frame; nothing is invented.
  - New faces are picked up at the next full detection: at most k sampled frames, and about
    `max_interval_s` seconds, later (so at 2 sampled frames per second every frame is a full one: a
    face moves too far in half a second to be followed by its region).
  - k adapts to how fast faces escape the tracks (new faces at a full detection, tracks lost since
    the last one): it is sized so that the faces waiting for a full detection stay under
    `miss_budget` of all faces; it grows one step at a time, drops at once, and halves when faces
    move fast. Losing half the faces of a frame calls a full detection at the next frame.
  - The full detection's resolution adapts to the faces seen: a downscaled full frame sized so that
    the smaller faces still reach the detector's reliable size, plus full-resolution tiles only
    where smaller faces were seen. A full detection every `refresh_s` seconds is at full resolution.
    Tracks that a full detection misses are re-checked in their regions before they are let go.

YuNet's recall is what makes the numbers: the schedule does less detection, not worse detection.
"""
from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, fields

import numpy as np
from scipy.optimize import linear_sum_assignment

from .detectors import as_bgr, detect_in_regions, suppress_overlaps, supports_scaled_detection
from .errors import ConfigurationError
from .tracker import IouTracker, Track, iou_matrix

SCHEDULES = ("full", "adaptive")
DEFAULT_SCHEDULE = "adaptive"


@dataclass(frozen=True)
class AdaptiveOptions:
    k_start: int = 4            # sampled frames from one full detection to the next, at first
    k_min: int = 1
    k_max: int = 12
    max_interval_s: float = 0.5  # a new face waits at most about this long for a full detection
    refresh_s: float = 2.0      # a full detection this often runs at the detector's full resolution ...
    refresh_min_count: int = 8  # ... and no more often than every n-th full detection
    reliable_face_px: float = 16.0  # face size (detector input pixels) the downscaled pass is trusted for
    small_quantile: float = 0.25  # the downscaled pass is sized for faces from this quantile up ...
    min_factor: float = 0.35      # ... but never below this fraction of full resolution
    max_tiled_area: float = 0.6   # tiles covering more of the frame than this: detect at full resolution
    tile_margin: float = 3.0      # a small-face tile reaches this many face sizes around the face
    tile_min_side: int = 256
    tile_memory: int = 3          # small faces of the last n full detections keep their tiles
    roi_pad: float = 1.0          # a region reaches this many face sizes beyond the predicted box
    clear_score: float = 0.85     # a track last seen with this score is re-checked downscaled ...
    clear_face_px: float = 48.0   # ... with its face about this size
    match_iou: float = 0.3        # a re-detected box belongs to its track above this IoU ...
    match_centre: float = 0.5     # ... or with its centre this close (in face sizes) to the prediction
    match_size_ratio: float = 1.6  # ... and a size within this factor of it
    merge_iou: float = 0.4        # boxes of the downscaled pass and a tile that are one face
    miss_budget: float = 0.05     # share of faces k may leave unseen: a face not yet followed waits
                                  # k/2 frames on average, so k = 2 x budget x faces / (new faces per frame)
    lost_weight: float = 0.5      # a track a region check lost counts as this much of a new face (it
                                  # is retried in its region; most come back at the next full detection)
    rate_smoothing: float = 0.5   # weight of the latest interval in the new-face rate
    fast_motion: float = 0.5      # centre motion per sampled frame, in face sizes, that halves k
    force_fraction: float = 0.5   # faces of a frame lost at once that call a full detection next

    @classmethod
    def from_mapping(cls, options: dict | None) -> "AdaptiveOptions":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(options or {}) - known)
        if unknown:
            raise ConfigurationError(f"Unknown adaptive schedule option(s): {', '.join(unknown)}")
        return cls(**(options or {}))


def _size(box) -> float:
    return float(min(box[2], box[3]))


def _arr(boxes) -> np.ndarray:
    return np.array([b.as_tuple() if hasattr(b, "as_tuple") else tuple(b)[:4] for b in boxes], float).reshape(-1, 4)


class FullSchedule:
    """The detector on every sampled frame at its full resolution."""

    name = "full"

    def __init__(self, detector, tracker: IouTracker):
        self.detector, self.tracker = detector, tracker
        self.frames = 0

    def step(self, frame: np.ndarray, t: float | None = None) -> tuple[list, list[int]]:
        boxes = self.detector.detect(frame)
        self.frames += 1
        return boxes, self.tracker.update(boxes)

    def stats(self) -> dict:
        return {"schedule": self.name, "frames": self.frames, "full_detections": self.frames}


class AdaptiveSchedule:
    """Full detections every k-th sampled frame, tracks confirmed in their regions between them."""

    name = "adaptive"

    def __init__(self, detector, tracker: IouTracker, options: AdaptiveOptions | None = None):
        self.detector, self.tracker = detector, tracker
        self.options = options or AdaptiveOptions()
        self.k = self.options.k_start
        self._since_full: int | None = None
        self._t_full: float | None = None
        self._t_last: float | None = None
        self._t_refresh: float | None = None
        self._since_refresh = 0
        self._force_full = False
        self._lost: set[int] = set()   # tracks a region check missed since the last full detection
        self._tracked_at_full = 0
        self._rate: float | None = None  # faces escaping the tracks per sampled frame (smoothed)
        self._recent_boxes: deque = deque(maxlen=self.options.tile_memory)  # the boxes of recent full detections
        self.counts = {"frames": 0, "full_detections": 0, "refreshes": 0, "tiles": 0, "region_frames": 0,
                       "regions": 0, "regions_confirmed": 0, "k_sum": 0}

    # --- the schedule ------------------------------------------------------------------------------
    def step(self, frame: np.ndarray, t: float | None = None) -> tuple[list, list[int]]:
        bgr = as_bgr(frame)
        self.counts["frames"] += 1
        self.counts["k_sum"] += self.k
        if self._full_due(t):
            return self._full(bgr, t)
        return self._follow(bgr)

    def _full_due(self, t: float | None) -> bool:
        previous, self._t_last = self._t_last, t
        if self._since_full is None or self._force_full or self._since_full + 1 >= self.k:
            return True
        if t is None or self._t_full is None or previous is None:
            return False
        # Due once this frame is nearer the interval's end than the next frame would be: at 2 frames
        # per second and 0.5 s, every frame (a face moves too far in half a second to be followed).
        return t - self._t_full >= self.options.max_interval_s - (t - previous) / 2

    def stats(self) -> dict:
        c = self.counts
        return {"schedule": self.name, "frames": c["frames"], "full_detections": c["full_detections"],
                "full_resolution": c["refreshes"], "tiles": c["tiles"], "region_frames": c["region_frames"],
                "regions": c["regions"], "regions_confirmed": c["regions_confirmed"], "k_final": self.k,
                "k_mean": round(c["k_sum"] / max(1, c["frames"]), 2), "options": asdict(self.options)}

    # --- full detections ---------------------------------------------------------------------------
    def _full(self, bgr: np.ndarray, t: float | None) -> tuple[list, list[int]]:
        found = self._detect_whole(bgr, t)
        # Doubtful tracks the full detection missed (occluded, near the threshold) get one more look in
        # their own region before they lapse; a clear face it missed has most likely left.
        alive = [tr for tr in self.tracker.alive_next() if tr.score < self.options.clear_score]
        missed = [tr for tr in alive if not self._overlaps(self._predicted(tr), found)]
        recovered = self._confirm(bgr, missed)
        self._lost.update(tr.track_id for tr in missed if tr.track_id not in recovered)
        boxes = sorted(found + [b for b in recovered.values() if not self._overlaps(_arr([b])[0], found)],
                       key=lambda b: (b.y, b.x))
        first_new = self.tracker.next_id
        ids = self.tracker.update(boxes)
        new_faces = sum(1 for i in ids if i >= first_new)
        if self.counts["full_detections"] > 0:
            self._adapt(new_faces, self._motion(), self._since_full)
        self.counts["full_detections"] += 1
        self._since_full, self._t_full, self._force_full = 0, t, False
        self._lost.clear()
        self._tracked_at_full = len(boxes)
        self._recent_boxes.append([b.as_tuple() for b in boxes])
        return boxes, ids

    def _detect_whole(self, bgr: np.ndarray, t: float | None) -> list:
        """The downscaled full frame plus full-resolution tiles where small faces are; the detector's
        own full resolution on refresh, when nothing is known yet, or when tiles would cover most of it."""
        o = self.options
        height, width = bgr.shape[:2]
        base = float(self.detector.base_scale(width, height))
        sizes = [_size(tr.box) for tr in self.tracker.alive_next()]
        refresh = not sizes or self._t_refresh is None or (
            t is not None and t - self._t_refresh >= o.refresh_s and self._since_refresh >= o.refresh_min_count)
        self._since_refresh += 1
        factor = 1.0 if refresh else float(np.clip(
            o.reliable_face_px / (np.quantile(sizes, o.small_quantile) * base), o.min_factor, 1.0))
        tiles = [] if factor >= 1.0 else self._tiles(width, height, o.reliable_face_px / (factor * base))
        if factor >= 1.0 or sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in tiles) > o.max_tiled_area * width * height:
            self.counts["refreshes"] += 1
            self._t_refresh = t if t is not None else self._t_refresh
            self._since_refresh = 0
            return self.detector.detect_scaled(bgr, base)
        found = list(self.detector.detect_scaled(bgr, base * factor))
        for x0, y0, x1, y1 in tiles:
            tile = np.ascontiguousarray(bgr[y0:y1, x0:x1])
            found += [_shifted(b, x0, y0) for b in self.detector.detect_scaled(tile, base)]
        self.counts["tiles"] += len(tiles)
        return suppress_overlaps(found, o.merge_iou)

    def _tiles(self, width: int, height: int, small_px: float) -> list[tuple[int, int, int, int]]:
        """Rectangles (x0, y0, x1, y1) around the faces smaller than `small_px`: where they are now
        (tracks) and where the last few full detections saw them (new small faces appear there too:
        the far side of a room, the back of a crowd). Overlapping rectangles are merged."""
        o = self.options
        boxes = [tuple(tr.box) for tr in self.tracker.alive_next()] + [b for seen in self._recent_boxes for b in seen]
        rects = []
        for x, y, w, h in boxes:
            size = min(w, h)
            if size >= small_px:
                continue
            half = max(o.tile_min_side / 2, o.tile_margin * size)
            cx, cy = x + w / 2, y + h / 2
            rects.append([max(0, int(cx - half)), max(0, int(cy - half)), min(width, int(cx + half)),
                          min(height, int(cy + half))])
        return [tuple(r) for r in _merge_rects(rects)]

    # --- between full detections -------------------------------------------------------------------
    def _follow(self, bgr: np.ndarray) -> tuple[list, list[int]]:
        alive = self.tracker.alive_next()
        self._since_full += 1
        if not alive:
            self.tracker.update([])
            return [], []
        confirmed = self._confirm(bgr, alive)
        seen_last_frame = [tr for tr in alive if tr.last_step == self.tracker.step]
        lost_now = [tr for tr in seen_last_frame if tr.track_id not in confirmed]
        self._lost.update(tr.track_id for tr in alive if tr.track_id not in confirmed)
        if lost_now and len(lost_now) >= self.options.force_fraction * len(seen_last_frame):
            self._force_full = True
        pairs = sorted(confirmed.items(), key=lambda item: (item[1].y, item[1].x))
        boxes, ids = [b for _, b in pairs], [tid for tid, _ in pairs]
        self.tracker.update_known(boxes, ids)
        return boxes, ids

    def _predicted(self, track: Track) -> np.ndarray:
        return track.predicted(self.tracker.step + 1)

    def _confirm(self, bgr: np.ndarray, tracks: list[Track]) -> dict:
        """{track id: box} for the tracks re-detected in a padded region around their prediction.

        The regions (merged where they overlap) are detected in one call at the detector's own full
        resolution, and each track takes the box that best matches its prediction (one box per track)."""
        if not tracks:
            return {}
        o = self.options
        height, width = bgr.shape[:2]
        base = float(self.detector.base_scale(width, height))
        predictions = np.array([self._predicted(tr) for tr in tracks]).reshape(-1, 4)
        groups: dict[float, list] = {}
        for tr, p in zip(tracks, predictions):
            size = max(p[2], p[3])
            half = size * (0.5 + o.roi_pad) + min(size, self._drift(tr))
            cx, cy = p[0] + p[2] / 2, p[1] + p[3] / 2
            # A clear face seen in the last frame survives being looked at smaller; a doubtful one
            # (occluded, a score near the threshold, just missed) is looked at with the very pixels
            # a full detection sees.
            scale = base
            if tr.score >= o.clear_score and tr.last_step == self.tracker.step:
                scale = round(base * min(1.0, o.clear_face_px / (min(p[2], p[3]) * base)), 3)
            groups.setdefault(scale, []).append([max(0, int(cx - half)), max(0, int(cy - half)),
                                                 min(width, int(np.ceil(cx + half))),
                                                 min(height, int(np.ceil(cy + half)))])
        regions = [(*r, scale) for scale, rects in groups.items() for r in _merge_rects(rects)]
        if sum((r[2] - r[0]) * (r[3] - r[1]) * r[4] ** 2 for r in regions) > o.max_tiled_area * width * height * base ** 2:
            found = self.detector.detect_scaled(bgr, base)  # regions would cost as much as the frame
        else:
            # A face inside two regions (a clear one downscaled, a doubtful neighbour's at full
            # resolution) comes back twice: one box per face, or the neighbour's track would take the copy.
            found = suppress_overlaps(detect_in_regions(self.detector, bgr, regions), o.merge_iou)
        self.counts["region_frames"] += 1
        self.counts["regions"] += len(regions)
        confirmed = self._assign(tracks, predictions, found)
        self.counts["regions_confirmed"] += len(confirmed)
        return confirmed

    def _drift(self, track: Track) -> float:
        """How far (pixels) the track may have moved since it was last seen, at its recent speed."""
        return float(np.linalg.norm(track.velocity)) * (self.tracker.step + 1 - track.last_step)

    def _assign(self, tracks: list[Track], predictions: np.ndarray, boxes: list) -> dict:
        """Each track's box: overlapping its prediction, or centred near it at a similar size; one-to-one,
        the best matches first (Hungarian)."""
        if not boxes:
            return {}
        o = self.options
        found = _arr(boxes)
        iou = iou_matrix(predictions, found)
        size = np.sqrt(predictions[:, 2] * predictions[:, 3])[:, None]
        sizes = np.sqrt(found[:, 2] * found[:, 3])[None, :]
        centres = predictions[:, :2] + predictions[:, 2:] / 2
        distance = np.linalg.norm(centres[:, None, :] - (found[:, :2] + found[:, 2:] / 2)[None], axis=2) / size
        similar = np.maximum(sizes, size) / np.maximum(np.minimum(sizes, size), 1.0) <= o.match_size_ratio
        # The centre may be further off where the face moves fast (low sample rates).
        gate = np.array([o.match_centre + min(1.0, self._drift(tr) / max(1.0, float(s)))
                         for tr, s in zip(tracks, size[:, 0])])[:, None]
        near = (distance <= gate) & similar
        quality = np.where(iou >= o.match_iou, 1.0 + iou, np.where(near, 1.0 - distance, 0.0))
        rows, cols = linear_sum_assignment(-quality)
        return {tracks[r].track_id: boxes[c] for r, c in zip(rows, cols) if quality[r, c] > 0}

    @staticmethod
    def _overlaps(box: np.ndarray, boxes: list, threshold: float = 0.3) -> bool:
        return bool(boxes) and bool((iou_matrix(np.asarray(box, float)[None], _arr(boxes))[0] > threshold).any())

    # --- adapting k ----------------------------------------------------------------------------------
    def _motion(self) -> float:
        """Median centre motion per sampled frame of the active tracks, in face sizes."""
        speeds = [float(np.linalg.norm(tr.velocity)) / max(1.0, float(np.sqrt(tr.box[2] * tr.box[3])))
                  for tr in self.tracker.active if tr.hits > 1]
        return float(np.median(speeds)) if speeds else 0.0

    def _adapt(self, new_faces: int, motion: float, frames: int) -> None:
        """k from the rate at which faces escape the tracks (new faces at this full detection, tracks
        lost since the last one, per sampled frame): a face that is not followed waits k/2 frames on
        average, so k is sized to keep that wait under `miss_budget` of the faces. It grows by one at a
        time (a quiet spell may end) and drops at once; fast motion halves it."""
        o = self.options
        rate = (new_faces + o.lost_weight * len(self._lost)) / max(1, frames)
        self._rate = rate if self._rate is None else (1 - o.rate_smoothing) * self._rate + o.rate_smoothing * rate
        faces = max(1.0, float(self._tracked_at_full))
        target = int(2 * o.miss_budget * faces / self._rate) if self._rate > 0 else o.k_max
        if motion > o.fast_motion:
            target = min(target, self.k // 2)
        self.k = int(np.clip(min(target, self.k + 1), o.k_min, o.k_max))


def _shifted(box, dx: int, dy: int):
    landmarks = None if box.landmarks is None else tuple((x + dx, y + dy) for x, y in box.landmarks)
    return type(box)(box.x + dx, box.y + dy, box.w, box.h, score=box.score, landmarks=landmarks)


def _area(r) -> int:
    return (r[2] - r[0]) * (r[3] - r[1])


def _merge_rects(rects: list[list[int]]) -> list[list[int]]:
    """Merge overlapping rectangles (x0, y0, x1, y1) wherever one rectangle around both costs no more
    pixels than the two apart (the overlap is not looked at twice, the corners not added for nothing)."""
    merged = True
    while merged:
        merged = False
        out: list[list[int]] = []
        for r in rects:
            for m in out:
                union = [min(m[0], r[0]), min(m[1], r[1]), max(m[2], r[2]), max(m[3], r[3])]
                overlap = r[0] < m[2] and m[0] < r[2] and r[1] < m[3] and m[1] < r[3]
                if overlap and _area(union) <= _area(r) + _area(m):
                    m[:] = union
                    merged = True
                    break
            else:
                out.append(list(r))
        rects = out
    return rects


def make_schedule(schedule, detector, tracker: IouTracker, options: dict | None = None):
    """A schedule object by name ("full" or "adaptive"), or `schedule` itself when it is one already.

    "adaptive" needs a detector that can detect at a chosen scale (both of ours can); with one that
    cannot (a test double offering only `detect`), the full schedule runs, and says so in its name."""
    if not isinstance(schedule, str):
        return schedule
    name = (schedule or "").strip().lower()
    if name not in SCHEDULES:
        raise ConfigurationError(f"Unknown detection schedule {schedule!r}; choose one of: {', '.join(SCHEDULES)}")
    if name == "adaptive" and supports_scaled_detection(detector):
        return AdaptiveSchedule(detector, tracker, AdaptiveOptions.from_mapping(options))
    return FullSchedule(detector, tracker)
