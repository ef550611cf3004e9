"""Following faces across sampled frames, so that "unique faces" is an estimate a person can trust.

A track is one face seen in consecutive sampled frames of one footage; it is never an identity
(no appearance features, nothing carried across footage). Association is by box overlap (IoU),
with a centroid-distance fallback for faces that moved further than their own width between two
samples (people walking toward a camera at 2 frames per second), solved as one assignment problem
per frame with the Hungarian method (scipy's linear_sum_assignment) so that two faces never fight
over one track. A track that goes unmatched for more than `max_age` sampled frames ends.

Segments of one footage are tracked independently (in parallel workers); `stitch_tracks` joins the
tracks that cross a segment boundary using each segment's first and last boxes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

IOU_THRESHOLD = 0.3
MAX_AGE = 3          # sampled frames a face may be missed (occlusion, a missed detection)
CENTROID_GATE = 1.5  # a centroid match may move at most this many box sizes
SIZE_RATIO = 1.5     # ... and change size by at most this factor
_FORBIDDEN = 1e6

Box = tuple[float, float, float, float]  # x, y, w, h


def _as_box(box) -> Box:
    if hasattr(box, "x"):
        return float(box.x), float(box.y), float(box.w), float(box.h)
    if isinstance(box, Mapping):
        return float(box["x"]), float(box["y"]), float(box["w"]), float(box["h"])
    x, y, w, h = list(box)[:4]
    return float(x), float(y), float(w), float(h)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU between every box in a (N, 4) and b (M, 4), boxes as x, y, w, h."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    ax0, ay0, ax1, ay1 = a[:, 0, None], a[:, 1, None], (a[:, 0] + a[:, 2])[:, None], (a[:, 1] + a[:, 3])[:, None]
    bx0, by0, bx1, by1 = b[None, :, 0], b[None, :, 1], (b[:, 0] + b[:, 2])[None], (b[:, 1] + b[:, 3])[None]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)


def association_cost(prev: np.ndarray, curr: np.ndarray, *, iou_threshold: float = IOU_THRESHOLD,
                     centroid_gate: float = CENTROID_GATE, size_ratio: float = SIZE_RATIO) -> np.ndarray:
    """Cost of linking each previous box to each current box; _FORBIDDEN where they cannot be the same face.

    Overlapping pairs cost 1 - IoU (in [0, 0.7]); non-overlapping pairs whose centres are close for
    their size cost 1 + distance/gate (in [1, 2)), so the assignment prefers overlap when it can.
    """
    iou = iou_matrix(prev, curr)
    cost = np.full(iou.shape, _FORBIDDEN)
    if iou.size == 0:
        return cost
    ok_iou = iou >= iou_threshold
    cost[ok_iou] = 1.0 - iou[ok_iou]
    pc = prev[:, :2] + prev[:, 2:] / 2
    cc = curr[:, :2] + curr[:, 2:] / 2
    dist = np.linalg.norm(pc[:, None, :] - cc[None, :, :], axis=2)
    psize = np.sqrt(prev[:, 2] * prev[:, 3])[:, None]
    csize = np.sqrt(curr[:, 2] * curr[:, 3])[None, :]
    scale = np.maximum(psize, csize)
    ratio = np.maximum(psize, csize) / np.maximum(np.minimum(psize, csize), 1e-9)
    near = (~ok_iou) & (dist < centroid_gate * scale) & (ratio <= size_ratio)
    cost[near] = 1.0 + dist[near] / (centroid_gate * scale[near])
    return cost


def assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """Minimum-cost one-to-one matching, leaving out forbidden pairs."""
    if cost.size == 0:
        return []
    rows, cols = linear_sum_assignment(cost)
    return [(int(r), int(c)) for r, c in zip(rows, cols) if cost[r, c] < _FORBIDDEN]


@dataclass
class Track:
    track_id: int
    box: np.ndarray            # last matched box (x, y, w, h)
    velocity: np.ndarray       # centre motion per sampled frame, smoothed
    first_step: int
    last_step: int
    first_box: np.ndarray
    hits: int = 1
    score: float = 0.0         # the detector's score for the last matched box

    def predicted(self, step: int) -> np.ndarray:
        gap = step - self.last_step
        box = self.box.copy()
        box[:2] += self.velocity * gap
        return box


@dataclass
class IouTracker:
    """Associates the boxes of successive sampled frames; `update(boxes)` returns a track id per box."""

    iou_threshold: float = IOU_THRESHOLD
    max_age: int = MAX_AGE
    centroid_gate: float = CENTROID_GATE
    size_ratio: float = SIZE_RATIO
    next_id: int = 0
    step: int = -1
    active: list[Track] = field(default_factory=list)
    finished: list[Track] = field(default_factory=list)

    def _advance(self) -> None:
        """One sampled frame later: tracks not seen for more than max_age sampled frames are over."""
        self.step += 1
        still = []
        for t in self.active:
            if self.step - t.last_step <= self.max_age + 1:
                still.append(t)
            elif t.first_step <= self.max_age:
                # Only tracks that began at the start are needed again (for stitching); forgetting the
                # others keeps a long run's memory flat.
                self.finished.append(t)
        self.active = still

    def _move(self, track: Track, box: np.ndarray, score: float) -> None:
        track.score = score
        gap = max(1, self.step - track.last_step)
        motion = ((box[:2] + box[2:] / 2) - (track.box[:2] + track.box[2:] / 2)) / gap
        track.velocity = motion if track.hits == 1 else 0.5 * track.velocity + 0.5 * motion
        track.box = box.copy()
        track.last_step = self.step
        track.hits += 1

    def alive_next(self) -> list[Track]:
        """The tracks that will still be active at the next sampled frame (if it does not see them)."""
        return [t for t in self.active if self.step + 1 - t.last_step <= self.max_age + 1]

    def update_known(self, boxes: Sequence, ids: Sequence[int]) -> list[int]:
        """Advance one sampled frame whose boxes already know their track (each was re-detected in
        the region where its track was predicted): no association to solve."""
        self._advance()
        by_id = {t.track_id: t for t in self.active}
        for box, tid in zip(boxes, ids):
            self._move(by_id[int(tid)], np.array(_as_box(box), dtype=np.float64), _score(box))
        return [int(tid) for tid in ids]

    def update(self, boxes: Sequence) -> list[int]:
        boxes = list(boxes)
        curr = np.array([_as_box(b) for b in boxes], dtype=np.float64).reshape(-1, 4)
        self._advance()
        ids = [-1] * len(curr)
        if self.active and len(curr):
            # Compare each new box with where a track was last seen and with where its recent
            # motion predicts it: at 2 samples per second, motion is as often a sway or a camera
            # shake (which reverses) as a walk (which continues), so neither guess alone is safe.
            options = dict(iou_threshold=self.iou_threshold, centroid_gate=self.centroid_gate,
                           size_ratio=self.size_ratio)
            last = np.array([t.box for t in self.active]).reshape(-1, 4)
            predicted = np.array([t.predicted(self.step) for t in self.active]).reshape(-1, 4)
            cost = np.minimum(association_cost(last, curr, **options), association_cost(predicted, curr, **options))
            for r, c in assign(cost):
                self._move(self.active[r], curr[c], _score(boxes[c]))
                ids[c] = self.active[r].track_id
        for c, tid in enumerate(ids):
            if tid == -1:
                track = Track(self.next_id, curr[c].copy(), np.zeros(2), self.step, self.step, curr[c].copy(),
                              score=_score(boxes[c]))
                self.next_id += 1
                self.active.append(track)
                ids[c] = track.track_id
        return ids

    @property
    def track_count(self) -> int:
        return self.next_id

    def all_tracks(self) -> list[Track]:
        """Active tracks and the ended ones that began in the first max_age+1 sampled frames."""
        return sorted(self.finished + self.active, key=lambda t: t.track_id)

    def boundary_boxes(self) -> tuple[dict[int, Box], dict[int, Box]]:
        """Boxes for stitching: tracks that began within the first max_age+1 sampled frames (their
        first box), and tracks still alive at the end (their last box)."""
        first, last = {}, {}
        for t in self.all_tracks():
            if t.first_step <= self.max_age:
                first[t.track_id] = _int_box(t.first_box)
            if self.step - t.last_step <= self.max_age:
                last[t.track_id] = _int_box(t.box)
        return first, last


def _score(box) -> float:
    return float(getattr(box, "score", 0.0) or 0.0)


def _int_box(box) -> Box:
    return tuple(int(round(v)) for v in box)  # type: ignore[return-value]


def _segment_parts(seg: Any) -> tuple[dict, dict, int | None]:
    if isinstance(seg, Mapping):
        first, last = seg.get("first_frame_boxes") or {}, seg.get("last_frame_boxes") or {}
        count = seg.get("track_count")
    elif hasattr(seg, "first_frame_boxes"):
        first, last = seg.first_frame_boxes or {}, seg.last_frame_boxes or {}
        count = getattr(seg, "track_count", None)
    else:
        parts = list(seg)
        first, last = parts[0] or {}, parts[1] or {}
        count = parts[2] if len(parts) > 2 else None
    # JSON round trips turn int keys into strings.
    first = {int(k): _as_box(v) for k, v in first.items()}
    last = {int(k): _as_box(v) for k, v in last.items()}
    return first, last, (int(count) if count is not None else None)


def stitch_tracks(segments_boxes: Iterable, *, iou_threshold: float = IOU_THRESHOLD,
                  centroid_gate: float = CENTROID_GATE, size_ratio: float = SIZE_RATIO) -> list[dict[int, int]]:
    """Map each segment's local track ids to footage-wide ids.

    `segments_boxes` lists the segments in time order; each is a SegmentResult, a mapping with
    `first_frame_boxes`, `last_frame_boxes` ({local id: (x, y, w, h)}, keys may be strings) and
    `track_count` (how many local ids the segment used: 0..track_count-1), or a tuple
    (first, last[, track_count]). Without `track_count`, only the ids named in the boxes are mapped.

    A track that is alive at the end of segment k and matches a track that starts segment k+1
    keeps its footage-wide id. Every other local id gets a new one. Ids are dense (0, 1, 2, ...),
    assigned in segment order and then local id order, so stitching twice gives the same answer.
    """
    mappings: list[dict[int, int]] = []
    next_global = 0
    prev_last: dict[int, Box] = {}
    prev_map: dict[int, int] = {}
    for seg in segments_boxes:
        first, last, count = _segment_parts(seg)
        local_ids = set(first) | set(last)
        if count is not None:
            local_ids |= set(range(count))
        mapping: dict[int, int] = {}
        if prev_last and first:
            prev_ids, curr_ids = sorted(prev_last), sorted(first)
            cost = association_cost(np.array([prev_last[i] for i in prev_ids]).reshape(-1, 4),
                                    np.array([first[i] for i in curr_ids]).reshape(-1, 4),
                                    iou_threshold=iou_threshold, centroid_gate=centroid_gate, size_ratio=size_ratio)
            for r, c in assign(cost):
                if prev_ids[r] in prev_map:
                    mapping[curr_ids[c]] = prev_map[prev_ids[r]]
        for local in sorted(local_ids):
            if local not in mapping:
                mapping[local] = next_global
                next_global += 1
        mappings.append(mapping)
        prev_last, prev_map = last, mapping
    return mappings
