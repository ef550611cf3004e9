"""The seven FER2013 emotions, in FER2013 order, the synonyms datasets use for them, and the
mapping of dataset labels onto a model's own labels."""
from __future__ import annotations

import numpy as np

EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# Names other datasets use for the same classes (folder names, manifest labels, JAFFE codes).
SYNONYMS: dict[str, str] = {
    "anger": "angry", "an": "angry", "mad": "angry",
    "disgusted": "disgust", "di": "disgust", "contempt_disgust": "disgust",
    "fearful": "fear", "afraid": "fear", "scared": "fear", "fe": "fear",
    "happiness": "happy", "joy": "happy", "ha": "happy", "smile": "happy",
    "sadness": "sad", "unhappy": "sad", "sa": "sad",
    "surprised": "surprise", "su": "surprise",
    "calm": "neutral", "none": "neutral", "ne": "neutral",
}


def normalise_label(name: str) -> str | None:
    """Map a dataset's label to one of EMOTIONS, or None when the model has no such class."""
    key = str(name).strip().lower()
    if key in EMOTIONS:
        return key
    if key.isdigit() and int(key) < len(EMOTIONS):  # FER2013 CSV uses 0..6
        return EMOTIONS[int(key)]
    return SYNONYMS.get(key)


def to_model_labels(labels: np.ndarray, model_labels: list[str]) -> tuple[np.ndarray, dict[str, int]]:
    """Dataset labels (indices in EMOTIONS order, -1 = unlabelled) as indices into the model's own
    labels; -1 where the image has no label or a label the model does not know (counted by label,
    so it can be reported)."""
    labels = np.asarray(labels)
    mapping = {i: (model_labels.index(label) if label in model_labels else -1) for i, label in enumerate(EMOTIONS)}
    y = np.asarray([mapping.get(int(v), -1) if v >= 0 else -1 for v in labels], dtype=np.int64)
    unknown: dict[str, int] = {}
    for i, label in enumerate(EMOTIONS):
        if mapping[i] < 0 and (labels == i).any():
            unknown[label] = int((labels == i).sum())
    return y, unknown
