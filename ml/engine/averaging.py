"""Run-state helpers of training: per-epoch dropout seeds, weight averaging (SWA) and BatchNorm
recalibration. Each keeps what it needs in the checkpoint, so they survive a pause."""
from __future__ import annotations

from itertools import islice
from pathlib import Path

import numpy as np


def seed_dropout(model, seed: int, epoch: int) -> None:
    """Reset every layer's RNG (dropout) to a state fixed by (seed, epoch).

    Keras does not save seed-generator states in a .keras file; setting them per epoch makes a resumed
    run draw the same dropout masks as an uninterrupted one.
    """
    import keras
    for i, layer in enumerate(model._flatten_layers()):
        for generator in getattr(layer, "_seed_generators", []):
            state = generator.state
            state.assign(keras.ops.cast(keras.ops.array([seed * 7919 + i, epoch]), state.dtype))


class WeightAverage:
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
    # A tf.data pipeline (the CPU path) or any iterable of (faces, ...) tuples (the fast lane).
    taken = batches.take(max_batches) if hasattr(batches, "take") else islice(batches, max_batches)
    for x, *_ in taken:
        for layer in norms:
            layer.momentum = seen / (seen + 1)  # cumulative mean: the first batch replaces the old values
        model(x, training=True)
        seen += 1
    for layer, momentum in zip(norms, saved_momentum):
        layer.momentum = momentum
    return seen
