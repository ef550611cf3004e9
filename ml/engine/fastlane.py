"""The fast lane (issue 11): the training recipe on a lent accelerator, in backend-agnostic Keras.

The CPU path (`ml.engine.training`) stays the reproducible recipe; this module is for the rare
session that is lent an accelerator for a few minutes, which has JAX and PyTorch but no TensorFlow.
Keras 3 runs the same architectures (`architectures.py`) there on JAX, so everything here is written
in `keras.ops`: the augmentation is a layer inside the training model, on the accelerator, and a
teacher is distilled *online*: it reads the same augmented view as the student at every step
(consistent teaching; Beyer et al. 2022, arXiv 2106.05237), which offline soft targets cannot do.
What it shares with the CPU path has one owner there: the learning-rate schedule, class weights,
weight averaging and BatchNorm recalibration.

    # here: the training faces as one file that travels (lossless WebP, about 48 MB for FER2013)
    python -m ml.engine.fastlane pack ../shared/datasets/fer2013/train var/fastlane/train.npz
    # there, with KERAS_BACKEND=jax: a teacher, then a fast student distilled from it
    python -m ml.engine.fastlane train var/fastlane/train.npz $OUT/teacher --preset vgg-m --crop-size 40 \\
        --epochs 300 --max-minutes 4
    python -m ml.engine.fastlane train var/fastlane/train.npz $OUT/student --preset vgg-s --crop-size 40 \\
        --epochs 300 --max-minutes 4 --teacher $OUT/teacher/model.keras
    # here: the returned float16 weights become a model file with metadata; then calibrate, register, judge
    python -m ml.engine.fastlane import $RUN/student ml/checkpoints/fer2013-fast-v6/model.keras --version fer2013-fast-v6

`--max-minutes` fits the epoch count to the time the lease leaves: two warm-up epochs are timed (the
first one compiles), and the cosine schedule is then laid out over as many epochs as fit (never more
than `--epochs`), so a budgeted run is still one complete schedule. The metadata of an imported model says it came from
the fast lane, on which backend and device, in `training.fast_lane`.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .augmentation import AUGMENTATION_LEVELS
from .averaging import WeightAverage, recalibrate_batch_norm
from .datasets import FACE_SIZE, read_dataset
from .ensembles import member_paths
from .labels import EMOTIONS


# --- the faces, packed to travel ---------------------------------------------------------------------
def pack(data_path: str, out_path: str, limit_per_class: int | None = None) -> dict:
    """The labelled faces of a dataset (its `train` split where it has one) as one .npz: each face
    losslessly WebP-encoded (the pixels come back exactly), the labels, and the content hash."""
    import cv2

    data = read_dataset(data_path, limit_per_class=limit_per_class)
    data = data.split_if_present("train")
    data = data.subset(data.labels >= 0)
    encoded = [cv2.imencode(".webp", face, [cv2.IMWRITE_WEBP_QUALITY, 101])[1].tobytes() for face in data.images]
    offsets = np.cumsum([0] + [len(e) for e in encoded]).astype(np.int64)
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    np.savez(out_path, blob=np.frombuffer(b"".join(encoded), np.uint8), offsets=offsets,
             labels=data.labels.astype(np.int8), content_hash=np.array(data.content_hash),
             source=np.array(Path(data_path).name))
    return {"faces": len(data), "bytes": Path(out_path).stat().st_size, "content_hash": data.content_hash}


def unpack(path: str) -> tuple[np.ndarray, np.ndarray, str, str]:
    """(faces (N, 48, 48) uint8, labels, content hash, source name) from a file `pack` wrote."""
    import cv2
    with np.load(path) as packed:
        blob, offsets = packed["blob"], packed["offsets"]
        faces = np.stack([cv2.imdecode(blob[a:b], cv2.IMREAD_GRAYSCALE) for a, b in zip(offsets[:-1], offsets[1:])])
        return faces, packed["labels"].astype(np.int64), str(packed["content_hash"]), str(packed["source"])


# --- augmentation on the accelerator ------------------------------------------------------------------
def _face_views_layer():
    import keras
    from keras import ops

    class FaceViews(keras.layers.Layer):
        """Random views of 48 px faces, as `augmentation.augment_batch` draws them for a crop of `crop`
        px (rotation, zoom, shift, flip in one affine resampling; contrast and brightness; random
        erasing within the crop), but of the whole face, so that models with other crops (a teacher)
        read the same view. Identity when not training."""

        def __init__(self, crop: int, level: str = "strong", seed: int = 0, **kwargs):
            super().__init__(**kwargs)
            self.crop, self.level = crop, level
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, faces, training=False):
            if not training or self.level == "none":
                return faces
            max_rot, extra_shift, max_zoom = AUGMENTATION_LEVELS[self.level]
            n, side = ops.shape(faces)[0], faces.shape[1]

            def draw(low, high):
                return keras.random.uniform((n,), low, high, seed=self.seed_generator)
            angle = draw(-max_rot, max_rot) * (math.pi / 180.0)
            zoom = draw(1.0, max_zoom)
            play = ops.maximum(0.0, (side - self.crop * zoom) / 2.0) + extra_shift * side
            tx, ty = draw(-1.0, 1.0) * play, draw(-1.0, 1.0) * play
            flip = ops.where(draw(0.0, 1.0) < 0.5, -1.0, 1.0)
            cos, sin = ops.cos(angle) * zoom, ops.sin(angle) * zoom
            centre = (side - 1) / 2.0
            a0, a1, b0, b1 = cos * flip, -sin, sin * flip, cos
            zeros = ops.zeros_like(a0)
            transform = ops.stack([a0, a1, centre + tx - (a0 + a1) * centre,
                                   b0, b1, centre + ty - (b0 + b1) * centre, zeros, zeros], axis=1)
            out = ops.image.affine_transform(faces, transform, interpolation="bilinear", fill_mode="reflect",
                                             data_format="channels_last")
            mean = ops.mean(out, axis=(1, 2, 3), keepdims=True)
            contrast = ops.reshape(draw(0.7, 1.3), (-1, 1, 1, 1))
            brightness = ops.reshape(draw(0.8, 1.2), (-1, 1, 1, 1))
            out = ops.clip((out - mean) * contrast + mean * brightness, 0.0, 255.0)
            if self.level == "strong":
                out = self._erase(out, n, side)
            return out

        def _erase(self, faces, n, side):
            """Blank one square (up to 40% of the crop's side) inside the crop, in half the faces."""
            offset = (side - self.crop) // 2
            half = ops.cast(keras.random.randint((n,), 2, int(self.crop * 0.2) + 1, seed=self.seed_generator), "int32")
            cy = keras.random.randint((n,), offset, offset + self.crop, seed=self.seed_generator)
            cx = keras.random.randint((n,), offset, offset + self.crop, seed=self.seed_generator)
            keep = keras.random.uniform((n,), seed=self.seed_generator) < 0.5
            grid = ops.arange(side)[None, :]
            ys = (grid >= (cy - half)[:, None]) & (grid < (cy + half)[:, None])
            xs = (grid >= (cx - half)[:, None]) & (grid < (cx + half)[:, None])
            box = ys[:, :, None] & xs[:, None, :] & keep[:, None, None]
            fill = ops.mean(faces, axis=(1, 2, 3))[:, None, None, None]
            return ops.where(box[..., None], fill, faces)

        def get_config(self):
            return {**super().get_config(), "crop": self.crop, "level": self.level}

    return FaceViews


def _centre_crop_layer(side: int):
    import keras
    cut = (FACE_SIZE - side) // 2
    return keras.layers.Cropping2D(((cut, FACE_SIZE - side - cut), (cut, FACE_SIZE - side - cut)))


# --- training ---------------------------------------------------------------------------------------
@dataclass
class FastLaneConfig:
    data: str
    output_dir: str
    preset: str = "vgg-s"
    crop_size: int = 40
    epochs: int = 300
    batch_size: int = 256
    learning_rate: float = 0.08
    warmup_epochs: int = 3
    weight_decay: float = 2.5e-4
    label_smoothing: float = 0.1
    augmentation: str = "strong"
    class_weighting: str = "sqrt"
    swa_epochs: int = 15
    seed: int = 7
    teacher: str = ""          # trained .keras model(s), comma-separated, distilled online
    distill_weight: float = 0.7
    max_minutes: float = 0     # lay the schedule over as many epochs as fit in this time; 0 = `epochs`
    mixed_precision: bool = False


@dataclass
class FastLaneResult:
    output_dir: str
    epochs: int
    history: list[dict] = field(default_factory=list)
    wall_time_s: float = 0.0


def _distillation_loss(weight: float, smoothing: float):
    from keras import ops
    classes = len(EMOTIONS)

    def loss(y_true, y_pred):
        student, teacher = y_pred[:, :classes], y_pred[:, classes:]
        target = weight * teacher + (1.0 - weight) * (y_true * (1.0 - smoothing) + smoothing / classes)
        return -ops.sum(target * ops.log(ops.clip(student, 1e-7, 1.0)), axis=-1)
    return loss


def student_accuracy(y_true, y_pred):
    from keras import ops
    return ops.cast(ops.argmax(y_true, axis=-1) == ops.argmax(y_pred[:, :len(EMOTIONS)], axis=-1), "float32")


def _training_model(student, config: FastLaneConfig):
    """Faces in; the student's probabilities on its crop of an augmented view out, followed by the
    teachers' mean probabilities on their crops of the same view when there are teachers."""
    import keras
    faces = keras.Input((FACE_SIZE, FACE_SIZE, 1), name="faces")
    view = _face_views_layer()(config.crop_size, config.augmentation, config.seed, name="views", dtype="float32")(faces)
    student_probs = student(_centre_crop_layer(config.crop_size)(view))
    # Raw probabilities: a teacher trained earlier in the same lease has no calibration yet.
    teachers = [keras.models.load_model(path, compile=False) for path in member_paths(config.teacher)]
    if not teachers:
        return keras.Model(faces, student_probs), 0
    read = []
    for i, loaded in enumerate(teachers):
        # Renamed: a teacher of the student's own architecture would carry the student's name.
        teacher = keras.Model(loaded.inputs[0], loaded.outputs[0], name=f"teacher_{i}")
        teacher.trainable = False
        teacher_probs = teacher(_centre_crop_layer(teacher.input_shape[1])(view), training=False)
        read.append(keras.layers.Activation("linear", dtype="float32", name=f"teacher_{i}_probabilities")(teacher_probs))
    mean = read[0] if len(read) == 1 else keras.layers.Average()(read)
    return keras.Model(faces, keras.layers.Concatenate(dtype="float32")([student_probs, mean])), len(teachers)


PROBE_EPOCHS = 2   # timed before a budgeted run's length is fixed; they must be warm-up epochs
ENDING_S = 30      # left in a budget for weight averaging, BatchNorm statistics and saving


def train(config: FastLaneConfig) -> FastLaneResult:
    """Train `config.preset` on the packed faces; write `model.keras`, float16 `weights.npz` and
    `run.json` (config, history, backend, device, time) to `config.output_dir`."""
    import keras
    if config.max_minutes and config.warmup_epochs < PROBE_EPOCHS:
        raise ValueError(f"A budgeted run times its first {PROBE_EPOCHS} epochs before it knows its length, "
                         f"so they must be warm-up epochs: give --warmup-epochs {PROBE_EPOCHS} or more")

    from .architectures import build_model
    from .training import class_weights, learning_rate_at

    started = time.perf_counter()
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy("mixed_bfloat16" if config.mixed_precision else "float32")
    faces, labels, content_hash, source = unpack(config.data)
    x = faces[..., None].astype(np.float32)
    y = np.eye(len(EMOTIONS), dtype=np.float32)[labels]
    weights = class_weights(labels, config.class_weighting)
    sample_weight = np.array([weights[int(i)] for i in labels], np.float32) if weights else None

    student = build_model(config.preset, config.crop_size, config.weight_decay)
    model, n_teachers = _training_model(student, config)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=config.learning_rate, momentum=0.9, nesterov=True),
                  loss=(_distillation_loss(config.distill_weight, config.label_smoothing) if n_teachers else
                        keras.losses.CategoricalCrossentropy(label_smoothing=config.label_smoothing)),
                  metrics=[student_accuracy])
    history: list[dict] = []
    average = WeightAverage(out / "swa.npz")
    plan = {"epochs": config.epochs}  # the schedule's length; fixed after the first epoch when budgeted

    class _Schedule(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.began = time.perf_counter()
            self.model.optimizer.learning_rate.assign(learning_rate_at(epoch, replace(config, epochs=plan["epochs"])))

        def on_epoch_end(self, epoch, logs=None):
            history.append({"epoch": epoch + 1, "epoch_s": round(time.perf_counter() - self.began, 2),
                            "lr": learning_rate_at(epoch, replace(config, epochs=plan["epochs"])),
                            **{k: float(v) for k, v in (logs or {}).items() if k != "learning_rate"}})
            print(json.dumps(history[-1]), flush=True)
            if epoch + 1 > plan["epochs"] - config.swa_epochs:
                average.add(student.get_weights())

    fit = dict(batch_size=config.batch_size, sample_weight=sample_weight, shuffle=True, verbose=0,
               callbacks=[_Schedule()])
    # With a budget, two warm-up epochs are timed first (the first one compiles), then the schedule is
    # laid over the epochs that fit; warm-up rates do not depend on the length, so nothing is redone.
    probe = min(PROBE_EPOCHS, config.epochs) if config.max_minutes else config.epochs
    model.fit(x, y, epochs=probe, **fit)
    if config.max_minutes:
        left = config.max_minutes * 60 - (time.perf_counter() - started) - ENDING_S
        plan["epochs"] = max(probe, min(config.epochs, probe + int(left // max(history[-1]["epoch_s"], 1e-3))))
    if plan["epochs"] > probe:
        model.fit(x, y, initial_epoch=probe, epochs=plan["epochs"], **fit)

    if config.swa_epochs and average.count:
        student.set_weights([m.astype(w.dtype) for m, w in zip(average.mean, student.get_weights())])
        views = keras.Sequential([_face_views_layer()(config.crop_size, config.augmentation, config.seed + 1, dtype="float32"),
                                  _centre_crop_layer(config.crop_size), student])
        order = np.random.default_rng(config.seed).permutation(len(x))
        recalibrate_batch_norm(views, ((x[order[i:i + config.batch_size]],)
                                       for i in range(0, len(x), config.batch_size)))
    student.save(out / "model.keras")
    np.savez(out / "weights.npz", **{f"w{i}": w.astype(np.float16) for i, w in enumerate(student.get_weights())})
    run = {"config": asdict(config), "epochs": plan["epochs"], "history": history, "n_train": len(x),
           "dataset_content_hash": content_hash, "dataset_name": source,
           "swa": {"epochs": average.count} if average.count else None,
           "teachers": [Path(path).name for path in member_paths(config.teacher)],
           "backend": keras.backend.backend(), "device": _device(),
           "wall_time_s": round(time.perf_counter() - started, 1)}
    (out / "run.json").write_text(json.dumps(run, indent=1))
    (out / "swa.npz").unlink(missing_ok=True)
    return FastLaneResult(str(out), plan["epochs"], history, run["wall_time_s"])


def _device() -> str:
    import keras
    if keras.backend.backend() == "jax":
        import jax
        return ", ".join(sorted({d.device_kind for d in jax.devices()}))
    import platform
    return f"cpu ({platform.processor() or platform.machine()})"


# --- back here --------------------------------------------------------------------------------------
def import_run(run_dir: str, model_path: str, *, version: str) -> Path:
    """Turn a fast-lane run's float16 weights into a model file with metadata, like the CPU path's,
    saying in `training.fast_lane` where it was trained. Returns the metadata path."""
    from .architectures import build_model
    from .classifier import write_metadata
    from .errors import ModelFileError

    run_dir = Path(run_dir)
    run = json.loads((run_dir / "run.json").read_text())
    config = run["config"]
    model = build_model(config["preset"], config["crop_size"], 0.0)
    with np.load(run_dir / "weights.npz") as saved:
        weights = [saved[f"w{i}"] for i in range(len(saved.files))]
    try:
        model.set_weights([w.astype(np.float32) for w in weights])
    except ValueError as exc:
        raise ModelFileError(f"{run_dir / 'weights.npz'} does not fit a {config['preset']!r} network at "
                             f"{config['crop_size']} px") from exc
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    model.save(model_path)
    return write_metadata(
        model_path, version=version, architecture=config["preset"], input_size=FACE_SIZE,
        crop={"size": config["crop_size"]} if config["crop_size"] != FACE_SIZE else None,
        training={"dataset_name": run["dataset_name"], "dataset_content_hash": run["dataset_content_hash"],
                  "n_train": run["n_train"], "n_val": 0, "config": config, "history": run["history"],
                  "swa": run["swa"], "stopped_early": False, "cancelled": False,
                  "fast_lane": {"backend": run["backend"], "device": run["device"], "epochs": run["epochs"],
                                "teachers": run["teachers"], "weights": "float16"},
                  "wall_time_s": run["wall_time_s"]},
        metrics={})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The training recipe on a lent accelerator (backend-agnostic Keras).")
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="the labelled faces of a dataset as one file that travels")
    packing.add_argument("data")
    packing.add_argument("out")
    packing.add_argument("--limit-per-class", type=int, default=None, help="a small set, for a dry run")
    training = commands.add_parser("train", help="train on packed faces (on the accelerator)")
    training.add_argument("data")
    training.add_argument("output_dir")
    defaults = FastLaneConfig("", "")
    for name in ("preset", "crop_size", "epochs", "batch_size", "learning_rate", "warmup_epochs", "weight_decay",
                 "label_smoothing", "augmentation", "class_weighting", "swa_epochs", "seed", "teacher",
                 "distill_weight", "max_minutes"):
        value = getattr(defaults, name)
        training.add_argument("--" + name.replace("_", "-"), type=type(value), default=value)
    training.add_argument("--mixed-precision", action="store_true")
    importing = commands.add_parser("import", help="a returned run as a model file with metadata (here)")
    importing.add_argument("run_dir")
    importing.add_argument("model_path")
    importing.add_argument("--version", required=True)
    args = vars(parser.parse_args(argv))
    command = args.pop("command")
    if command == "pack":
        print(json.dumps(pack(args["data"], args["out"], args["limit_per_class"])))
    elif command == "train":
        result = train(FastLaneConfig(**args))
        print(json.dumps({"output_dir": result.output_dir, "epochs": result.epochs, "wall_time_s": result.wall_time_s}))
    else:
        print(import_run(args["run_dir"], args["model_path"], version=args["version"]))


if __name__ == "__main__":
    main()
