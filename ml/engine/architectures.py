"""CNN presets for 48x48 grey faces. The model rescales its own input (uint8 0-255 in)."""
from __future__ import annotations

import keras
from keras import layers

from .labels import EMOTIONS

# preset -> (filters per stage, convs per stage, dense units, dropout)
PRESETS: dict[str, tuple[tuple[int, ...], int, int, float]] = {
    "tiny": ((8, 16), 1, 32, 0.2),               # for tests: trains in seconds
    "small": ((32, 64, 128), 2, 128, 0.4),
    "vgg-s": ((32, 64, 128, 256), 2, 256, 0.5),  # the default model: ~120 M MACs, fits 2 CPU cores
    "vgg": ((48, 96, 192, 384), 2, 256, 0.5),
}


def _conv_bn_relu(x, filters: int, weight_decay: float):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer="he_normal",
                      kernel_regularizer=keras.regularizers.l2(weight_decay) if weight_decay else None)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def build_model(preset: str = "vgg", input_size: int = 48, weight_decay: float = 0.0) -> keras.Model:
    """A VGG-style stack: conv-BN-ReLU pairs, max-pool between stages, global pooling, one dense layer."""
    if preset not in PRESETS:
        raise ValueError(f"Unknown architecture preset {preset!r}; choose one of {', '.join(PRESETS)}")
    filters, convs, dense, dropout = PRESETS[preset]
    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for stage, f in enumerate(filters):
        for _ in range(convs):
            x = _conv_bn_relu(x, f, weight_decay)
        x = layers.MaxPooling2D()(x)
        if stage >= 1 and dropout:
            x = layers.Dropout(min(0.1 * stage, 0.3))(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(dense, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    # Softmax in float32 so bf16 training keeps stable probabilities.
    outputs = layers.Dense(len(EMOTIONS), activation="softmax", dtype="float32", name="emotion")(x)
    return keras.Model(inputs, outputs, name=f"emo7ion_{preset}")
