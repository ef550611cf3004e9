"""The emotion classifier: a Keras `.keras` file plus a JSON metadata file beside it.

The pipeline depends only on the metadata (labels, input size, preprocessing), never on
which network is inside. Inference is batched across faces from many frames.
"""
from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np

from .cpu import available_cpus, resolve_precision
from .calibration import apply_calibration
from .errors import ConfigurationError, ModelFileError
from .labels import EMOTIONS
from .litert import load_forward, resolve_runtime

METADATA_FORMAT = 1
PREPROCESSING = {"colour": "grey", "input": "uint8 0-255, HxW = input_size; the model rescales itself",
                 "face_crop": "detector box padded as FER2013 (see ml.engine.faces)"}


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def metadata_path_for(model_path: str | Path) -> Path:
    return Path(model_path).with_suffix(".json")


def write_metadata(model_path: str | Path, *, version: str, architecture: str, training: dict,
                   metrics: dict, labels: tuple[str, ...] = EMOTIONS, input_size: int = 48,
                   crop: dict | None = None) -> Path:
    meta = {
        "format": METADATA_FORMAT,
        "version": version,
        "labels": list(labels),
        "input_size": input_size,
        "preprocessing": PREPROCESSING,
        "architecture": architecture,
        "training": training,
        "metrics": metrics,
        "sha256": sha256_of(model_path),
    }
    if crop is not None:  # trained on crops: inference takes the same crop of each face
        meta["crop"] = crop
    path = metadata_path_for(model_path)
    path.write_text(json.dumps(meta, indent=1))
    return path


def read_metadata(model_path: str | Path) -> dict:
    model_path = Path(model_path)
    meta_path = metadata_path_for(model_path)
    if not model_path.is_file():
        raise ModelFileError(f"Model file {model_path} does not exist")
    if not meta_path.is_file():
        raise ModelFileError(f"Model metadata {meta_path.name} is missing beside {model_path.name}")
    try:
        meta = json.loads(meta_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelFileError(f"Model metadata {meta_path.name} is not valid JSON") from exc
    for key in ("labels", "input_size", "sha256"):
        if key not in meta:
            raise ModelFileError(f"Model metadata {meta_path.name} lacks '{key}'")
    return meta


TTA_MODES = ("none", "flip", "crops")


def crop_views(faces: np.ndarray, crop: int, mode: str) -> list[np.ndarray]:
    """The views of (N, S, S, 1) faces that test-time augmentation averages over.

    none: the centre crop; flip: it and its mirror; crops: the centre and four corner crops, each with
    its mirror (ten-crop, as Khaireddin & Chen 2021 test). With crop == S there are no corners to take.
    """
    side = faces.shape[1]
    o = (side - crop) // 2
    views = [faces[:, o:o + crop, o:o + crop]]
    if mode == "crops":
        if crop >= side:
            raise ConfigurationError("Test-time 'crops' needs a model trained on crops smaller than the face")
        m = side - crop
        views += [faces[:, y:y + crop, x:x + crop] for y, x in ((0, 0), (0, m), (m, 0), (m, m))]
    if mode in ("flip", "crops"):
        views += [v[:, :, ::-1] for v in views]
    return [np.ascontiguousarray(v) for v in views]


class EmotionClassifier:
    """Loads a model once; `predict_proba(faces)` takes (N, S, S) uint8 grey faces, S = `input_size`.

    The metadata decides the rest: a model trained on crops (`crop.size` < S) sees the centre crop;
    `tta` (none | flip | crops, default the metadata's `inference.tta`) averages several views; a
    stored `calibration` (logit offsets, temperature) is applied to the averaged probabilities.

    `runtime` runs the forward pass: `keras` (TensorFlow), `litert` (`ml.engine.litert`: the same
    float32 network without importing TensorFlow into this process), or `auto` (LiteRT where it is
    installed and the precision is float32). `litert_cache_dir` holds LiteRT's derived files.
    """

    def __init__(self, model_path: str | Path, *, precision: str = "float32", tta_flip: bool = False,
                 tta: str | None = None, calibrated: bool = True, verify_sha256: bool = True,
                 runtime: str = "keras", litert_cache_dir: str | Path | None = None):
        self.model_path = Path(model_path)
        self.metadata = read_metadata(self.model_path)
        if verify_sha256 and sha256_of(self.model_path) != self.metadata["sha256"]:
            raise ModelFileError(f"Model file {self.model_path.name} does not match the sha256 in its metadata "
                                 "(corrupt or replaced)")
        self.labels: list[str] = list(self.metadata["labels"])
        self.input_size: int = int(self.metadata["input_size"])
        self.crop_size: int = int((self.metadata.get("crop") or {}).get("size", self.input_size))
        self.sha256: str = self.metadata["sha256"]
        default_tta = (self.metadata.get("inference") or {}).get("tta", "none")
        self.tta: str = tta or ("flip" if tta_flip else default_tta)
        if self.tta not in TTA_MODES:
            raise ConfigurationError(f"Unknown test-time augmentation {self.tta!r}; use {', '.join(TTA_MODES)}")
        self.tta_flip = self.tta != "none"
        self.calibration: dict | None = self.metadata.get("calibration") if calibrated else None
        self.precision = resolve_precision(precision)  # "auto": bf16 only where the CPU computes it natively
        self.runtime = resolve_runtime(runtime, self.precision)
        self._model = self._litert = None
        if self.runtime == "litert":
            self._litert = self._load_litert(litert_cache_dir)
        else:
            self._model = self._load(self.precision)
        self._lock = threading.Lock()
        self._infer = None

    def _load_litert(self, cache_dir):
        forward = load_forward(self.model_path, self.sha256, cache_dir=cache_dir, num_threads=available_cpus())
        if forward.output_classes != len(self.labels):
            raise ModelFileError(f"Model outputs {forward.output_classes} classes but its metadata names "
                                 f"{len(self.labels)}")
        return forward

    def _load(self, precision: str):
        import keras
        try:
            model = keras.models.load_model(self.model_path, compile=False)
        except Exception as exc:  # keras raises many types for a bad archive
            raise ModelFileError(f"Model file {self.model_path.name} could not be loaded: {exc}") from exc
        if precision == "bfloat16":
            def _bf16(layer):
                config = layer.get_config()
                # Keep the final softmax in float32 so probabilities stay well-formed.
                if not isinstance(layer, keras.layers.InputLayer) and layer.name != model.layers[-1].name:
                    config["dtype"] = "mixed_bfloat16"
                return layer.__class__.from_config(config)
            clone = keras.models.clone_model(model, clone_function=_bf16)
            clone.set_weights(model.get_weights())
            model = clone
        out_dim = model.output_shape[-1]
        if out_dim != len(self.labels):
            raise ModelFileError(f"Model outputs {out_dim} classes but its metadata names {len(self.labels)}")
        return model

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        if self._litert is not None:
            return self._litert(batch)
        import tensorflow as tf
        if self._infer is None:
            model = self._model
            self._infer = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
        return np.asarray(self._infer(tf.convert_to_tensor(batch)), dtype=np.float32)

    def predict_proba(self, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
        faces = np.asarray(faces)
        if faces.ndim == 2:
            faces = faces[None]
        if faces.size == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if faces.shape[1:3] != (self.input_size, self.input_size):
            raise ValueError(f"Faces must be {self.input_size}x{self.input_size}, got {faces.shape[1:3]}")
        x = faces.reshape(-1, self.input_size, self.input_size, 1).astype(np.float32)
        out = []
        with self._lock:  # one model, many threads: keep batches whole
            for start in range(0, len(x), batch_size):
                chunk = x[start:start + batch_size]
                n = len(chunk)
                # Pad to a fixed batch so the traced function is reused, not retraced per size.
                if n < batch_size and len(x) > batch_size:
                    chunk = np.concatenate([chunk, np.zeros((batch_size - n, *chunk.shape[1:]), np.float32)])
                views = crop_views(chunk, self.crop_size, self.tta)
                probs = sum(self._forward(v)[:n] for v in views) / len(views)
                out.append(probs)
        return apply_calibration(np.concatenate(out), self.calibration)

    def predict(self, faces: np.ndarray, batch_size: int = 256) -> np.ndarray:
        return self.predict_proba(faces, batch_size).argmax(axis=1)
