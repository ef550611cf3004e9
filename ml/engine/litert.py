"""The classifier's forward pass on LiteRT (Google's standalone TensorFlow Lite interpreter,
`ai-edge-litert`), so that a process that only classifies never imports TensorFlow or Keras.

Why: importing TensorFlow doubles an analysis worker's resident memory (1,171 against 583 MB peak on
the 1080p crowd clip, benchmarks/bench_pipeline.py --runtime), for no gain in speed on small nets.
LiteRT runs the same float32 network through XNNPACK with a fraction of the footprint.

The `.keras` file stays the source of truth (training, tuning, bf16 inference and distillation need
Keras). Its `.tflite` twin is derived on first use, once per model content and host, in a child
process (the only place TensorFlow is imported on this path), and named by the `.keras` file's
sha256 in a cache folder the caller chooses; so a changed model gets a new twin, and a damaged twin
is thrown away and derived again. The probabilities equal Keras's to 1e-5
(tests/ml/engine/test_litert.py).

Run as `python -m ml.engine.litert MODEL.keras OUT.tflite` to derive one twin by hand.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .errors import ConfigurationError, ModelFileError

RUNTIMES = ("auto", "keras", "litert")
# The project root, so the child process finds `ml.engine` whatever the caller's working directory.
_PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONVERSION_TIMEOUT_S = 600


def litert_available() -> bool:
    return importlib.util.find_spec("ai_edge_litert") is not None


def resolve_runtime(requested: str, precision: str) -> str:
    """'auto' is LiteRT where it is installed and the precision is float32 (LiteRT's XNNPACK has no
    bf16 path on these CPUs), Keras otherwise. An explicit 'litert' without the package is an error."""
    if requested not in RUNTIMES:
        raise ConfigurationError(f"Unknown classifier runtime {requested!r}; use {', '.join(RUNTIMES)}")
    if requested == "auto":
        return "litert" if precision == "float32" and litert_available() else "keras"
    if requested == "litert":
        if precision != "float32":
            raise ConfigurationError("The LiteRT runtime runs float32 models only; use the Keras runtime for bfloat16")
        if not litert_available():
            raise ConfigurationError("The LiteRT runtime needs the ai-edge-litert package (requirements.txt)")
    return requested


def default_cache_dir() -> Path:
    return Path(tempfile.gettempdir()) / "emo7ion-litert"


def twin_path(cache_dir: str | Path, sha256: str) -> Path:
    return Path(cache_dir) / f"{sha256}.tflite"


def derive_twin(model_path: str | Path, out_path: str | Path, *, timeout_s: float = CONVERSION_TIMEOUT_S) -> Path:
    """Convert a `.keras` file to `.tflite` in a child process (TensorFlow stays out of this one).
    The file appears atomically: a concurrent reader never sees half of it."""
    model_path, out_path = Path(model_path), Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(_PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    try:
        done = subprocess.run([sys.executable, "-m", "ml.engine.litert", str(model_path), str(out_path)],
                              capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired as exc:
        raise ModelFileError(f"Model file {model_path.name} could not be loaded: converting it for LiteRT took "
                             f"over {timeout_s:.0f} s") from exc
    if done.returncode != 0 or not out_path.is_file():
        # The child prints one clean line naming the file, never its folder (see _main).
        reason = (done.stdout.strip().splitlines() or ["the converter stopped without a reason"])[-1]
        raise ModelFileError(f"Model file {model_path.name} could not be loaded: {reason}")
    return out_path


class LiteRTForward:
    """Callable (N, H, W, C) float32 -> (N, classes) float32 on one LiteRT interpreter. Not thread
    safe by itself: the classifier calls it under its lock."""

    def __init__(self, tflite_path: str | Path, *, num_threads: int):
        from ai_edge_litert.interpreter import Interpreter
        path = Path(tflite_path)
        try:
            self._interpreter = Interpreter(model_path=str(path), num_threads=max(1, int(num_threads)))
        except (ValueError, RuntimeError) as exc:
            raise ModelFileError(f"LiteRT file {path.name} could not be loaded (damaged)") from exc
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self.output_classes = int(self._interpreter.get_output_details()[0]["shape"][-1])
        self._batch_shape: tuple | None = None

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(batch, np.float32)
        if batch.shape != self._batch_shape:
            self._interpreter.resize_tensor_input(self._input, batch.shape, strict=False)
            self._interpreter.allocate_tensors()
            self._batch_shape = batch.shape
        self._interpreter.set_tensor(self._input, batch)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output).copy()


def load_forward(model_path: str | Path, sha256: str, *, cache_dir: str | Path | None = None,
                 num_threads: int = 1) -> LiteRTForward:
    """The LiteRT forward pass of a `.keras` file whose sha256 is known (the metadata's, already
    checked): its cached twin, derived first when missing, derived again when damaged."""
    path = twin_path(cache_dir or default_cache_dir(), sha256)
    if path.is_file():
        try:
            return LiteRTForward(path, num_threads=num_threads)
        except ModelFileError:
            path.unlink(missing_ok=True)      # damaged (a full disk, a killed copy): derive it again
    derive_twin(model_path, path)
    return LiteRTForward(path, num_threads=num_threads)


def _main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m ml.engine.litert MODEL.keras OUT.tflite")
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    try:
        import keras
        import tensorflow as tf
        model = keras.models.load_model(source, compile=False)
        data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    except Exception as exc:  # keras and the converter raise many types for a bad archive
        print(f"{source.name} is not a Keras model that LiteRT can run ({type(exc).__name__})")
        return 3
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, target)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
