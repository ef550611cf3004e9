"""Training-time input streams: stateless augmentation of grey faces and the batches of each epoch.

Every draw is a pure function of (seed, epoch, step), so a training run cut into pieces and resumed
sees exactly the batches, crops and erasures an uninterrupted run would (see training.py).
"""
from __future__ import annotations

import math

import numpy as np

from .datasets import FaceDataset
from .labels import EMOTIONS


# Augmentation strengths: (max rotation in degrees, extra shift as a fraction of the face, max crop zoom).
AUGMENTATION_LEVELS = {"light": (6.0, 0.04, 1.05), "strong": (10.0, 0.10, 1.10)}


def _stateless_seed(*parts):
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


def training_stream(data: FaceDataset, config, first_epoch: int, out_size: int,
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
