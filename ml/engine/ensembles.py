"""Ensembles: several models' calibrated probabilities averaged (the one place that does it).

An ensemble is too slow to serve (each member costs a full classification), so it is used in two
ways: as the teacher that `training.distillation_targets` distils into one fast net, and as a
measurement, to see what a set of candidates is worth together before spending a distillation on it:

    python -m ml.engine.ensembles MODEL.keras,MODEL.keras[,...] ../shared/datasets/fer2013/val [--tta none]

prints each member's and the ensemble's accuracy, balanced accuracy, fear recall, macro-F1 and ECE.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .labels import EMOTIONS


def member_paths(spec: str) -> list[str]:
    """`a.keras,b.keras` -> the member paths (blank entries ignored)."""
    return [p.strip() for p in (spec or "").split(",") if p.strip()]


def load_members(paths: list[str], *, tta: str, face_size: int):
    """One calibrated classifier per path, each checked to read `face_size` px faces into the seven
    FER2013 emotions (members that disagree on what they classify cannot be averaged)."""
    from .classifier import EmotionClassifier
    from .errors import ModelFileError

    if not paths:
        raise ModelFileError("An ensemble needs at least one model")
    members = []
    for path in paths:
        member = EmotionClassifier(path, tta=tta)
        if member.input_size != face_size or member.labels != list(EMOTIONS):
            raise ModelFileError(f"The model {Path(path).name} does not classify {face_size} px faces into "
                                 "the seven FER2013 emotions")
        members.append(member)
    return members


def member_probabilities(members, images: np.ndarray, batch_size: int = 256) -> list[np.ndarray]:
    return [member.predict_proba(images, batch_size=batch_size) for member in members]


def ensemble_probabilities(members, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """The mean of the members' calibrated probabilities on `images`."""
    return np.mean(member_probabilities(members, images, batch_size), axis=0)


def _summary(labels: np.ndarray, probs: np.ndarray) -> dict:
    from .evaluation import evaluate_probabilities
    metrics = evaluate_probabilities(labels, probs)
    return {"accuracy": round(metrics["accuracy"], 4), "balanced_accuracy": round(metrics["balanced_accuracy"], 4),
            "fear_recall": round(metrics["per_class"]["fear"]["recall"], 4),
            "macro_f1": round(metrics["macro_f1"], 4), "ece": round(metrics["ece"], 4)}


def measure(paths: list[str], data_path: str, *, tta: str = "none", batch_size: int = 256) -> dict:
    """Each member's and the ensemble's metrics on the labelled faces of `data_path`."""
    from .datasets import FACE_SIZE, read_dataset

    data = read_dataset(data_path)
    data = data.split_if_present("val")  # as calibration reads it
    data = data.subset(data.labels >= 0)
    members = load_members(paths, tta=tta, face_size=FACE_SIZE)
    probs = member_probabilities(members, data.images, batch_size)
    return {"data": str(data_path), "faces": len(data), "tta": tta,
            "members": {Path(p).name: _summary(data.labels, pr) for p, pr in zip(paths, probs)},
            "ensemble": _summary(data.labels, np.mean(probs, axis=0))}


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="What several models are worth together: each member's and "
                                                 "the mean of their calibrated probabilities' metrics.")
    parser.add_argument("models", help="comma-separated .keras files (their .json metadata beside each)")
    parser.add_argument("data", help="a labelled class-folder tree")
    parser.add_argument("--tta", choices=("none", "flip", "crops"), default="none")
    args = parser.parse_args(argv)
    print(json.dumps(measure(member_paths(args.models), args.data, tta=args.tta), indent=1))


if __name__ == "__main__":
    main()
