"""Valence and arousal, derived from the seven expression probabilities. Derived, not measured.

Nothing here observes valence (pleasant-unpleasant) or arousal (activated-calm): the classifier
reads seven expression categories, and this module places each category on Russell's circumplex and
takes the probability-weighted mean of the places. A face the model reads as 70% happy and 30%
neutral gets 0.7 x happy's place + 0.3 x neutral's. The numbers are a summary of the expression
probabilities on two axes, as uncertain as those probabilities and no more a person's inner state
than an expression is.

Where each expression sits: Russell (1980), "A circumplex model of affect", Journal of Personality
and Social Psychology 39(6), 1161-1178. Russell places affect words on a circle around the
pleasure-displeasure (horizontal) and arousal-sleepiness (vertical) axes, with reference directions
pleasure 0 deg, excitement 45, arousal 90, distress 135, displeasure 180, depression 225, sleepiness
270 and relaxation 315 (the paper's abstract). Each expression takes the angle of the word for it
among Russell's 28 scaled adjectives, rounded to 5 degrees (the scalings in the paper differ by
more than that): happy 10 ("happy", just above pleasure), surprise 70 ("astonished"), angry 100
("angry"), fear 115 ("afraid"), sad 210 ("sad"). Two are this project's choices, not Russell's:
- disgust is not among the 28 words; it sits at 135, Russell's "distress" direction, between
  "annoyed" and "frustrated" (unpleasant, moderately activated);
- neutral is no affect word at all; it sits at the centre (0, 0), so a neutral face pulls the
  crowd's mean towards "neither" rather than in any direction.
The coordinates are (cos angle, sin angle): valence and arousal each run from -1 to 1.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .labels import EMOTIONS

CIRCUMPLEX_DEGREES = {"angry": 100.0, "disgust": 135.0, "fear": 115.0, "happy": 10.0, "sad": 210.0,
                      "surprise": 70.0}
# Expressions at the centre of the circle rather than on it.
CENTRE = ("neutral",)
SOURCE = ("Russell, J. A. (1980). A circumplex model of affect. Journal of Personality and Social "
          "Psychology, 39(6), 1161-1178.")


def circumplex_coordinates(labels: Sequence[str] = EMOTIONS) -> np.ndarray:
    """(len(labels), 2): each expression's (valence, arousal) in the order of `labels`."""
    rows = []
    for label in labels:
        if label in CENTRE:
            rows.append((0.0, 0.0))
        elif label in CIRCUMPLEX_DEGREES:
            angle = math.radians(CIRCUMPLEX_DEGREES[label])
            rows.append((math.cos(angle), math.sin(angle)))
        else:
            raise ValueError(f"No circumplex place for the expression {label!r}")
    return np.asarray(rows, np.float64)


def valence_arousal(probabilities, labels: Sequence[str] = EMOTIONS) -> np.ndarray:
    """(N, 2) valence and arousal of each row of expression probabilities ((N, len(labels)), or one
    row of len(labels) giving (2,)): the probability-weighted mean of the expressions' places. Rows
    are normalised first, so probabilities that do not sum exactly to 1 (rounded exports) do not
    shrink the result."""
    probs = np.asarray(probabilities, np.float64)
    single = probs.ndim == 1
    probs = np.atleast_2d(probs)
    totals = probs.sum(axis=1, keepdims=True)
    weights = np.divide(probs, totals, out=np.zeros_like(probs), where=totals > 0)
    result = weights @ circumplex_coordinates(labels)
    return result[0] if single else result
