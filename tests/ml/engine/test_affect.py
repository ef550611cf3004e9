"""Valence and arousal derived from the seven expression probabilities (Russell's circumplex)."""
from __future__ import annotations

import numpy as np
import pytest

from ml.engine.affect import CIRCUMPLEX_DEGREES, circumplex_coordinates, valence_arousal
from ml.engine.labels import EMOTIONS


def _pure(label: str) -> np.ndarray:
    return np.eye(len(EMOTIONS))[EMOTIONS.index(label)]


def test_pure_happy_is_positive_and_pure_sad_negative():
    assert valence_arousal(_pure("happy"))[0] > 0.9
    assert valence_arousal(_pure("sad"))[0] < -0.8
    for negative in ("angry", "disgust", "fear", "sad"):
        assert valence_arousal(_pure(negative))[0] < 0, negative


def test_arousal_orders_the_expressions_as_the_circumplex_does():
    arousal = {e: valence_arousal(_pure(e))[1] for e in EMOTIONS}
    assert arousal["surprise"] > arousal["happy"] > 0 > arousal["sad"]
    assert arousal["angry"] > 0.9 and arousal["fear"] > 0.8
    assert valence_arousal(_pure("neutral")).tolist() == [0.0, 0.0]


def test_the_means_are_probability_weighted():
    probs = 0.7 * _pure("happy") + 0.3 * _pure("neutral")
    assert valence_arousal(probs) == pytest.approx(0.7 * valence_arousal(_pure("happy")))
    batch = valence_arousal(np.stack([_pure("happy"), _pure("sad"), probs * 2]))   # rows are normalised
    assert batch.shape == (3, 2) and batch[2] == pytest.approx(valence_arousal(probs))
    assert valence_arousal(np.zeros(7)).tolist() == [0.0, 0.0]


def test_every_expression_has_a_place_on_the_unit_circle_or_the_centre():
    coordinates = circumplex_coordinates()
    radii = np.linalg.norm(coordinates, axis=1)
    assert set(CIRCUMPLEX_DEGREES) | {"neutral"} == set(EMOTIONS)
    assert radii[EMOTIONS.index("neutral")] == 0.0 and np.allclose(np.delete(radii, EMOTIONS.index("neutral")), 1.0)
    with pytest.raises(ValueError, match="contempt"):
        circumplex_coordinates(["contempt"])
