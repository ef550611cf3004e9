"""The architecture registry: every builder gives a model the classifier and the trainer can use."""
from __future__ import annotations

import numpy as np
import pytest

from ml.engine.architectures import ARCHITECTURES, build_model
from ml.engine.labels import EMOTIONS


@pytest.mark.parametrize("preset", sorted(ARCHITECTURES))
@pytest.mark.parametrize("side", [40, 44, 48])
def test_each_architecture_maps_uint8_faces_of_its_side_to_probabilities(preset, side):
    model = build_model(preset, side)
    faces = np.random.default_rng(0).integers(0, 256, (3, side, side, 1)).astype("float32")
    probabilities = np.asarray(model(faces, training=False))
    assert probabilities.shape == (3, len(EMOTIONS))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert model.input_shape == (None, side, side, 1)


def test_the_residual_net_starts_with_every_block_the_identity_of_its_shortcut():
    """Zero-initialised last BatchNorm of each block: at initialisation a block passes its shortcut on
    unchanged (after the ReLU), which is what lets the deeper net train at the VGG recipe's rate."""
    import keras
    model = build_model("resnet-m", 44)
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 6  # three stages of two blocks
    faces = np.random.default_rng(1).integers(0, 256, (2, 44, 44, 1)).astype("float32")
    for add in adds:
        shortcut_tensor, residual_tensor = add.input
        probe = keras.Model(model.input, [shortcut_tensor, residual_tensor])
        _, residual = probe(faces, training=False)
        assert np.abs(np.asarray(residual)).max() == 0.0
    assert 2.5e6 < model.count_params() < 3.1e6


def test_an_unknown_architecture_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="resnet-m"):
        build_model("resnet-xl")
