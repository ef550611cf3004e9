"""CNN architectures for grey faces, as a registry of builder functions.

Every builder takes the input side in pixels and an L2 weight decay and returns an uncompiled
Keras model whose input is uint8-range grey faces (it rescales itself) and whose output is the
softmax over EMOTIONS. The input side is what the model sees: a model trained on 40 px crops of
48 px faces has input side 40, and its metadata's `crop` section says how inference crops.
"""
from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from .labels import EMOTIONS

Builder = Callable[[int, float], keras.Model]
ARCHITECTURES: dict[str, Builder] = {}


def architecture(name: str):
    """Register a builder under `name` (the value stored as the model's `architecture`)."""
    def register(builder: Builder) -> Builder:
        ARCHITECTURES[name] = builder
        return builder
    return register


def _conv_bn_relu(x, filters: int, weight_decay: float):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False,
                      kernel_initializer="he_normal",
                      kernel_regularizer=keras.regularizers.l2(weight_decay) if weight_decay else None)(x)
    x = layers.BatchNormalization()(x)
    return layers.Activation("relu")(x)


def _classifier_head(x, dense: int, dropout: float):
    x = layers.GlobalAveragePooling2D()(x)
    if dense:
        x = layers.Dense(dense, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.Activation("relu")(x)
    x = layers.Dropout(dropout)(x)
    # Softmax in float32 so bf16 inference keeps stable probabilities.
    return layers.Dense(len(EMOTIONS), activation="softmax", dtype="float32", name="emotion")(x)


def vgg_stack(name: str, filters: tuple[int, ...], convs: int, dense: int, dropout: float,
              input_size: int, weight_decay: float, stage_dropout: bool = True) -> keras.Model:
    """Conv-BN-ReLU blocks, max-pool between stages, global average pooling, one dense layer."""
    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    for stage, f in enumerate(filters):
        for _ in range(convs):
            x = _conv_bn_relu(x, f, weight_decay)
        x = layers.MaxPooling2D()(x)
        if stage_dropout and stage >= 1 and dropout:
            x = layers.Dropout(min(0.1 * stage, 0.3))(x)
    return keras.Model(inputs, _classifier_head(x, dense, dropout), name=f"emo7ion_{name}")


@architecture("tiny")
def tiny(input_size: int = 48, weight_decay: float = 0.0) -> keras.Model:
    """For tests: trains in seconds."""
    return vgg_stack("tiny", (8, 16), 1, 32, 0.2, input_size, weight_decay)


@architecture("small")
def small(input_size: int = 48, weight_decay: float = 0.0) -> keras.Model:
    return vgg_stack("small", (32, 64, 128), 2, 128, 0.4, input_size, weight_decay)


@architecture("vgg-s")
def vgg_s(input_size: int = 48, weight_decay: float = 0.0) -> keras.Model:
    """v1's network: ~120 M MACs at 48 px, ~83 M at 40 px."""
    return vgg_stack("vgg-s", (32, 64, 128, 256), 2, 256, 0.5, input_size, weight_decay)


@architecture("vgg")
def vgg(input_size: int = 48, weight_decay: float = 0.0) -> keras.Model:
    return vgg_stack("vgg", (48, 96, 192, 384), 2, 256, 0.5, input_size, weight_decay)


@architecture("vgg-m")
def vgg_m(input_size: int = 40, weight_decay: float = 0.0) -> keras.Model:
    """The trunk of Khaireddin & Chen 2021 (arXiv 2105.03588): 64/128/256/512 x 2 conv-BN-ReLU,
    meant for 40 px crops (~4.7 M parameters, ~325 M MACs at 40 px)."""
    return vgg_stack("vgg-m", (64, 128, 256, 512), 2, 512, 0.5, input_size, weight_decay)


def _residual_block(x, filters: int, stride: int, weight_decay: float):
    """A basic residual block (He et al. 2016): two 3x3 conv-BN, identity or 1x1 projection shortcut."""
    regularizer = keras.regularizers.l2(weight_decay) if weight_decay else None
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False, kernel_initializer="he_normal",
                                 kernel_regularizer=regularizer)(x)
        shortcut = layers.BatchNormalization()(shortcut)
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, kernel_initializer="he_normal",
                      kernel_regularizer=regularizer)(x)
    y = layers.BatchNormalization()(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal",
                      kernel_regularizer=regularizer)(y)
    # Zero-initialised last BatchNorm scale: each block starts as the identity (Goyal et al. 2017),
    # which lets the deeper net train at the VGG recipe's learning rate.
    y = layers.BatchNormalization(gamma_initializer="zeros")(y)
    return layers.Activation("relu")(layers.Add()([shortcut, y]))


@architecture("resnet-m")
def resnet_m(input_size: int = 44, weight_decay: float = 0.0) -> keras.Model:
    """A residual net for 44 px crops, meant as a teacher that errs differently from the VGG ones:
    a 32/64 conv stem, max-pool, then three stages of two basic blocks (64, 128, 256 filters; the
    second and third start with stride 2). ~2.8 M parameters, ~245 M MACs at 44 px."""
    inputs = keras.Input((input_size, input_size, 1), name="face")
    x = layers.Rescaling(1.0 / 255.0)(inputs)
    x = _conv_bn_relu(x, 32, weight_decay)
    x = _conv_bn_relu(x, 64, weight_decay)
    x = layers.MaxPooling2D()(x)
    for stage, filters in enumerate((64, 128, 256)):
        x = _residual_block(x, filters, 1 if stage == 0 else 2, weight_decay)
        x = _residual_block(x, filters, 1, weight_decay)
    return keras.Model(inputs, _classifier_head(x, 0, 0.4), name="emo7ion_resnet-m")


@architecture("tuned")
def tuned(input_size: int = 48, weight_decay: float = 0.0, *, width: float = 1.0, dense_units: int = 256,
          dropout: float = 0.5) -> keras.Model:
    """The family the hyper-parameter search explores: vgg-s's stages scaled by `width`."""
    filters = tuple(max(4, int(f * width)) for f in (32, 64, 128, 256))
    return vgg_stack("tuned", filters, 2, int(dense_units), float(dropout), input_size, weight_decay)


def build_model(preset: str = "vgg", input_size: int = 48, weight_decay: float = 0.0, **options) -> keras.Model:
    """Build the registered architecture `preset` for `input_size` px faces; `options` go to builders
    that take them (`tuned`)."""
    if preset not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture preset {preset!r}; choose one of {', '.join(ARCHITECTURES)}")
    try:
        return ARCHITECTURES[preset](input_size, weight_decay, **options)
    except TypeError as exc:
        raise ValueError(f"Architecture {preset!r} does not take the options {sorted(options)}") from exc


# Kept for callers that list the choices (forms, command-line help).
PRESETS = tuple(ARCHITECTURES)
