"""What each part of the adaptive detection schedule costs and finds, at one sampling rate: faces found
against the `full` schedule (YuNet on every sampled frame at full resolution), detector pixels per frame,
and the detection's CPU time, for the default schedule and for the schedule with parts of it switched off.

    python benchmarks/bench_schedule.py [--seconds 120] [--sample-fps 2]

The footage is the 1080p crowd clip ../shared/media/videos/01_* looped, as bench_long_footage.py writes
it, sampled at `--sample-fps`: sampled frame i is the clip's frame round(i / fps * clip_fps) modulo its
length, held in memory, so that only detection is measured. One detector thread, so that CPU seconds
compare across variants (the analysis itself gives the detector every core).

This is the budget behind the README's "What 2x would take": at 2 fps on two cores the analysis must
decode every frame and classify every face, and what is left for detection decides the ratio.
"""
from __future__ import annotations

import argparse
import time

from _common import SHARED, YUNET, cpu_info, emit, log, shared_missing, skipped

# The schedule's parts, switched off one after another (AdaptiveOptions fields).
NO_RECHECKS = {"clear_score": 0.0}              # tracks a full detection missed are not looked for again
NO_REFRESH = {"refresh_min_count": 10 ** 9}     # no full-resolution detection after the first
NO_TILES = {"reliable_face_px": 1.0}            # the downscaled frame alone, at the smallest factor
VARIANTS = {
    "full": None,
    "adaptive": {},
    "adaptive_no_rechecks": NO_RECHECKS,
    "adaptive_no_rechecks_refresh_every_16": {**NO_RECHECKS, "refresh_min_count": 16},
    "adaptive_no_rechecks_no_refresh": {**NO_RECHECKS, **NO_REFRESH},
    "downscaled_frame_only": {**NO_RECHECKS, **NO_REFRESH, **NO_TILES},
}


def looped_frames(seconds: float, sample_fps: float):
    """(t, frame) of the looped clip at `sample_fps`, each distinct frame decoded once."""
    import cv2
    clip = sorted((SHARED / "media" / "videos").glob("01_*"))[0]
    cap = cv2.VideoCapture(str(clip))
    clip_fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame)
    cap.release()
    count = int(seconds * sample_fps)
    return clip.name, [(i / sample_fps, frames[round(i / sample_fps * clip_fps) % len(frames)]) for i in range(count)]


def run_variant(detector, options, sampled) -> dict:
    from ml.engine.schedule import make_schedule
    from ml.engine.tracker import IouTracker

    pixels = 0
    run = detector._run

    def counted(bgr):
        nonlocal pixels
        pixels += bgr.shape[0] * bgr.shape[1]
        return run(bgr)

    detector._run = counted  # every detector call of every schedule goes through here
    try:
        schedule = make_schedule("full" if options is None else "adaptive", detector, IouTracker(), options)
        faces, cpu0, wall0 = 0, time.process_time(), time.perf_counter()
        for t, frame in sampled:
            boxes, _ = schedule.step(frame, t)
            faces += len(boxes)
        cpu_s, wall_s = time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        del detector._run
    stats = schedule.stats()
    return {"faces": faces, "detector_mpx_per_frame": round(pixels / len(sampled) / 1e6, 3),
            "cpu_s": round(cpu_s, 2), "wall_s": round(wall_s, 2),
            **{k: stats[k] for k in ("full_detections", "full_resolution", "tiles", "regions") if k in stats}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--sample-fps", type=float, default=2.0)
    args = parser.parse_args()
    for parts in (("media", "videos"), ("models", "yunet", YUNET.name)):
        reason = shared_missing(*parts)
        if reason:
            emit(skipped("schedule", reason))
            return

    from ml.engine.detectors import make_detector

    clip, sampled = looped_frames(args.seconds, args.sample_fps)
    detector = make_detector("yunet", yunet_model=YUNET, num_threads=1)
    detector.detect(sampled[0][1])  # warm up
    results = {}
    for name, options in VARIANTS.items():
        results[name] = run_variant(detector, options, sampled)
        log(f"  {name}: {results[name]}")
    full = results["full"]
    for row in results.values():
        row["faces_vs_full"] = round(row["faces"] / max(1, full["faces"]), 4)
        row["cpu_vs_full"] = round(row["cpu_s"] / max(1e-9, full["cpu_s"]), 3)
    emit({
        "benchmark": "schedule",
        "footage": f"{clip} looped to {args.seconds:g} s, sampled at {args.sample_fps:g} fps ({len(sampled)} frames)",
        "detector": f"yunet ({detector.runtime}, 1 thread)",
        "variants": results,
        "cpu": cpu_info(),
    })


if __name__ == "__main__":
    main()
