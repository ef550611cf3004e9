"""Training: a tf.data pipeline over in-memory faces, augmentation, class weights,
checkpoint/resume, early stopping, fixed seeds and per-epoch history.

`train(config)` is what `manage.py train_model`, the Celery training task and
`python -m ml.engine.training` all call, so the shipped default model is reproducible
with the project's own code.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .cpu import has_native_bf16
from .augmentation import centre_crop, evaluation_stream, training_stream
from .averaging import WeightAverage, recalibrate_batch_norm, seed_dropout
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
    # bf16 compute. Off by default: 14x slower on an AVX2-only CPU, where TensorFlow emulates it; with
    # avx512_bf16 it was 1.5x faster for vgg-m (no faster for vgg-s at 48 px). `auto` on the command line
    # turns it on where the CPU has native bf16. It steers one call, not the run: a run that trains
    # across sessions switches with the CPU it lands on (see `_in_compute_precision`).
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
    teacher_model: str | None = None  # distillation: trained .keras model(s), comma-separated, whose mean probabilities are mixed in
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
RUN_CONTROL_FIELDS = ("max_minutes", "pause_after_epochs", "resume", "mixed_precision")


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


def learning_rate_at(epoch: int, config: TrainingConfig) -> float:
    """The recipe's rate for `epoch` (0-based): linear warm-up, then cosine decay to zero at `epochs`.
    Any config with `learning_rate`, `warmup_epochs` and `epochs` will do (the fast lane's too)."""
    if epoch < config.warmup_epochs:
        return config.learning_rate * (epoch + 1) / (config.warmup_epochs + 1)
    progress = (epoch - config.warmup_epochs) / max(1, config.epochs - config.warmup_epochs)
    return 0.5 * config.learning_rate * (1 + math.cos(math.pi * min(1.0, progress)))


def _load_data(config: TrainingConfig) -> tuple[FaceDataset, FaceDataset | None]:
    data = read_dataset(config.train_data, limit_per_class=config.limit_per_class)
    if config.val_data:
        train = data.subset(data.splits != "test").split_if_present("train")
        val = read_dataset(config.val_data, limit_per_class=config.limit_per_class).split_if_present("val")
    else:
        train = data.split_if_present("train")
        val = data.split("val") if (data.splits == "val").any() else None
    if len(train) == 0:
        from .errors import DatasetError
        raise DatasetError("The training data has no images")
    return train, val


def distillation_targets(data: FaceDataset, config: TrainingConfig, input_size: int,
                         cache: Path | None = None) -> tuple[np.ndarray | None, str]:
    """Soft targets from a teacher (Hinton et al. 2015, offline), or the mean of several (an ensemble,
    `teacher_model` comma-separated): the teacher's calibrated probabilities on
    each face (its own test-time crops and flip), mixed with the one-hot label. Computed once, before
    training, so a distilled epoch costs what a plain one does; augmentation keeps the face's targets.

    `cache` (the run's checkpoint folder keeps one) holds them for a resumed run: three teachers take
    minutes over FER2013 on two cores, every session. It is used only for the same teacher files (their
    weights and their metadata, which holds the calibration applied to their probabilities), faces and
    distillation weight; anything else recomputes and replaces it."""
    from .classifier import metadata_path_for, sha256_of
    from .ensembles import ensemble_probabilities, load_members, member_paths

    paths = member_paths(config.teacher_model)
    if not paths:
        return None, ""
    shas = ",".join(sha256_of(path) for path in paths)
    calibrations = [sha256_of(m) if (m := metadata_path_for(path)).is_file() else "" for path in paths]
    key = {"teachers": shas, "calibrations": calibrations, "faces": _faces_fingerprint(data),
           "distill_weight": config.distill_weight}
    if cache is not None and cache.is_file():
        with np.load(cache) as stored:
            if json.loads(str(stored["key"])) == key and stored["targets"].shape == (len(data), len(EMOTIONS)):
                return stored["targets"], shas
    # Several teachers are an ensemble: their calibrated probabilities are averaged (an ensemble is worth
    # 1.5-2.5 points on FER2013 but too slow to serve; distilled, one fast net carries most of it).
    teachers = load_members(paths, tta="flip", face_size=FACE_SIZE)
    soft = ensemble_probabilities(teachers, data.images)
    one_hot = np.eye(len(EMOTIONS), dtype=np.float32)[data.labels]
    targets = (config.distill_weight * soft + (1 - config.distill_weight) * one_hot).astype(np.float32)
    if cache is not None:
        np.savez_compressed(cache, targets=targets, key=json.dumps(key))
    return targets, shas


def _faces_fingerprint(data: FaceDataset) -> str:
    digest = hashlib.sha256(np.ascontiguousarray(data.images).tobytes())
    digest.update(np.ascontiguousarray(data.labels).tobytes())
    return digest.hexdigest()


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


def _compile(model, config: TrainingConfig) -> None:
    import keras

    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=0.9, nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing),
        metrics=["accuracy"],
    )


def _in_compute_precision(model, config: TrainingConfig, input_size: int):
    """The resumed model, computing in this call's precision. A checkpoint saved by a call in the
    other precision is rebuilt under this one with the same weights and optimizer state (momentum,
    step count): the variables are float32 under both policies, only the arithmetic differs."""
    from .architectures import build_model
    from .errors import ModelFileError

    wanted = "bfloat16" if config.mixed_precision else "float32"
    if all(layer.compute_dtype == wanted for layer in model.layers if layer.name != "emotion" and layer.weights):
        return model
    rebuilt = build_model(config.preset, input_size, config.weight_decay, **(config.architecture_options or {}))
    rebuilt.set_weights(model.get_weights())
    _compile(rebuilt, config)
    rebuilt.optimizer.build(rebuilt.trainable_variables)
    source, target = model.optimizer.variables, rebuilt.optimizer.variables
    if [tuple(v.shape) for v in source] != [tuple(v.shape) for v in target]:
        raise ModelFileError("The checkpoint's optimizer state does not fit the network rebuilt in the "
                             "other precision; resume it with the precision it was saved in")
    for old, new in zip(source, target):
        new.assign(old)
    return rebuilt


def _config_identity(config: TrainingConfig) -> dict:
    """The fields that define a run: a checkpoint resumes only a run with the same identity."""
    return {k: v for k, v in config.to_json().items() if k not in RUN_CONTROL_FIELDS}


def same_run(saved_identity: dict, config: TrainingConfig) -> bool:
    """Whether a checkpoint's recorded identity is this config's run. A field added to TrainingConfig
    after the checkpoint was written counts as its default there, so new options never orphan a
    run that trains across sessions."""
    fields = TrainingConfig.__dataclass_fields__
    current = _config_identity(config)
    # A checkpoint written when a field was still part of the identity (mixed_precision was) resumes.
    saved_identity = {k: v for k, v in saved_identity.items() if k not in RUN_CONTROL_FIELDS}
    if set(saved_identity) - set(current):
        return False
    return all(saved_identity.get(k, fields[k].default) == v for k, v in current.items())


def next_epoch_estimate(this_call: list[float], earlier: list[float]) -> float:
    """Seconds the next epoch should take, for the time budget: the median epoch of this call, not the
    last, so that one epoch slowed by other work (or by a process paused with SIGSTOP) does not end a
    run that has time for several more. Before this call has three epochs, an earlier call's recent
    median (from the checkpoint) stands in where it is shorter: otherwise a pause in a resumed run's
    first epoch would end it after that one epoch."""
    estimate = float(np.median(this_call))
    if len(this_call) < 3 and earlier:
        estimate = min(estimate, float(np.median(earlier[-3:])))
    return estimate


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
    average = WeightAverage(ckpt_dir / "swa.npz")
    initial_epoch, history, compute_s = 0, [], 0.0
    if config.resume and state_path.exists() and last_path.exists():
        state = json.loads(state_path.read_text())
        if same_run(state.get("config", {}), config):
            model = _in_compute_precision(keras.models.load_model(last_path), config, input_size)
            initial_epoch, history = state["epoch"], state["history"]
            compute_s = state.get("compute_s", 0.0)
            average.load(state.get("swa_count", 0))
    if initial_epoch == 0:
        model = build_model(config.preset, input_size, config.weight_decay, **(config.architecture_options or {}))
        if config.init_model:
            _load_initial_weights(model, config)
        _compile(model, config)
    weights = class_weights(train_data.labels, config.class_weighting)
    sample_weights = (np.array([weights[i] for i in range(len(EMOTIONS))], np.float32)[train_data.labels]
                      if weights is not None else None)
    targets, teacher_sha = distillation_targets(train_data, config, input_size, cache=ckpt_dir / "targets.npz")
    train_ds, steps = training_stream(train_data, config, initial_epoch, input_size, targets, sample_weights)
    val_ds = evaluation_stream(val_data, input_size) if val_data is not None else None
    swa_from = config.epochs - config.swa_epochs if config.swa_epochs else None

    epoch_times: list[float] = []

    class _Progress(keras.callbacks.Callback):
        cancelled = paused = False
        epoch_started = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_started = time.perf_counter()
            self.model.optimizer.learning_rate.assign(learning_rate_at(epoch, config))
            seed_dropout(self.model, config.seed, epoch)

        def on_epoch_end(self, epoch, logs=None):
            nonlocal compute_s
            epoch_s = time.perf_counter() - self.epoch_started
            epoch_times.append(epoch_s)
            compute_s += epoch_s
            row = {"epoch": epoch + 1, "lr": learning_rate_at(epoch, config), "epoch_s": round(epoch_s, 1),
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
            elif epoch + 1 < config.epochs and self._out_of_budget(
                    epoch, next_epoch_estimate(epoch_times, [row["epoch_s"] for row in history[:-len(epoch_times)]])):
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


def _flag(text: str) -> bool:
    """A yes/no option; `auto` means yes where the CPU computes bf16 natively (mixed precision)."""
    if text.lower() == "auto":
        return has_native_bf16()
    return text.lower() in ("1", "true", "yes")


def parse_config(argv: list[str] | None = None) -> TrainingConfig:
    """The command line of `python -m ml.engine.training`: one --option per TrainingConfig field."""
    parser = argparse.ArgumentParser(description="Train an Emo7ion emotion CNN (same code as manage.py train_model).")
    parser.add_argument("train_data")
    parser.add_argument("output_dir")
    for f in TrainingConfig.__dataclass_fields__.values():
        if f.name in ("train_data", "output_dir"):
            continue
        kind = {"int": int, "float": float, "bool": _flag,
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
