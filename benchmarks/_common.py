"""Helpers shared by the engine benchmarks: paths, ../shared, the model to time, memory.

Every benchmark prints one JSON object on stdout (logs go to stderr). Numbers are compared as
ratios within one run, never against fixed times: machines differ, ratios travel.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
DEFAULT_MODEL = ROOT / "ml" / "default_model" / "emo7ion-fer2013-v1.keras"
YUNET = SHARED / "models" / "yunet" / "yunet_n_640_640.onnx"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import ml.engine  # noqa: E402,F401  (sets TensorFlow's oneDNN default, as the platform does, before any TF import)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def emit(result: dict) -> None:
    print(json.dumps(result, indent=1))


def skipped(name: str, reason: str) -> dict:
    """What a benchmark prints when its material is missing: a clear reason, not a failure."""
    return {"benchmark": name, "skipped": True, "reason": reason}


def shared_missing(*parts: str) -> str | None:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        return f"{path} is not available (../shared holds the benchmark media and detector weights)"
    return None


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux.
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def model_for_timing() -> tuple[Path, str]:
    """The shipped default model when present, else the untrained `vgg-s` architecture it uses:
    throughput depends on the architecture, not on the weights. Returns (path, description)."""
    if DEFAULT_MODEL.is_file():
        return DEFAULT_MODEL, f"shipped default model {DEFAULT_MODEL.name}"
    import keras

    from ml.engine.architectures import build_model
    from ml.engine.classifier import write_metadata
    keras.utils.set_random_seed(0)
    path = Path(tempfile.mkdtemp(prefix="emo7ion-bench-")) / "vgg-s-untrained.keras"
    build_model("vgg-s").save(path)
    write_metadata(path, version="vgg-s-untrained", architecture="vgg-s", training={}, metrics={})
    return path, "untrained vgg-s architecture (the default model's; the shipped file is not there yet)"


def cpu_info() -> dict:
    info = {"cpus": os.cpu_count()}
    from ml.engine.cpu import cpu_flags
    flags = cpu_flags()
    info.update({name: name in flags for name in ("avx2", "avx512f", "avx512_bf16")}, amx="amx_bf16" in flags)
    try:
        model = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
        info["model"] = model.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    try:
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    except OSError:
        pass
    return info
