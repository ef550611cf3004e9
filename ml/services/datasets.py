"""Datasets: import (validated by content) and delete."""
from __future__ import annotations

import base64
import zipfile
from pathlib import Path

import cv2
import numpy as np
from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.utils.text import get_valid_filename

from ml.engine.datasets import FaceDataset, read_dataset
from ml.engine.errors import DatasetError
from ml.engine.labels import EMOTIONS
from ml.models import Dataset
from ml.selectors import dataset_local_path

from .errors import DatasetImportError, JobRefused

SAMPLES_PER_CLASS = 8
UNLABELLED_SAMPLES = 32


def _detect_format(path: Path, data: FaceDataset) -> str:
    if not data.paths:
        return "fer_csv"
    if data.attributes:
        return "manifest"
    if path.is_file() and path.suffix.lower() == ".csv":
        return "manifest"
    if path.is_dir() and any(path.rglob("manifest.csv")):
        return "manifest"
    if path.is_file() and path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            if any(n.rsplit("/", 1)[-1].lower() == "manifest.csv" for n in zf.namelist()):
                return "manifest"
    return "class_folders"


def _png_b64(image: np.ndarray) -> str:
    ok, buf = cv2.imencode(".png", image)
    return base64.b64encode(buf.tobytes()).decode("ascii") if ok else ""


def _samples(data: FaceDataset) -> list[dict]:
    """A few faces per class (or random faces of an unlabelled set), chosen reproducibly."""
    rng = np.random.default_rng(0)
    picks: list[tuple[int, str]] = []
    if (data.labels >= 0).any():
        for i, label in enumerate(EMOTIONS):
            idx = np.flatnonzero(data.labels == i)
            for j in sorted(rng.choice(idx, size=min(SAMPLES_PER_CLASS, idx.size), replace=False).tolist()):
                picks.append((j, label))
    else:
        for j in sorted(rng.choice(len(data), size=min(UNLABELLED_SAMPLES, len(data)), replace=False).tolist()):
            picks.append((j, ""))
    out = []
    for j, label in picks:
        caption = label or " · ".join(values[j] for values in data.attributes.values())
        out.append({"label": label, "caption": caption, "png": _png_b64(data.images[j])})
    return out


def _dataset_summary(data: FaceDataset) -> dict:
    labelled = data.labels >= 0
    splits, counts = np.unique(data.splits, return_counts=True)
    return {
        "n_images": len(data),
        "labelled": bool(labelled.any()),
        "class_counts": {label: int((data.labels == i).sum()) for i, label in enumerate(EMOTIONS)},
        "split_counts": {str(s): int(c) for s, c in zip(splits, counts)},
        "attributes": {attr: {str(g): int(c) for g, c in zip(*np.unique(np.asarray(values, dtype=object).astype(str),
                                                                         return_counts=True))}
                       for attr, values in data.attributes.items()},
    }


def _validate_dataset(data: FaceDataset, *, kind: str, skip_invalid: bool) -> list[str]:
    """Problems that refuse the set (unless the importer asked to skip the offending files)."""
    problems = []
    if data.skipped_labels and not skip_invalid:
        shown = ", ".join(f"'{k}' ({v} image{'s' if v != 1 else ''})" for k, v in sorted(data.skipped_labels.items()))
        problems.append(f"unknown labels {shown}; the model knows {', '.join(EMOTIONS)} (and common synonyms "
                        "such as anger, happiness, sadness)")
    if data.unreadable and not skip_invalid:
        shown = ", ".join(data.unreadable[:5]) + (f" and {len(data.unreadable) - 5} more" if len(data.unreadable) > 5 else "")
        problems.append(f"{len(data.unreadable)} file{'s are' if len(data.unreadable) != 1 else ' is'} not "
                        f"{'images' if len(data.unreadable) != 1 else 'an image'} that can be decoded: {shown}")
    unlabelled = int((data.labels < 0).sum())
    if kind == Dataset.Kind.TRAINING and unlabelled:
        problems.append(f"a training set needs a label for every image, but {unlabelled} of {len(data)} have none "
                        "(import it with kind 'audit' instead)")
    if kind == Dataset.Kind.AUDIT and not data.attributes:
        problems.append("an audit set needs a manifest.csv with group attribute columns "
                        "(path,label,<attribute columns...>, e.g. path,label,gender,age_band)")
    return problems


def dataset_import(*, path_or_file, name: str, kind: str | None = None, created_by=None,
                   skip_invalid: bool = False) -> Dataset:
    """Validate a dataset by content and record it.

    `path_or_file` is a server-side path (imported in place: nothing is copied) or an uploaded file
    (a zip of class folders, a FER2013 CSV, or an audit zip with manifest.csv), which is stored in
    the default storage under `datasets/`. `kind` None means: "audit" when the set has group
    attributes, else "training". Importing the same content under the same name again returns the
    existing row. Raises DatasetImportError with a readable reason; nothing is kept then.
    """
    name = (name or "").strip()
    if not name:
        raise DatasetImportError("A dataset needs a name")
    if len(name) > 120:
        raise DatasetImportError("A dataset name may have at most 120 characters")
    if kind not in (None, "", *Dataset.Kind.values):
        raise DatasetImportError(f"Unknown kind {kind!r}: use training or audit")

    stored_name = ""
    if isinstance(path_or_file, (str, Path)):
        local = Path(path_or_file).expanduser().resolve()
        if not local.exists():
            raise DatasetImportError(f"{path_or_file} does not exist")
    else:
        upload = path_or_file if isinstance(path_or_file, File) else File(path_or_file)
        filename = get_valid_filename(Path(getattr(upload, "name", "") or "dataset").name) or "dataset"
        stored_name = default_storage.save(f"datasets/{filename}", upload)
        local = dataset_local_path(Dataset(file=stored_name, name=name))

    def discard_upload():
        if stored_name:
            default_storage.delete(stored_name)
            cached = Path(settings.EMO7ION_CACHE_DIR) / "datasets" / Path(stored_name).name
            if cached.exists() and cached != local:
                cached.unlink()

    try:
        data = read_dataset(local)
    except DatasetError as exc:
        discard_upload()
        raise DatasetImportError(str(exc)) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        discard_upload()
        raise DatasetImportError(f"{Path(str(path_or_file)).name or 'The file'} could not be read as a dataset: "
                                 f"{exc}") from exc

    kind = kind or (Dataset.Kind.AUDIT if data.attributes else Dataset.Kind.TRAINING)
    problems = _validate_dataset(data, kind=kind, skip_invalid=skip_invalid)
    if problems:
        discard_upload()
        hint = " Fix the set, or import it skipping those files." if (data.skipped_labels or data.unreadable) else ""
        raise DatasetImportError("Dataset refused: " + "; ".join(problems) + "." + hint)

    existing = Dataset.objects.filter(name=name).first()
    if existing is not None:
        discard_upload()
        if existing.content_hash == data.content_hash and existing.kind == kind:
            return existing
        raise DatasetImportError(f"A dataset named {name!r} already exists with different content or kind; "
                                 "choose another name")

    summary = _dataset_summary(data)
    return Dataset.objects.create(
        name=name, kind=kind, file=stored_name, source_path="" if stored_name else str(local),
        status=Dataset.Status.READY, format=_detect_format(local, data), content_hash=data.content_hash,
        skipped_labels=dict(data.skipped_labels), unreadable_files=list(data.unreadable),
        samples=_samples(data), created_by=created_by, **summary,
    )


def dataset_delete(*, dataset: Dataset) -> None:
    if dataset.training_runs.exists():
        raise JobRefused(f"Dataset {dataset.name} was used by training runs; it is kept for their record")
    if dataset.file:
        dataset.file.delete(save=False)
    dataset.delete()
