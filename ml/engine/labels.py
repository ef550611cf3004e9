"""The seven FER2013 emotions, in FER2013 order, and the synonyms datasets use for them."""

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
