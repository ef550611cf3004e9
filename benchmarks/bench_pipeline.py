"""Pipeline throughput on a real 1080p crowd clip, as a ratio to decoding the same file in the
same run (so the number travels between machines), plus the time per stage and peak memory.

    python benchmarks/bench_pipeline.py [--clip PATH] [--sample-fps 2 5 25] [--detector yunet]

For each sample rate: decode-only time (every frame decoded, as the pipeline must), pipeline time
(decode + detect + crop + classify in batches + track), their ratio, and the real-time factor
(clip duration / pipeline time; above 1 means faster than real time on this machine).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from _common import SHARED, YUNET, cpu_info, emit, log, model_for_timing, peak_rss_mb, shared_missing, skipped


def decode_only(path: Path) -> tuple[float, int]:
    import cv2
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    n = 0
    t0 = time.perf_counter()
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    elapsed = time.perf_counter() - t0
    cap.release()
    return elapsed, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", default=None, help="default: ../shared/media/videos/01_*")
    parser.add_argument("--sample-fps", type=float, nargs="+", default=[2.0, 25.0])
    parser.add_argument("--detector", default="yunet", choices=["yunet", "haar"])
    args = parser.parse_args()
    if args.clip is None:
        reason = shared_missing("media", "videos")
        if reason:
            emit(skipped("pipeline", reason))
            return
        args.clip = sorted((SHARED / "media" / "videos").glob("01_*"))[0]
    if args.detector == "yunet" and not YUNET.is_file():
        emit(skipped("pipeline", f"{YUNET} is not available (../shared holds the YuNet weights)"))
        return
    clip = Path(args.clip)

    from ml.engine.classifier import EmotionClassifier
    from ml.engine.detectors import make_detector
    from ml.engine.pipeline import analyse_segment
    from ml.engine.video import probe_media

    info = probe_media(clip)
    model_path, model_desc = model_for_timing()
    classifier = EmotionClassifier(model_path)
    detector = make_detector(args.detector, yunet_model=YUNET)
    log(f"pipeline benchmark: {clip.name} ({info.width}x{info.height}, {info.frame_count} frames, "
        f"{info.duration_s:.1f} s), {args.detector}, {model_desc}")
    # Warm up: TensorFlow traces the model, OpenCV allocates the detector for this frame size.
    analyse_segment(clip, detector=detector, classifier=classifier, sample_fps=1.0, t_end=1.0)

    runs = {}
    for sample_fps in args.sample_fps:
        decode_s, frames = decode_only(clip)
        result = analyse_segment(clip, detector=detector, classifier=classifier, sample_fps=sample_fps)
        runs[f"{sample_fps:g}fps"] = {
            "frames_analysed": result.frames_analysed,
            "faces_detected": result.faces_detected,
            "unique_faces": result.unique_faces,
            "decode_only_s": round(decode_s, 3),
            "decoded_frames": frames,
            "pipeline_s": result.wall_time_s,
            "pipeline_to_decode_ratio": round(result.wall_time_s / decode_s, 2),
            "realtime_factor": round(info.duration_s / result.wall_time_s, 3),
            "stage_seconds": result.timings,
            "ms_per_analysed_frame": round(1000 * result.wall_time_s / max(1, result.frames_analysed), 1),
        }
        log(f"  {sample_fps:g} fps: {runs[f'{sample_fps:g}fps']}")
    emit({
        "benchmark": "pipeline",
        "clip": clip.name,
        "clip_info": info.to_dict(),
        "detector": args.detector,
        "model": model_desc,
        "runs": runs,
        "cpu": cpu_info(),
        "peak_rss_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
