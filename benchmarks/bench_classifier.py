"""Classifier throughput: faces per second, batched (256), float32 vs bfloat16, with and without
horizontal-flip test-time augmentation, plus how far bf16 probabilities move from float32's, and
float32 with TensorFlow's oneDNN kernels off (a second process: the switch is read at import).
The shipped mode and each architecture are timed on both runtimes, Keras and LiteRT (what workers run).

    python benchmarks/bench_classifier.py [--faces 2048] [--repeat 3] [--batch-size 256]
                                          [--architectures vgg-s@40,resnet-m@44] [--modes none,flip]
                                          [--architectures-only]

`--architectures` and `--modes` narrow the table of candidate architectures (all of them with every
mode can take a quarter of an hour on Keras held to AVX2, `crops` most of it); `--architectures-only`
times just that table, which is what `judge_model --faces-per-second` needs.

Also: the shipped model in its shipped inference mode (the metadata's crop, TTA and calibration)
against the 600 faces/s floor, and each candidate architecture (untrained) with each TTA mode.

Uses the shipped default model when present, else the untrained vgg-s architecture (speed depends
on the architecture, not the weights; the output says which). Faces are real FER2013 PublicTest
images from ../shared when available, else random pixels (speed does not depend on content).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from _common import SHARED, cpu_info, emit, log, model_for_timing, peak_rss_mb


def load_faces(n: int):
    import cv2
    import numpy as np
    folder = SHARED / "datasets" / "fer2013" / "val"
    paths = sorted(folder.glob("*/*.jpg"))[:n] if folder.is_dir() else []
    if paths:
        faces = np.stack([cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in paths])
        source = f"{len(faces)} FER2013 PublicTest faces from ../shared"
    else:
        faces = np.random.default_rng(0).integers(0, 256, (min(n, 1024), 48, 48), dtype=np.uint8)
        source = "random 48x48 pixels (../shared is not available)"
    reps = -(-n // len(faces))
    return np.concatenate([faces] * reps)[:n], source


def time_config(model_path, faces, batch_size: int, repeat: int, **kwargs) -> tuple[float, object]:
    from ml.engine.classifier import EmotionClassifier
    clf = EmotionClassifier(model_path, **kwargs)
    clf.predict_proba(faces[: batch_size * 2], batch_size=batch_size)  # trace and warm up
    best = float("inf")
    probs = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        probs = clf.predict_proba(faces, batch_size=batch_size)
        best = min(best, time.perf_counter() - t0)
    return len(faces) / best, probs


CANDIDATES = (("vgg-s", 48), ("vgg-s", 40), ("vgg", 40), ("vgg-m", 40), ("resnet-m", 44))
TTA_MODES = ("none", "flip", "crops")


def parse_architectures(value: str) -> tuple[tuple[str, int], ...]:
    """`preset@crop,...` -> ((preset, crop), ...), each a registered architecture and a crop of 48 px faces."""
    from ml.engine.architectures import ARCHITECTURES
    chosen = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        preset, _, crop = item.partition("@")
        if preset not in ARCHITECTURES:
            raise argparse.ArgumentTypeError(f"unknown architecture {preset!r}; choose from {', '.join(ARCHITECTURES)}")
        if not crop.isdigit() or not 16 <= int(crop) <= 48:
            raise argparse.ArgumentTypeError(f"{item!r}: give the crop as preset@side, a side of 16-48 px (48 = whole face)")
        chosen.append((preset, int(crop)))
    if not chosen:
        raise argparse.ArgumentTypeError("name at least one architecture, as preset@side")
    return tuple(chosen)


def parse_modes(value: str) -> tuple[str, ...]:
    modes = tuple(filter(None, (part.strip() for part in value.split(","))))
    unknown = sorted(set(modes) - set(TTA_MODES))
    if unknown or not modes:
        raise argparse.ArgumentTypeError(f"modes are a comma-separated subset of {', '.join(TTA_MODES)}")
    return modes


def untrained(preset: str, crop: int) -> "Path":  # noqa: F821
    """An untrained model of a registered architecture taking 48 px faces and seeing `crop` px: speed
    depends on the architecture and the crop, not on the weights."""
    import tempfile
    from pathlib import Path

    import keras

    from ml.engine.architectures import build_model
    from ml.engine.classifier import write_metadata
    keras.utils.set_random_seed(0)
    path = Path(tempfile.mkdtemp(prefix="emo7ion-bench-")) / f"{preset}-{crop}.keras"
    build_model(preset, crop).save(path)
    write_metadata(path, version=path.stem, architecture=preset, training={}, metrics={},
                   crop={"size": crop} if crop != 48 else None)
    return path


def runtimes() -> tuple[str, ...]:
    from ml.engine.litert import litert_available
    return ("keras", "litert") if litert_available() else ("keras",)


def architecture_table(faces, args) -> dict:
    """float32 faces/s of each candidate architecture with each test-time augmentation mode, per runtime."""
    table = {}
    for preset, crop in args.architectures:
        path = untrained(preset, crop)
        # A whole 48 px face has no crops to take.
        modes = tuple(m for m in args.modes if crop < 48 or m != "crops")
        for runtime in runtimes():
            key = f"{preset}@{crop}/{runtime}"
            table[key] = {mode: round(time_config(path, faces, args.batch_size, args.repeat, tta=mode,
                                                  runtime=runtime)[0], 1) for mode in modes}
            log(f"  {key}: {table[key]}")
    return table


def float32_without_onednn(args) -> float:
    """faces/s in float32 in a child process started with TF_ENABLE_ONEDNN_OPTS=0."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"}
    out = subprocess.run([sys.executable, __file__, "--float32-only", "--faces", str(args.faces),
                          "--repeat", str(args.repeat), "--batch-size", str(args.batch_size)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["float32"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--architectures", type=parse_architectures, default=CANDIDATES,
                        help="comma-separated preset@crop to time (default: every candidate)")
    parser.add_argument("--modes", type=parse_modes, default=TTA_MODES,
                        help="comma-separated test-time augmentation modes for the architecture table")
    parser.add_argument("--architectures-only", action="store_true",
                        help="time only the architecture table")
    parser.add_argument("--float32-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.float32_only:
        model_path, _ = model_for_timing()
        faces, _ = load_faces(args.faces)
        print(json.dumps({"float32": round(time_config(model_path, faces, args.batch_size, args.repeat)[0], 1)}))
        return

    import numpy as np
    import tensorflow as tf

    model_path, model_desc = model_for_timing()
    faces, source = load_faces(args.faces)
    log(f"classifier benchmark: {model_desc}; {len(faces)} faces ({source})")
    if args.architectures_only:
        emit({"benchmark": "classifier", "faces": len(faces), "face_source": source, "batch_size": args.batch_size,
              "architectures_float32": architecture_table(faces, args), "tensorflow": tf.__version__,
              "cpu": cpu_info(), "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
              "peak_rss_mb": peak_rss_mb()})
        return
    results = {}
    probs = {}
    skipped = {}
    for precision in ("float32", "bfloat16"):
        for tta in (False, True):
            key = f"{precision}{'_tta' if tta else ''}"
            try:
                fps, p = time_config(model_path, faces, args.batch_size, args.repeat, precision=precision,
                                     tta="flip" if tta else "none")
            except Exception as exc:  # oneDNN held to AVX2 has no bf16 convolution: say so, time the rest
                skipped[key] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                log(f"  {key}: skipped ({skipped[key]})")
                continue
            results[key] = round(fps, 1)
            probs[key] = p
            log(f"  {key}: {fps:,.0f} faces/s")
    from ml.engine.classifier import EmotionClassifier
    from ml.engine.litert import resolve_runtime
    from ml.engine.ship_rule import SHIP_RULE
    shipped = EmotionClassifier(model_path)
    worker_runtime = resolve_runtime("auto", "float32")       # what workers run (EMO7ION_CLASSIFIER_RUNTIME=auto)
    shipped_fps = {runtime: round(time_config(model_path, faces, args.batch_size, args.repeat, runtime=runtime)[0], 1)
                   for runtime in runtimes()}
    log(f"  shipped mode (tta={shipped.tta}, crop {shipped.crop_size}): {shipped_fps} faces/s")
    architectures = architecture_table(faces, args)
    results["float32_onednn_off"] = float32_without_onednn(args)
    log(f"  float32 with oneDNN off: {results['float32_onednn_off']:,.0f} faces/s")
    bf16_agreement = None
    if "bfloat16" in probs:
        diff = np.abs(probs["bfloat16"] - probs["float32"])
        agree = float((probs["bfloat16"].argmax(1) == probs["float32"].argmax(1)).mean())
        bf16_agreement = {"top1_agreement": round(agree, 4), "mean_abs_prob_diff": round(float(diff.mean()), 5),
                          "max_abs_prob_diff": round(float(diff.max()), 5)}
    emit({
        "benchmark": "classifier",
        "model": model_desc,
        "faces": len(faces),
        "face_source": source,
        "batch_size": args.batch_size,
        "faces_per_second": results,
        "shipped_mode": {"tta": shipped.tta, "crop": shipped.crop_size, "calibrated": bool(shipped.calibration),
                         "faces_per_second": shipped_fps, "worker_runtime": worker_runtime,
                         "floor": SHIP_RULE.faces_per_second,
                         "meets_floor": shipped_fps[worker_runtime] >= SHIP_RULE.faces_per_second},
        "architectures_float32": architectures,
        "skipped": skipped,
        "bf16_speedup": round(results["bfloat16"] / results["float32"], 3) if "bfloat16" in results else None,
        "tta_cost_ratio": round(results["float32"] / results["float32_tta"], 3),
        "onednn_speedup": round(results["float32"] / results["float32_onednn_off"], 3),
        "bf16_vs_float32": bf16_agreement,
        "tensorflow": tf.__version__,
        "cpu": cpu_info(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "peak_rss_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
