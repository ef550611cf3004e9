"""Long footage in constant memory: a 10-minute and a 30-minute 1080p clip, written at run time with
OpenCV by looping the crowd clip (../shared/media/videos/01_*), analysed at 2 frames per second with
the observations streamed away batch by batch (as the worker streams them to the database).

    python benchmarks/bench_long_footage.py [--minutes 10 30] [--sample-fps 2] [--schedule adaptive]
                                            [--decode-threads ffmpeg 1] [--keep DIR]

For each clip, in separate processes (so each reports its own peak memory): the decode floor (the
time to grab every frame, which any analysis of the file must at least take), the analysis time,
their ratio, peak RSS, and CPU use (process CPU time / wall time; 200% = two cores busy). Then
whether memory is flat: the longest clip's peak RSS within 10% of the shortest one's.

The clips take about 1 GB of disk per 10 minutes while the benchmark runs; they are deleted at the end
unless --keep names a folder (where they are also reused on the next run: writing them is slow).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SHARED, YUNET, cpu_info, emit, log, model_for_timing, peak_rss_mb, shared_missing, skipped

FLAT_TOLERANCE = 0.10  # the 30-minute clip's peak RSS may exceed the 10-minute one's by this much


def write_looped_clip(source: Path, dest: Path, seconds: float) -> dict:
    """Write `seconds` of `source`, looped, as an mp4 with OpenCV (never more than one frame in memory)."""
    import cv2
    probe = cv2.VideoCapture(str(source))
    fps = probe.get(cv2.CAP_PROP_FPS) or 25.0
    size = (int(probe.get(cv2.CAP_PROP_FRAME_WIDTH)), int(probe.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    probe.release()
    total = int(round(seconds * fps))
    tmp = dest.with_suffix(".part.mp4")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise RuntimeError("OpenCV cannot write mp4v video on this machine")
    written, t0 = 0, time.perf_counter()
    while written < total:
        cap = cv2.VideoCapture(str(source))
        while written < total:
            ok, frame = cap.read()
            if not ok:
                break
            writer.write(frame)
            written += 1
        cap.release()
    writer.release()
    tmp.rename(dest)
    return {"frames": written, "fps": fps, "width": size[0], "height": size[1], "write_s": round(time.perf_counter() - t0, 1)}


def decode_floor(path: Path) -> dict:
    """Grab (demux and decode) every frame, as sampling must: the least any analysis of the file takes."""
    import cv2
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    frames, t0, cpu0 = 0, time.perf_counter(), time.process_time()
    while cap.grab():
        frames += 1
    cap.release()
    wall = time.perf_counter() - t0
    return {"decode_floor_s": round(wall, 2), "frames": frames,
            "decode_cpu_percent": round(100 * (time.process_time() - cpu0) / max(wall, 1e-9)),
            "decode_peak_rss_mb": peak_rss_mb()}


def analyse(path: Path, sample_fps: float, schedule: str, detector_runtime: str, decode_threads: int | None) -> dict:
    """The engine's segment analysis over the whole file; observations go to a sink that only counts
    them, as the worker hands them to the database (nothing is kept)."""
    from ml.engine.classifier import EmotionClassifier
    from ml.engine.detectors import make_detector
    from ml.engine.pipeline import analyse_segment

    model_path, model_desc = model_for_timing()
    # The runtime a worker uses (EMO7ION_CLASSIFIER_RUNTIME's default): LiteRT where it is installed.
    classifier = EmotionClassifier(model_path, runtime="auto")
    detector = make_detector("yunet", yunet_model=YUNET, runtime=detector_runtime)
    stored = {"rows": 0, "batches": 0}

    def sink(observations):
        stored["rows"] += len(observations)
        stored["batches"] += 1

    # Warm up: the classifier loads (LiteRT's twin is derived once), OpenCV sizes the detector (not part of the timing).
    analyse_segment(path, detector=detector, classifier=classifier, sample_fps=1.0, t_end=1.0, schedule=schedule)
    rss_before = peak_rss_mb()
    t0, cpu0 = time.perf_counter(), time.process_time()
    result = analyse_segment(path, detector=detector, classifier=classifier, sample_fps=sample_fps,
                             schedule=schedule, on_observations=sink, decode_threads=decode_threads)
    wall = time.perf_counter() - t0
    return {"analysis_s": round(wall, 2), "classifier_runtime": classifier.runtime,
            "detector_runtime": detector.runtime, "decode_threads": decode_threads or "ffmpeg",
            "frames_analysed": result.frames_analysed,
            "faces_detected": result.faces_detected, "rows_streamed": stored["rows"], "batches": stored["batches"],
            "schedule": result.schedule, "schedule_stats": {k: v for k, v in result.schedule_stats.items()
                                                            if k != "options"},
            "stage_seconds": result.timings, "cpus": result.cpus,
            "cpu_percent": round(100 * (time.process_time() - cpu0) / max(wall, 1e-9)),
            "peak_rss_mb_after_warm_up": rss_before, "peak_rss_mb": peak_rss_mb(), "model": model_desc}


def _child(*args: str) -> dict:
    """Run this script in a fresh process (its own peak RSS) and read the JSON it prints."""
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, env=os.environ)
    sys.stderr.write(proc.stderr[-2000:])
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed with exit status {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _decode_threads_arg(value: str) -> str:
    """'ffmpeg' or a positive whole number, checked when the arguments are parsed."""
    if value == "ffmpeg" or (value.isdigit() and int(value) >= 1):
        return value
    raise argparse.ArgumentTypeError(f"expected 'ffmpeg' or a number of threads of at least 1, got {value!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[10.0, 30.0])
    parser.add_argument("--sample-fps", type=float, default=2.0)
    parser.add_argument("--schedule", default="adaptive", choices=["adaptive", "full"])
    parser.add_argument("--detector-runtime", default="auto", choices=["auto", "onnxruntime", "opencv"],
                        help="what runs YuNet (default: a worker's, ONNX Runtime where installed)")
    parser.add_argument("--decode-threads", nargs="+", default=["1"], type=_decode_threads_arg,
                        help="FFmpeg decoding threads of the analysis: 'ffmpeg' (its choice, one per core) or a "
                             "number (default 1, the engine's); several values are each run on the same clip, "
                             "the first is the headline")
    parser.add_argument("--keep", default=None, help="folder to keep (and reuse) the generated clips in")
    parser.add_argument("--decode-floor", default=None, help=argparse.SUPPRESS)  # child process
    parser.add_argument("--analyse", default=None, help=argparse.SUPPRESS)       # child process
    args = parser.parse_args()
    if args.decode_floor:
        print(json.dumps(decode_floor(Path(args.decode_floor))))
        return
    decode_threads = [None if v == "ffmpeg" else int(v) for v in args.decode_threads]
    if args.analyse:
        print(json.dumps(analyse(Path(args.analyse), args.sample_fps, args.schedule, args.detector_runtime,
                                 decode_threads[0])))
        return

    reason = shared_missing("media", "videos") or (None if YUNET.is_file() else f"{YUNET} is not available")
    if reason:
        emit(skipped("long_footage", reason))
        return
    source = sorted((SHARED / "media" / "videos").glob("01_*"))[0]
    folder = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="emo7ion-long-"))
    folder.mkdir(parents=True, exist_ok=True)
    runs, headline_peaks = {}, []  # peak RSS of the headline setting's run of each clip
    try:
        for minutes in args.minutes:
            clip = folder / f"{source.stem}-looped-{minutes:g}min.mp4"
            written = None
            if not clip.is_file():
                log(f"writing {clip.name} ({minutes:g} minutes of 1080p)")
                written = write_looped_clip(source, clip, minutes * 60)
            floor = _child("--decode-floor", str(clip))
            log(f"  decode floor {floor['decode_floor_s']} s for {floor['frames']} frames")
            for n, threads in enumerate(args.decode_threads):
                run = _child("--analyse", str(clip), "--sample-fps", str(args.sample_fps), "--schedule",
                             args.schedule, "--detector-runtime", args.detector_runtime, "--decode-threads", threads)
                log(f"  analysis ({threads} decoding threads) {run['analysis_s']} s, peak RSS {run['peak_rss_mb']} MB")
                key = f"{minutes:g}min" + ("" if n == 0 else f"@decode{threads}")
                if n == 0:
                    headline_peaks.append(run["peak_rss_mb"])
                runs[key] = {
                    "clip_mb": round(clip.stat().st_size / 2 ** 20, 1), "written": written, **floor, **run,
                    "analysis_to_decode_floor": round(run["analysis_s"] / max(floor["decode_floor_s"], 1e-9), 2),
                }
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    peaks = headline_peaks
    emit({
        "benchmark": "long_footage",
        "clip": source.name,
        "sample_fps": args.sample_fps,
        "schedule": args.schedule,
        "runs": runs,
        "peak_rss_growth": round(peaks[-1] / peaks[0] - 1, 3) if len(peaks) > 1 else 0.0,
        "memory_flat": len(peaks) < 2 or peaks[-1] <= peaks[0] * (1 + FLAT_TOLERANCE),
        "cpu": cpu_info(),
    })


if __name__ == "__main__":
    main()
