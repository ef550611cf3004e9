"""Training: a tf.data pipeline over in-memory faces, augmentation, class weights,
checkpoint/resume, early stopping, fixed seeds and per-epoch history.

`train(config)` is what `manage.py train_model`, the Celery training task and
`python -m ml.engine.training` all call, so the shipped default model is reproducible
with the project's own code.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .cpu import has_native_bf16
from .datasets import FACE_SIZE, FaceDataset, read_dataset
from .labels import EMOTIONS


@dataclass
class TrainingConfig:
    train_data: str
    output_dir: str
    val_data: str | None = None   # a separate dataset for per-epoch validation; else the data's own val split
    dataset_name: str = ""
    preset: str = "vgg"
    epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 0.05   # peak SGD learning rate, after warm-up, cosine-decayed to zero
    warmup_epochs: int = 2
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    augmentation: str = "strong"  # none | light | strong
    class_weighting: str = "sqrt"  # none | sqrt | balanced
    patience: int = 0             # early stopping on val loss; 0 = off (the schedule decides)
    seed: int = 7
    # bf16 compute. Off by default: it was no faster on a CPU with avx512_bf16 and 14x slower on an
    # AVX2-only one, where TensorFlow emulates it. The v1 default model was trained with it on.
    mixed_precision: bool = False
    limit_per_class: int | None = None
    resume: bool = True
    version: str = ""
    init_model: str | None = None  # fine-tuning: start from this .keras file's weights (same preset)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TrainingResult:
    model_path: str
    metadata_path: str
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    cancelled: bool = False
    wall_time_s: float = 0.0


EpochCallback = Callable[[int, int, dict], None]  # (epoch, total_epochs, logs)


def class_weights(labels: np.ndarray, mode: str) -> dict[int, float] | None:
    if mode == "none":
        return None
    counts = np.bincount(labels, minlength=len(EMOTIONS)).astype(np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    inv = counts[present].sum() / (present.sum() * counts[present])
    weights[present] = np.sqrt(inv) if mode == "sqrt" else inv
    weights[present] /= (weights[present] * counts[present]).sum() / counts[present].sum()  # mean weight 1
    return {i: float(w) for i, w in enumerate(weights)}


def _augmenter(level: str, seed: int):
    import keras
    from keras import layers
    if level == "none":
        return None
    rot, zoom, shift = (0.03, 0.08, 0.08) if level == "light" else (0.05, 0.15, 0.12)
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed),
        layers.RandomRotation(rot, fill_mode="reflect", seed=seed + 1),
        layers.RandomZoom((-zoom, zoom), fill_mode="reflect", seed=seed + 2),
        layers.RandomTranslation(shift, shift, fill_mode="reflect", seed=seed + 3),
        layers.RandomContrast(0.3, seed=seed + 4),
        layers.RandomBrightness(0.2, value_range=(0, 255), seed=seed + 5),
    ], name="augment")


def _random_erasing(images, seed_tensor, size: int):
    """Blank one random square (up to 40% of the side) in each image: makes the model use the whole face."""
    import tensorflow as tf
    n = tf.shape(images)[0]
    side = tf.cast(tf.random.stateless_uniform([n], seed_tensor, 4, int(size * 0.4)), tf.int32)
    cy = tf.random.stateless_uniform([n], seed_tensor + 1, 0, size, dtype=tf.int32)
    cx = tf.random.stateless_uniform([n], seed_tensor + 2, 0, size, dtype=tf.int32)
    keep = tf.random.stateless_uniform([n], seed_tensor + 3) < 0.5
    grid = tf.range(size)
    ys = (grid[None, :] >= (cy - side // 2)[:, None]) & (grid[None, :] < (cy + side // 2)[:, None])
    xs = (grid[None, :] >= (cx - side // 2)[:, None]) & (grid[None, :] < (cx + side // 2)[:, None])
    box = ys[:, :, None] & xs[:, None, :] & keep[:, None, None]
    fill = tf.cast(tf.reduce_mean(images, axis=[1, 2, 3]), images.dtype)
    return tf.where(box[..., None], fill[:, None, None, None], images)


def make_dataset(data: FaceDataset, batch_size: int, training: bool, augmentation: str, seed: int):
    import tensorflow as tf
    x = data.images[..., None].astype(np.float32)
    y = data.labels.astype(np.int32)
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if training:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=training)
    augment = _augmenter(augmentation, seed) if training else None
    if augment is not None:
        counter = tf.data.Dataset.counter()
        ds = tf.data.Dataset.zip((ds, counter))

        def _apply(batch, step):
            images, labels = batch
            images = augment(images, training=True)
            images = tf.clip_by_value(images, 0.0, 255.0)
            if augmentation == "strong":
                images = _random_erasing(images, tf.stack([tf.cast(step, tf.int32), seed]), FACE_SIZE)
            return images, labels

        ds = ds.map(_apply, num_parallel_calls=1)
    return ds.prefetch(2)


def _lr_at(epoch: int, config: TrainingConfig) -> float:
    if epoch < config.warmup_epochs:
        return config.learning_rate * (epoch + 1) / (config.warmup_epochs + 1)
    progress = (epoch - config.warmup_epochs) / max(1, config.epochs - config.warmup_epochs)
    return 0.5 * config.learning_rate * (1 + math.cos(math.pi * min(1.0, progress)))


def _load_data(config: TrainingConfig) -> tuple[FaceDataset, FaceDataset | None]:
    data = read_dataset(config.train_data, limit_per_class=config.limit_per_class)
    if config.val_data:
        train = data.subset(data.splits != "test")
        if (train.splits == "train").any():
            train = train.split("train")
        val = read_dataset(config.val_data, limit_per_class=config.limit_per_class)
        val = val.split("val") if (val.splits == "val").any() else val
    else:
        train = data.split("train") if (data.splits == "train").any() else data
        val = data.split("val") if (data.splits == "val").any() else None
    if len(train) == 0:
        from .errors import DatasetError
        raise DatasetError("The training data has no images")
    return train, val


def _load_initial_weights(model, config: TrainingConfig) -> None:
    import keras

    from .errors import ModelFileError
    try:
        source = keras.models.load_model(config.init_model, compile=False)
    except Exception as exc:  # keras raises many types for a bad archive
        raise ModelFileError(f"The model to start from, {config.init_model}, could not be loaded: {exc}") from exc
    try:
        model.set_weights(source.get_weights())
    except ValueError as exc:
        raise ModelFileError(f"The model to start from, {Path(config.init_model).name}, is not a "
                             f"{config.preset!r} network; fine-tune it with its own preset") from exc


def train(config: TrainingConfig, on_epoch: EpochCallback | None = None,
          should_stop: Callable[[], bool] | None = None) -> TrainingResult:
    """Train a model and write `<output_dir>/model.keras` plus `model.json` metadata."""
    import keras
    import tensorflow as tf

    from .classifier import sha256_of, write_metadata
    from .evaluation import evaluate_predictions

    started = time.perf_counter()
    try:  # one inter-op thread: on small CPUs parallel ops only fight over the same cores
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # already initialised in this process
        pass
    out = Path(config.output_dir)
    ckpt_dir = out / "checkpoint"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if config.mixed_precision else "float32")
    if config.mixed_precision and not has_native_bf16():
        warnings.warn("bf16 training on a CPU without native bf16 (avx512_bf16/amx_bf16) is emulated and "
                      "much slower than float32; set mixed_precision off", RuntimeWarning, stacklevel=2)

    train_data, val_data = _load_data(config)
    train_ds = make_dataset(train_data, config.batch_size, True, config.augmentation, config.seed)
    val_ds = make_dataset(val_data, 512, False, "none", config.seed) if val_data is not None and len(val_data) else None

    from .architectures import build_model
    state_path, last_path = ckpt_dir / "state.json", ckpt_dir / "last.keras"
    initial_epoch, history = 0, []
    if config.resume and state_path.exists() and last_path.exists():
        state = json.loads(state_path.read_text())
        if state.get("config") == config.to_json():
            model = keras.models.load_model(last_path)
            initial_epoch, history = state["epoch"], state["history"]
    if initial_epoch == 0:
        model = build_model(config.preset, FACE_SIZE, config.weight_decay)
        if config.init_model:
            _load_initial_weights(model, config)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=0.9, nesterov=True),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=["accuracy"],
        )
    one_hot = lambda x, y: (x, tf.one_hot(y, len(EMOTIONS)))  # noqa: E731  (label smoothing needs one-hot)
    train_ds = train_ds.map(one_hot)
    val_ds = val_ds.map(one_hot) if val_ds is not None else None

    class _Progress(keras.callbacks.Callback):
        cancelled = False

        def on_epoch_begin(self, epoch, logs=None):
            self.model.optimizer.learning_rate.assign(_lr_at(epoch, config))

        def on_epoch_end(self, epoch, logs=None):
            row = {"epoch": epoch + 1, "lr": _lr_at(epoch, config),
                   **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}}
            history.append(row)
            self.model.save(last_path)
            state_path.write_text(json.dumps({"epoch": epoch + 1, "history": history, "config": config.to_json()}))
            if on_epoch:
                on_epoch(epoch + 1, config.epochs, row)
            if should_stop and should_stop():
                self.cancelled = True
                self.model.stop_training = True

    progress = _Progress()
    callbacks = [progress]
    if config.patience and val_ds is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                                       restore_best_weights=True))
    weights = class_weights(train_data.labels, config.class_weighting)
    if initial_epoch < config.epochs:
        model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=initial_epoch,
                  shuffle=False,  # tf.data reshuffles every epoch already
                  class_weight=weights, callbacks=callbacks, verbose=2)
    stopped_early = len(history) < config.epochs and not progress.cancelled

    # Save a float32 copy: inference chooses its own precision at load time.
    keras.mixed_precision.set_global_policy("float32")
    final = build_model(config.preset, FACE_SIZE, 0.0)
    final.set_weights(model.get_weights())
    model_path = out / "model.keras"
    final.save(model_path)

    metrics = {}
    if val_data is not None and len(val_data):
        probs = final.predict(val_data.images[..., None].astype(np.float32), batch_size=512, verbose=0)
        metrics = evaluate_predictions(val_data.labels, probs.argmax(1))
    meta_path = write_metadata(
        model_path,
        version=config.version or out.name,
        architecture=config.preset,
        training={
            "dataset_name": config.dataset_name or Path(config.train_data).name,
            "dataset_content_hash": train_data.content_hash,
            "n_train": len(train_data), "n_val": len(val_data) if val_data is not None else 0,
            "config": config.to_json(), "history": history,
            **({"init_model_sha256": sha256_of(config.init_model)} if config.init_model else {}),
            "stopped_early": stopped_early, "cancelled": progress.cancelled,
            "wall_time_s": round(time.perf_counter() - started, 1),
        },
        metrics={"validation": metrics} if metrics else {},
    )
    return TrainingResult(str(model_path), str(meta_path), history, stopped_early, progress.cancelled,
                          time.perf_counter() - started)


def parse_config(argv: list[str] | None = None) -> TrainingConfig:
    """The command line of `python -m ml.engine.training`: one --option per TrainingConfig field."""
    parser = argparse.ArgumentParser(description="Train an Emo7ion emotion CNN (same code as manage.py train_model).")
    parser.add_argument("train_data")
    parser.add_argument("output_dir")
    for f in TrainingConfig.__dataclass_fields__.values():
        if f.name in ("train_data", "output_dir"):
            continue
        kind = {"int": int, "float": float, "bool": lambda s: s.lower() in ("1", "true", "yes")}.get(
            str(f.type).split(" ")[0], str)
        parser.add_argument("--" + f.name.replace("_", "-"), type=kind, default=f.default)
    args = vars(parser.parse_args(argv))
    if args.get("limit_per_class") in ("None", None):
        args["limit_per_class"] = None
    else:
        args["limit_per_class"] = int(args["limit_per_class"])
    return TrainingConfig(**args)


def main(argv: list[str] | None = None) -> None:
    result = train(parse_config(argv), on_epoch=lambda e, n, row: print(json.dumps(row), flush=True))
    print(json.dumps({"model": result.model_path, "metadata": result.metadata_path,
                      "wall_time_s": round(result.wall_time_s, 1)}))


if __name__ == "__main__":
    main()
