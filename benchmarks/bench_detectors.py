"""Face detectors: milliseconds per frame at 720p and 1080p (yunet on ONNX Runtime and on OpenCV's
DNN module, and haar), and how many faces each finds on the shared group photos (with the counts
people made by eye beside them).

    python benchmarks/bench_detectors.py [--frames 10]

Frames are real 1080p frames of ../shared/media/videos/01_* (and the same frames resized to 720p).
"""
from __future__ import annotations

import argparse
import statistics
import time

from _common import SHARED, YUNET, cpu_info, emit, log, peak_rss_mb, shared_missing, skipped

# Counted by eye (../shared/README.md); None where the README gives only a range.
EXPECTED_FACES = {"01": "≈750", "02": "≈340", "06": "≈14", "07": "≈220", "09": "130-150", "10": "≈135",
                  "11": "≈30", "12": "7", "14": "7", "15": "7", "16": "6"}


def sample_frames(n: int):
    import cv2
    from ml.engine.video import iter_sampled_frames
    clip = sorted((SHARED / "media" / "videos").glob("01_*"))[0]
    frames = [f for _, _, f in iter_sampled_frames(clip, sample_fps=n / 4.2 + 0.01)][:n]
    return {"1080p": frames, "720p": [cv2.resize(f, (1280, 720), interpolation=cv2.INTER_AREA) for f in frames]}


def ms_per_frame(detector, frames, repeat: int = 2) -> tuple[float, float]:
    detector.detect(frames[0])  # warm up (first call allocates for this input size)
    times, faces = [], []
    for _ in range(repeat):
        for frame in frames:
            t0 = time.perf_counter()
            faces.append(len(detector.detect(frame)))
            times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1000, 1), round(statistics.mean(faces), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    for parts in (("media", "videos"), ("media", "photos"), ("models", "yunet", YUNET.name)):
        reason = shared_missing(*parts)
        if reason:
            emit(skipped("detectors", reason))
            return

    import cv2

    from ml.engine.detectors import YUNET_SCORE_THRESHOLD, make_detector

    from ml.engine.yunet import onnxruntime_available

    detectors = {
        "yunet": make_detector("yunet", yunet_model=YUNET),  # the default runtime (ONNX Runtime where installed)
        "yunet_opencv": make_detector("yunet", yunet_model=YUNET, runtime="opencv"),
        "yunet_upscale2": make_detector("yunet", yunet_model=YUNET, upscale=2.0),
        "haar": make_detector("haar"),
    }
    frames = sample_frames(args.frames)
    timing = {}
    for name in ("yunet", "yunet_opencv", "haar", "yunet_upscale2"):
        for res in ("720p", "1080p"):
            ms, faces = ms_per_frame(detectors[name], frames[res], repeat=2 if name.startswith("yunet") and "upscale" not in name else 1)
            timing[f"{name}_{res}"] = {"ms_per_frame": ms, "mean_faces": faces}
            log(f"  {name} {res}: {ms} ms/frame, {faces} faces")

    counts = {}
    for path in sorted((SHARED / "media" / "photos").glob("*.jpg")):
        image = cv2.imread(str(path))
        prefix = path.name.split("_")[0]
        counts[path.name] = {"expected": EXPECTED_FACES.get(prefix),
                             **{name: len(d.detect(image)) for name, d in detectors.items()}}
        log(f"  {path.name}: {counts[path.name]}")
    emit({
        "benchmark": "detectors",
        "yunet_model": YUNET.name,
        "yunet_runtime": detectors["yunet"].runtime,
        "onnxruntime_installed": onnxruntime_available(),
        "yunet_score_threshold": YUNET_SCORE_THRESHOLD,
        "frames": f"{len(frames['1080p'])} frames of {sorted((SHARED / 'media' / 'videos').glob('01_*'))[0].name}",
        "timing": timing,
        "haar_to_yunet_time_ratio_1080p": round(timing["haar_1080p"]["ms_per_frame"]
                                                / timing["yunet_1080p"]["ms_per_frame"], 2),
        # The same network and decoding on two runtimes: the same faces (face_counts), in less time.
        "opencv_to_default_yunet_time_ratio": {res: round(timing[f"yunet_opencv_{res}"]["ms_per_frame"]
                                                          / timing[f"yunet_{res}"]["ms_per_frame"], 2)
                                               for res in ("720p", "1080p")},
        "face_counts": counts,
        "opencv": cv2.__version__,
        "cpu": cpu_info(),
        "peak_rss_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
