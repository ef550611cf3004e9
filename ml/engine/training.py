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
    crop_size: int = 0            # train on random crops of this side and test on the centre crop; 0 = whole face
    swa_epochs: int = 0           # average the weights of the last N epochs (SWA); 0 = off
    max_minutes: float = 0        # pause with a complete checkpoint before running past this; 0 = no limit
    pause_after_epochs: int = 0   # pause with a complete checkpoint after this many epochs of this call; 0 = off
    architecture_options: dict | None = None  # builder options (the `tuned` family: width, dense_units, dropout)
    teacher_model: str | None = None  # distillation: a trained .keras model whose probabilities are mixed in
    distill_weight: float = 0.7   # the teacher's share of each target (the rest is the one-hot label)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TrainingResult:
    model_path: str
    metadata_path: str
    history: list[dict] = field(default_factory=list)
    stopped_early: bool = False
    cancelled: bool = False
    paused: bool = False          # stopped by max_minutes: run the same config again to resume
    wall_time_s: float = 0.0


# Config fields that steer one invocation, not the run: changing them does not start a new run.
RUN_CONTROL_FIELDS = ("max_minutes", "pause_after_epochs", "resume")


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


# Augmentation strengths: (max rotation in degrees, extra shift as a fraction of the face, max crop zoom).
AUGMENTATION_LEVELS = {"light": (6.0, 0.04, 1.05), "strong": (10.0, 0.10, 1.10)}


def _stateless_seed(*parts) -> "tf.Tensor":  # noqa: F821
    """A stateless-RNG seed from integers: the same (seed, epoch, step) always draws the same numbers."""
    import tensorflow as tf
    mixed = tf.constant(0, tf.int64)
    for part in parts:
        mixed = mixed * 1_000_003 + tf.cast(part, tf.int64)
    return tf.stack([tf.cast(mixed % 2_147_483_647, tf.int32), tf.cast(mixed // 2_147_483_647 % 65_521, tf.int32)])


def augment_batch(images, seed, level: str, out_size: int):
    """Random affine crop (rotation, zoom, shift, flip) of each face to `out_size` px, in one resampling,
    then brightness/contrast jitter and random erasing. Stateless: `seed` fixes every draw.

    `images` is (B, H, W, 1) float32 0-255; the output is (B, out_size, out_size, 1). With level "none"
    it is the centre crop, exactly what inference does.
    """
    import tensorflow as tf
    n = tf.shape(images)[0]
    side = images.shape[1]
    if level == "none":
        return centre_crop_tf(images, out_size)
    max_rot, extra_shift, max_zoom = AUGMENTATION_LEVELS[level]
    draw = lambda k, lo, hi: tf.random.stateless_uniform([n], seed + k, lo, hi)  # noqa: E731
    angle = draw(1, -max_rot, max_rot) * (math.pi / 180.0)
    zoom = draw(2, 1.0, max_zoom)  # source pixels per output pixel: a crop of out_size*zoom px
    play = tf.maximum(0.0, (side - out_size * zoom) / 2.0) + extra_shift * side
    tx, ty = draw(3, -1.0, 1.0) * play, draw(4, -1.0, 1.0) * play
    flip = tf.where(draw(5, 0.0, 1.0) < 0.5, -1.0, 1.0)
    cos, sin = tf.cos(angle) * zoom, tf.sin(angle) * zoom
    c_out, c_in = (out_size - 1) / 2.0, (side - 1) / 2.0
    a0, a1 = cos * flip, -sin
    b0, b1 = sin * flip, cos
    a2 = c_in + tx - (a0 + a1) * c_out
    b2 = c_in + ty - (b0 + b1) * c_out
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=tf.constant([out_size, out_size]),
        fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
    mean = tf.reduce_mean(out, axis=[1, 2, 3], keepdims=True)
    contrast = tf.reshape(draw(6, 0.7, 1.3), [-1, 1, 1, 1])
    brightness = tf.reshape(draw(7, 0.8, 1.2), [-1, 1, 1, 1])
    out = tf.clip_by_value((out - mean) * contrast + mean * brightness, 0.0, 255.0)
    if level == "strong":
        out = _random_erasing(out, seed + 8, out_size)
    out.set_shape([None, out_size, out_size, 1])
    return out


def centre_crop_tf(images, out_size: int):
    side = images.shape[1]
    if side == out_size:
        return images
    o = (side - out_size) // 2
    return images[:, o:o + out_size, o:o + out_size, :]


def centre_crop(faces: np.ndarray, out_size: int) -> np.ndarray:
    """NumPy twin of the test-time crop: the central out_size x out_size of each (N, H, W[, C]) face."""
    side = faces.shape[1]
    if side == out_size:
        return faces
    o = (side - out_size) // 2
    return faces[:, o:o + out_size, o:o + out_size]


def _random_erasing(images, seed, size: int):
    """Blank one random square (up to 40% of the side) in half the images: makes the model use the whole face."""
    import tensorflow as tf
    n = tf.shape(images)[0]
    side = tf.cast(tf.random.stateless_uniform([n], seed, 4, int(size * 0.4)), tf.int32)
    cy = tf.random.stateless_uniform([n], seed + 1, 0, size, dtype=tf.int32)
    cx = tf.random.stateless_uniform([n], seed + 2, 0, size, dtype=tf.int32)
    keep = tf.random.stateless_uniform([n], seed + 3) < 0.5
    grid = tf.range(size)
    ys = (grid[None, :] >= (cy - side // 2)[:, None]) & (grid[None, :] < (cy + side // 2)[:, None])
    xs = (grid[None, :] >= (cx - side // 2)[:, None]) & (grid[None, :] < (cx + side // 2)[:, None])
    box = ys[:, :, None] & xs[:, None, :] & keep[:, None, None]
    fill = tf.cast(tf.reduce_mean(images, axis=[1, 2, 3]), images.dtype)
    return tf.where(box[..., None], fill[:, None, None, None], images)


def training_stream(data: FaceDataset, config: "TrainingConfig", first_epoch: int, out_size: int,
                    targets: np.ndarray | None = None, sample_weights: np.ndarray | None = None):
    """Batches (faces, targets[, sample weights]) for epochs first_epoch..epochs-1.

    `targets` are one row of class probabilities per face (default one-hot labels; distillation mixes
    in a teacher's). Every epoch's order and every batch's augmentation are a pure function of
    (seed, epoch, step), so a run resumed at epoch e sees exactly the batches an uninterrupted run would.
    """
    import tensorflow as tf
    images = tf.constant(data.images[..., None])
    if targets is None:
        targets = np.eye(len(EMOTIONS), dtype=np.float32)[data.labels]
    targets = tf.constant(targets.astype(np.float32))
    weights = tf.constant(sample_weights.astype(np.float32)) if sample_weights is not None else None
    n, batch = len(data), min(config.batch_size, len(data))
    steps = n // batch
    level = config.augmentation

    def epoch_batches(epoch):
        order = tf.argsort(tf.random.stateless_uniform([n], _stateless_seed(config.seed, epoch, 0)))
        order = order[: steps * batch]
        starts = tf.data.Dataset.range(steps)

        def make_batch(step):
            idx = order[step * batch:(step + 1) * batch]
            x = tf.cast(tf.gather(images, idx), tf.float32)
            x = augment_batch(x, _stateless_seed(config.seed, epoch, step + 1), level, out_size)
            if weights is None:
                return x, tf.gather(targets, idx)
            return x, tf.gather(targets, idx), tf.gather(weights, idx)
        return starts.map(make_batch)

    return (tf.data.Dataset.range(first_epoch, config.epochs).flat_map(epoch_batches)
            .prefetch(2)), steps


def evaluation_stream(data: FaceDataset, out_size: int, batch_size: int = 512):
    import tensorflow as tf
    x = centre_crop(data.images, out_size)[..., None].astype(np.float32)
    y = np.eye(len(EMOTIONS), dtype=np.float32)[data.labels]
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)


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


def distillation_targets(data: FaceDataset, config: TrainingConfig, input_size: int) -> tuple[np.ndarray | None, str]:
    """Soft targets from a teacher (Hinton et al. 2015, offline): the teacher's calibrated probabilities on
    each face (its own test-time crops and flip), mixed with the one-hot label. Computed once, before
    training, so a distilled epoch costs what a plain one does; augmentation keeps the face's targets."""
    if not config.teacher_model:
        return None, ""
    from .classifier import EmotionClassifier

    teacher = EmotionClassifier(config.teacher_model, tta="flip")
    if teacher.input_size != FACE_SIZE or teacher.labels != list(EMOTIONS):
        from .errors import ModelFileError
        raise ModelFileError(f"The teacher {Path(config.teacher_model).name} does not classify {FACE_SIZE} px "
                             "faces into the seven FER2013 emotions")
    soft = teacher.predict_proba(data.images)
    one_hot = np.eye(len(EMOTIONS), dtype=np.float32)[data.labels]
    return (config.distill_weight * soft + (1 - config.distill_weight) * one_hot).astype(np.float32), teacher.sha256


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


def _config_identity(config: TrainingConfig) -> dict:
    """The fields that define a run: a checkpoint resumes only a run with the same identity."""
    return {k: v for k, v in config.to_json().items() if k not in RUN_CONTROL_FIELDS}


def same_run(saved_identity: dict, config: TrainingConfig) -> bool:
    """Whether a checkpoint's recorded identity is this config's run. A field added to TrainingConfig
    after the checkpoint was written counts as its default there, so new options never orphan a
    run that trains across sessions."""
    fields = TrainingConfig.__dataclass_fields__
    current = _config_identity(config)
    if set(saved_identity) - set(current):
        return False
    return all(saved_identity.get(k, fields[k].default) == v for k, v in current.items())


def _seed_dropout(model, seed: int, epoch: int) -> None:
    """Reset every layer's RNG (dropout) to a state fixed by (seed, epoch).

    Keras does not save seed-generator states in a .keras file; setting them per epoch makes a resumed
    run draw the same dropout masks as an uninterrupted one.
    """
    import keras
    for i, layer in enumerate(model._flatten_layers()):
        for generator in getattr(layer, "_seed_generators", []):
            state = generator.state
            state.assign(keras.ops.cast(keras.ops.array([seed * 7919 + i, epoch]), state.dtype))


class _WeightAverage:
    """Stochastic weight averaging (Izmailov et al. 2018): the running mean of the weights at the ends
    of the last `epochs` epochs, kept in the checkpoint so it survives a pause."""

    def __init__(self, path: Path):
        self.path, self.count, self.mean = path, 0, None

    def load(self, count: int) -> None:
        if count and self.path.exists():
            with np.load(self.path) as saved:
                self.mean = [saved[f"w{i}"] for i in range(len(saved.files))]
            self.count = count

    def add(self, weights: list[np.ndarray]) -> None:
        self.count += 1
        if self.mean is None:
            self.mean = [w.astype(np.float64) for w in weights]
        else:
            self.mean = [m + (w - m) / self.count for m, w in zip(self.mean, weights)]
        np.savez(self.path, **{f"w{i}": m for i, m in enumerate(self.mean)})


def recalibrate_batch_norm(model, batches, max_batches: int = 60) -> int:
    """Recompute BatchNorm statistics as the plain mean over training batches (needed after weight
    averaging: averaged weights do not match any epoch's running statistics)."""
    import keras
    norms = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.BatchNormalization)]
    if not norms:
        return 0
    saved_momentum = [layer.momentum for layer in norms]
    seen = 0
    for x, *_ in batches.take(max_batches):
        for layer in norms:
            layer.momentum = seen / (seen + 1)  # cumulative mean: the first batch replaces the old values
        model(x, training=True)
        seen += 1
    for layer, momentum in zip(norms, saved_momentum):
        layer.momentum = momentum
    return seen


def train(config: TrainingConfig, on_epoch: EpochCallback | None = None,
          should_stop: Callable[[], bool] | None = None,
          datasets: tuple[FaceDataset, FaceDataset | None] | None = None) -> TrainingResult:
    """Train a model and write `<output_dir>/model.keras` plus `model.json` metadata.

    With `config.max_minutes` the run pauses before an epoch that would not finish in time: the
    checkpoint (weights, optimizer, epoch, history, weight average) is complete, the result says
    `paused`, and the same call later resumes it with the schedule of an uninterrupted run.
    `datasets` (train, validation) replaces reading `config.train_data`, for callers that split it.
    """
    import keras
    import tensorflow as tf

    from .classifier import sha256_of, write_metadata
    from .cpu import cpu_flags
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

    train_data, val_data = datasets if datasets is not None else _load_data(config)  # datasets: k-fold
    input_size = config.crop_size or FACE_SIZE
    if input_size > FACE_SIZE:
        raise ValueError(f"crop_size must be at most the face size ({FACE_SIZE}), got {input_size}")
    if val_data is not None and not len(val_data):
        val_data = None

    from .architectures import build_model
    state_path, last_path = ckpt_dir / "state.json", ckpt_dir / "last.keras"
    average = _WeightAverage(ckpt_dir / "swa.npz")
    initial_epoch, history, compute_s = 0, [], 0.0
    if config.resume and state_path.exists() and last_path.exists():
        state = json.loads(state_path.read_text())
        if same_run(state.get("config", {}), config):
            model = keras.models.load_model(last_path)
            initial_epoch, history = state["epoch"], state["history"]
            compute_s = state.get("compute_s", 0.0)
            average.load(state.get("swa_count", 0))
    if initial_epoch == 0:
        model = build_model(config.preset, input_size, config.weight_decay, **(config.architecture_options or {}))
        if config.init_model:
            _load_initial_weights(model, config)
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=0.9, nesterov=True),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
            metrics=["accuracy"],
        )
    weights = class_weights(train_data.labels, config.class_weighting)
    sample_weights = (np.array([weights[i] for i in range(len(EMOTIONS))], np.float32)[train_data.labels]
                      if weights is not None else None)
    targets, teacher_sha = distillation_targets(train_data, config, input_size)
    train_ds, steps = training_stream(train_data, config, initial_epoch, input_size, targets, sample_weights)
    val_ds = evaluation_stream(val_data, input_size) if val_data is not None else None
    swa_from = config.epochs - config.swa_epochs if config.swa_epochs else None

    class _Progress(keras.callbacks.Callback):
        cancelled = paused = False
        epoch_started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()
            self.model.optimizer.learning_rate.assign(_lr_at(epoch, config))
            _seed_dropout(self.model, config.seed, epoch)

        def on_epoch_end(self, epoch, logs=None):
            nonlocal compute_s
            epoch_s = time.perf_counter() - self.epoch_started
            compute_s += epoch_s
            row = {"epoch": epoch + 1, "lr": _lr_at(epoch, config), "epoch_s": round(epoch_s, 1),
                   **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}}
            history.append(row)
            if swa_from is not None and epoch + 1 > swa_from:
                average.add(self.model.get_weights())
            self.model.save(last_path)
            state_path.write_text(json.dumps({
                "epoch": epoch + 1, "history": history, "config": _config_identity(config),
                "compute_s": round(compute_s, 1), "swa_count": average.count}))
            if on_epoch:
                on_epoch(epoch + 1, config.epochs, row)
            if should_stop and should_stop():
                self.cancelled = True
                self.model.stop_training = True
            elif epoch + 1 < config.epochs and self._out_of_budget(epoch, epoch_s):
                self.paused = True
                self.model.stop_training = True

        def _out_of_budget(self, epoch: int, epoch_s: float) -> bool:
            if config.pause_after_epochs and epoch + 1 - initial_epoch >= config.pause_after_epochs:
                return True
            if config.max_minutes:
                budget_left = config.max_minutes * 60 - (time.perf_counter() - started)
                return budget_left < epoch_s * 1.15 + 30  # the next epoch and saving would overrun
            return False

    progress = _Progress()
    callbacks = [progress]
    if config.patience and val_ds is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience,
                                                       restore_best_weights=True))
    if initial_epoch < config.epochs:
        model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=initial_epoch,
                  steps_per_epoch=steps, shuffle=False,  # the stream fixes each epoch's order itself
                  callbacks=callbacks, verbose=2)
    if progress.paused:
        return TrainingResult("", "", history, cancelled=False, paused=True,
                              wall_time_s=time.perf_counter() - started)
    stopped_early = len(history) < config.epochs and not progress.cancelled

    # Save a float32 copy: inference chooses its own precision at load time.
    keras.mixed_precision.set_global_policy("float32")
    final = build_model(config.preset, input_size, 0.0, **(config.architecture_options or {}))
    final.set_weights(model.get_weights())
    swa_used = bool(swa_from is not None and average.count and not stopped_early and not progress.cancelled)
    if swa_used:
        final.set_weights([m.astype(w.dtype) for m, w in zip(average.mean, final.get_weights())])
        recal_ds, _ = training_stream(train_data, config, config.epochs - 1, input_size)
        recalibrate_batch_norm(final, recal_ds)
    model_path = out / "model.keras"
    final.save(model_path)

    metrics = {}
    if val_data is not None:
        probs = final.predict(centre_crop(val_data.images, input_size)[..., None].astype(np.float32),
                              batch_size=512, verbose=0)
        metrics = evaluate_predictions(val_data.labels, probs.argmax(1))
    meta_path = write_metadata(
        model_path,
        version=config.version or out.name,
        architecture=config.preset,
        input_size=FACE_SIZE,  # what callers pass; the network sees the crop below
        crop={"size": input_size} if input_size != FACE_SIZE else None,
        training={
            "dataset_name": config.dataset_name or Path(config.train_data).name,
            "dataset_content_hash": train_data.content_hash,
            "n_train": len(train_data), "n_val": len(val_data) if val_data is not None else 0,
            "config": config.to_json(), "history": history,
            **({"init_model_sha256": sha256_of(config.init_model)} if config.init_model else {}),
            **({"teacher_sha256": teacher_sha} if teacher_sha else {}),
            "swa": {"epochs": average.count, "from_epoch": swa_from + 1} if swa_used else None,
            "stopped_early": stopped_early, "cancelled": progress.cancelled,
            "compute_s": round(compute_s, 1), "cpu_flags": sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma"))),
            "wall_time_s": round(time.perf_counter() - started, 1),
        },
        metrics={"validation": metrics} if metrics else {},
    )
    return TrainingResult(str(model_path), str(meta_path), history, stopped_early, progress.cancelled,
                          wall_time_s=time.perf_counter() - started)


def parse_config(argv: list[str] | None = None) -> TrainingConfig:
    """The command line of `python -m ml.engine.training`: one --option per TrainingConfig field."""
    parser = argparse.ArgumentParser(description="Train an Emo7ion emotion CNN (same code as manage.py train_model).")
    parser.add_argument("train_data")
    parser.add_argument("output_dir")
    for f in TrainingConfig.__dataclass_fields__.values():
        if f.name in ("train_data", "output_dir"):
            continue
        kind = {"int": int, "float": float, "bool": lambda s: s.lower() in ("1", "true", "yes"),
                "dict": json.loads}.get(
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
    if result.paused:
        print(json.dumps({"paused": True, "epochs_done": len(result.history),
                          "wall_time_s": round(result.wall_time_s, 1),
                          "resume": "run the same command again"}))
        return
    print(json.dumps({"model": result.model_path, "metadata": result.metadata_path,
                      "wall_time_s": round(result.wall_time_s, 1)}))


if __name__ == "__main__":
    main()
