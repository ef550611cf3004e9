"""Pipeline throughput on a real 1080p crowd clip, as a ratio to decoding the same file in the
same run (so the number travels between machines), plus the time per stage and peak memory.

    python benchmarks/bench_pipeline.py [--clip PATH] [--sample-fps 2 25] [--detector yunet]
                                        [--schedule full adaptive] [--detector-runtime auto opencv]
                                        [--repeat 3]

For each sample rate: decode-only time (every frame decoded, as the pipeline must), and for each
detection schedule the pipeline time (decode + detect + crop + classify in batches + track), their
ratio, the real-time factor (clip duration / pipeline time; above 1 means faster than real time on
this machine), CPU use (process CPU time / wall time: 200% is two cores busy), and how many of the full
schedule's faces the adaptive one finds (`faces_vs_full`).

When the `fer` package is installed (`make bench-deps`, from requirements-bench.txt), its own pipeline
(OpenCV Haar + mini-Xception, `FER(mtcnn=False).detect_emotions` on each sampled frame, as its `Video`
class does) runs on the same frames in the same run, and each schedule reports `speedup_vs_fer`.
Without it, the ratio to decode-only time is the anchor.

Each schedule runs `--repeat` times and reports its median run (`pipeline_s_each_run` lists them all: a
4-second clip varies by several percent between runs). With YuNet, each schedule also runs on OpenCV's DNN
(`<schedule>@opencv`), and the worker's runtime reports `speedup_vs_<schedule>@opencv`.
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


def fer_package():
    """The `fer` package's detector, or the reason it is not there."""
    try:
        from fer import FER
    except Exception as exc:  # noqa: BLE001  (any import failure means: not installed as needed)
        return None, f"the fer package is not importable ({type(exc).__name__}: {exc}); `make bench-deps`"
    return FER(mtcnn=False), None


def fer_pipeline(detector, path: Path, sample_fps: float) -> dict:
    """fer's pipeline on every sampled frame of the clip: decode every frame, detect and classify the
    sampled ones (the frame nearest each sampling instant, as ours samples)."""
    import cv2
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    step = max(1, round(fps / sample_fps))
    frames = faces = index = 0
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if index % step == 0:
            faces += len(detector.detect_emotions(frame))
            frames += 1
        index += 1
    elapsed = time.perf_counter() - t0
    cap.release()
    return {"frames_analysed": frames, "faces_detected": faces, "pipeline_s": round(elapsed, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", default=None, help="default: ../shared/media/videos/01_*")
    parser.add_argument("--sample-fps", type=float, nargs="+", default=[2.0, 25.0])
    parser.add_argument("--detector", default="yunet", choices=["yunet", "haar"])
    parser.add_argument("--schedule", nargs="+", default=["full", "adaptive"], choices=["full", "adaptive"])
    parser.add_argument("--runtime", default="auto", choices=["auto", "keras", "litert"],
                        help="the classifier's runtime (default: a worker's, LiteRT where installed)")
    parser.add_argument("--detector-runtime", nargs="+", default=["auto", "opencv"],
                        choices=["auto", "onnxruntime", "opencv"],
                        help="YuNet's runtimes, the first one a worker's; each later one reruns the schedules "
                             "as `<schedule>@<runtime>` (default: the worker's, then OpenCV's DNN as before)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each schedule; the median is reported (and every run's time)")
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
    # By default the runtime a worker uses (EMO7ION_CLASSIFIER_RUNTIME=auto): LiteRT where it is installed.
    classifier = EmotionClassifier(model_path, runtime=args.runtime)
    runtimes = args.detector_runtime if args.detector == "yunet" else [None]
    detectors = {}
    for runtime in runtimes:
        detector = make_detector(args.detector, yunet_model=YUNET, **({"runtime": runtime} if runtime else {}))
        if getattr(detector, "runtime", None) not in {getattr(d, "runtime", None) for d in detectors.values()}:
            detectors[getattr(detector, "runtime", None)] = detector
    default_runtime = next(iter(detectors))
    # (key, schedule, detector): the worker's runtime under the schedule's own name, the others beside it.
    variants = [(schedule if runtime == default_runtime else f"{schedule}@{runtime}", schedule, detector)
                for runtime, detector in detectors.items() for schedule in args.schedule]
    log(f"pipeline benchmark: {clip.name} ({info.width}x{info.height}, {info.frame_count} frames, "
        f"{info.duration_s:.1f} s), {args.detector}, {model_desc}")
    # Warm up: the classifier loads (LiteRT's twin is derived once), OpenCV allocates the detector for this frame size.
    for _, schedule, detector in variants:
        analyse_segment(clip, detector=detector, classifier=classifier, sample_fps=1.0, t_end=1.0, schedule=schedule)
    fer_detector, fer_missing = fer_package()
    if fer_detector is not None:
        fer_pipeline(fer_detector, clip, 1.0)  # its warm-up

    runs = {}
    for sample_fps in args.sample_fps:
        decode_s, frames = decode_only(clip)
        by_schedule = {}
        for key, schedule, detector in variants:
            repeats = []  # (wall, cpu %, result): the median run is reported, every wall time beside it
            for _ in range(args.repeat):
                cpu0, t0 = time.process_time(), time.perf_counter()
                result = analyse_segment(clip, detector=detector, classifier=classifier, sample_fps=sample_fps,
                                         schedule=schedule)
                repeats.append((result.wall_time_s,
                                round(100 * (time.process_time() - cpu0) / max(time.perf_counter() - t0, 1e-9)), result))
            _, cpu_percent, result = sorted(repeats, key=lambda r: r[0])[len(repeats) // 2]
            by_schedule[key] = {
                "pipeline_s_each_run": [r[0] for r in repeats],
                "frames_analysed": result.frames_analysed,
                "faces_detected": result.faces_detected,
                "unique_faces": result.unique_faces,
                "pipeline_s": result.wall_time_s,
                "pipeline_to_decode_ratio": round(result.wall_time_s / decode_s, 2),
                "realtime_factor": round(info.duration_s / result.wall_time_s, 3),
                "cpu_percent": cpu_percent,
                "stage_seconds": result.timings,
                "schedule_stats": {k: v for k, v in result.schedule_stats.items() if k != "options"},
                "ms_per_analysed_frame": round(1000 * result.wall_time_s / max(1, result.frames_analysed), 1),
            }
        if "full" in by_schedule and "adaptive" in by_schedule:
            by_schedule["adaptive"]["faces_vs_full"] = round(
                by_schedule["adaptive"]["faces_detected"] / max(1, by_schedule["full"]["faces_detected"]), 4)
            by_schedule["adaptive"]["speedup_vs_full"] = round(
                by_schedule["full"]["pipeline_s"] / max(by_schedule["adaptive"]["pipeline_s"], 1e-9), 2)
        for key in [k for k in by_schedule if "@" in k]:
            schedule = key.split("@")[0]
            if schedule in by_schedule:  # how much faster the worker's runtime is, with the faces it finds
                by_schedule[schedule][f"speedup_vs_{key}"] = round(
                    by_schedule[key]["pipeline_s"] / max(by_schedule[schedule]["pipeline_s"], 1e-9), 2)
                by_schedule[schedule][f"faces_vs_{key}"] = round(
                    by_schedule[schedule]["faces_detected"] / max(1, by_schedule[key]["faces_detected"]), 4)
        anchor = {"installed": False, "reason": fer_missing}
        if fer_detector is not None:
            anchor = {"installed": True, **fer_pipeline(fer_detector, clip, sample_fps)}
            for schedule, run in by_schedule.items():
                run["speedup_vs_fer"] = round(anchor["pipeline_s"] / max(run["pipeline_s"], 1e-9), 2)
        runs[f"{sample_fps:g}fps"] = {"decode_only_s": round(decode_s, 3), "decoded_frames": frames, **by_schedule,
                                      "fer_package": anchor}
        log(f"  {sample_fps:g} fps: {runs[f'{sample_fps:g}fps']}")
    emit({
        "benchmark": "pipeline",
        "clip": clip.name,
        "clip_info": info.to_dict(),
        "detector": args.detector,
        "detector_runtime": default_runtime,
        "model": model_desc,
        "classifier_runtime": classifier.runtime,
        "runs": runs,
        "cpu": cpu_info(),
        "peak_rss_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
